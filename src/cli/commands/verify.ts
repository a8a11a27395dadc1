import { createPool } from '../../adapters/postgres/pool.js';
import { processesBetween } from '../../adapters/postgres/sql/monitoring.js';
import { S3ReadBack } from '../../adapters/s3/s3-read-back.js';
import { SftpReadBack } from '../../adapters/sftp/read-back.js';
import { verifyDays } from '../../app/verify-days.js';
import { databaseUrlOf } from '../../app/wiring.js';
import { EodError, EXIT } from '../../core/errors.js';
import { type DayVerdict, dayJson, formatDay } from '../../core/verify.js';
import { type GlobalOptions, loadFor } from '../context.js';
import { type Io, println } from '../io.js';
import { checkDateOption, selectReports } from './run.js';

export interface VerifyCommandOptions extends GlobalOptions {
  report?: string;
  date?: string;
  since?: string;
  json?: boolean;
  archiveOnly?: boolean;
}

const LAST_DATE = '9999-12-31';

/**
 * Re-reads every copy of the chosen days and compares it with the recorded proof.
 * Exit 0 when every day is OK, 1 when any is not (mismatch, missing copy, incomplete, not
 * checkable), 2 on usage errors (EodError USAGE).
 */
export async function verifyCommand(
  io: Io,
  options: VerifyCommandOptions,
  signal: AbortSignal,
): Promise<number> {
  if ((options.date === undefined) === (options.since === undefined)) {
    throw new EodError(
      'USAGE',
      `verify needs exactly one of --date YYYY-MM-DD or --since YYYY-MM-DD (got ${options.date === undefined ? 'neither' : 'both'})`,
    );
  }
  const date = checkDateOption(options.date);
  const since = checkDateOption(options.since, '--since');
  const loaded = await loadFor(io, options);
  const reports = selectReports(loaded.config.reports, options.report);
  const pool = createPool(databaseUrlOf(loaded.config), { max: 1, applicationName: 'eod-report verify' });
  const verdicts: DayVerdict[] = [];
  try {
    for (const report of reports) {
      const from = date ?? (since as string);
      const processes = await processesBetween(pool, report.name, from, date ?? LAST_DATE);
      const days =
        date !== undefined && processes.length === 0
          ? [{ date, processId: null, events: [] }]
          : processes.map((p) => ({ date: p.date, processId: p.processId, events: p.events }));
      const readers = { archive: new S3ReadBack(report.s3), regulator: new SftpReadBack(report.sftp) };
      try {
        const own = await verifyDays(report, days, readers, {
          archiveOnly: options.archiveOnly === true,
          signal,
        });
        for (const v of own) if (!options.json) println(io.stdout, formatDay(v));
        verdicts.push(...own);
      } finally {
        readers.archive.destroy();
        await readers.regulator.close();
      }
    }
  } finally {
    await pool.end();
  }
  if (options.json) println(io.stdout, JSON.stringify(verdicts.map(dayJson), null, 2));
  else if (verdicts.length === 0) println(io.stdout, `no process recorded since ${since}; nothing to verify`);
  return verdicts.length > 0 && verdicts.every((v) => v.ok) ? EXIT.OK : EXIT.FAILED;
}
