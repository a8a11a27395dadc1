import { pruneCaptures } from '../../app/prune.js';
import { EXIT } from '../../core/errors.js';
import { appFor, type GlobalOptions, loadFor, loggerFor } from '../context.js';
import { type Io, println } from '../io.js';

export interface PruneCommandOptions extends GlobalOptions {
  dryRun?: boolean;
}

/** Drops the captures of archived days older than retention.capturedDays; one line per day. */
export async function pruneCommand(
  io: Io,
  options: PruneCommandOptions,
  signal: AbortSignal,
): Promise<number> {
  const loaded = await loadFor(io, options);
  const app = await appFor(io, loaded, loggerFor(io, loaded));
  try {
    const capturedDays = loaded.config.retention.capturedDays;
    const days = await pruneCaptures({
      pool: app.pool,
      rows: app.deps.rows,
      capturedDays,
      dryRun: options.dryRun === true,
      signal,
    });
    const verb = options.dryRun ? 'would drop' : 'dropped';
    for (const d of days)
      println(io.stdout, `${d.report} ${d.date}: ${verb} the captured rows (process ${d.processId})`);
    println(
      io.stdout,
      `${verb} the captures of ${days.length} archived day(s) older than ${capturedDays} days (retention.capturedDays); events and proof are kept`,
    );
    return EXIT.OK;
  } finally {
    await app.close();
  }
}
