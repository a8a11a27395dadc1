import { assertSchemaCurrent } from '../../adapters/postgres/migrate.js';
import { createPool } from '../../adapters/postgres/pool.js';
import { listEvents } from '../../adapters/postgres/sql/events.js';
import { listJournal } from '../../adapters/postgres/sql/journal.js';
import { listProcesses } from '../../adapters/postgres/sql/processes.js';
import { databaseUrlOf } from '../../app/wiring.js';
import { formatDuration } from '../../core/duration.js';
import { EXIT } from '../../core/errors.js';
import type { RunEvent } from '../../core/events.js';
import { type DecidedNames, describeNames, type JournalEntry } from '../../core/journal.js';
import { summarizeProcess } from '../../core/timeline.js';
import { type GlobalOptions, loadFor } from '../context.js';
import { type Io, println } from '../io.js';
import { checkDateOption, selectReports } from './run.js';

export interface StatusOptions extends GlobalOptions {
  report?: string;
  date?: string;
  json?: boolean;
  /** 1 to 1000, checked by the option parser. */
  limit?: number;
}

export async function statusCommand(io: Io, options: StatusOptions): Promise<number> {
  const date = checkDateOption(options.date);
  const loaded = await loadFor(io, options);
  if (options.report !== undefined) selectReports(loaded.config.reports, options.report);
  const pool = createPool(databaseUrlOf(loaded.config), { max: 1, applicationName: 'eod-report status' });
  try {
    // Before any query: a database without our tables gets "run migrate", not a raw SQL error.
    const client = await pool.connect();
    try {
      await assertSchemaCurrent(client);
    } finally {
      client.release();
    }
    const processes = await listProcesses(pool, {
      report: options.report,
      date,
      limit: options.limit ?? 20,
    });
    const events = await listEvents(
      pool,
      processes.map((p) => p.processId),
    );
    const journal = await listJournal(
      pool,
      processes.map((p) => p.processId),
    );
    const timelines = processes.map((p) => {
      const own = events.filter((e) => e.processId === p.processId);
      const notes = journal.filter((j) => j.processId === p.processId);
      return { ...p, summary: summarizeProcess(own, notes), events: own, journal: notes };
    });
    if (options.json) {
      println(io.stdout, JSON.stringify(timelines, null, 2));
      return EXIT.OK;
    }
    if (timelines.length === 0) println(io.stdout, 'no process recorded for that selection');
    for (const t of timelines) {
      println(
        io.stdout,
        `${t.report} ${t.date}  process ${t.processId}  ${t.summary.state.toUpperCase()}${t.summary.next ? ` (next: ${t.summary.next})` : ''}`,
      );
      if (t.summary.uncertain) {
        println(
          io.stdout,
          `  SUBMISSION_UNCERTAIN: ${t.summary.uncertain}; settle with: eod-report resolve --report ${t.report} --date ${t.date} --submitted|--not-submitted --reason "..."`,
        );
      }
      for (const e of t.events) println(io.stdout, `  ${formatEvent(e)}`);
      for (const j of t.journal) println(io.stdout, `  ${formatJournal(j)}`);
      println(io.stdout);
    }
    return EXIT.OK;
  } finally {
    await pool.end();
  }
}

function formatJournal(j: JournalEntry): string {
  const when = j.createdAt.toISOString().replace('T', ' ');
  const f = j.facts;
  const what =
    j.kind === 'names'
      ? describeNames(f as unknown as DecidedNames)
      : j.kind === 'resolved'
        ? `${f.submitted ? 'submitted' : 'not submitted'} by ${f.osUser} (${f.instance}): ${f.reason}`
        : j.kind === 'submission-uncertain'
          ? String(f.why ?? '')
          : [f.temporaryPath, f.finalPath ?? f.key].filter(Boolean).join(' -> ');
  return [when, `journal ${j.kind}`.padEnd(26), j.instanceId, what].join('  ').trimEnd();
}

function formatEvent(e: RunEvent): string {
  const f = e.facts;
  const when = e.createdAt.toISOString().replace('T', ' ');
  const took = typeof f.durationMs === 'number' ? formatDuration(f.durationMs).padStart(8) : ''.padStart(8);
  const attempt = typeof f.attempt === 'number' ? `attempt ${f.attempt}` : '';
  const proof: string[] = [];
  if (f.rows !== undefined) proof.push(`rows ${f.rows}`);
  if (f.bytes !== undefined) proof.push(`bytes ${f.bytes}`);
  if (f.sha256) proof.push(`sha256 ${f.sha256}`);
  if (f.remotePath) proof.push(`sftp ${f.host ?? ''}${f.remotePath}`);
  if (f.bucket) proof.push(`s3://${f.bucket}/${f.key}${f.versionId ? ` version ${f.versionId}` : ''}`);
  if (f.alreadyPresent) proof.push('(found already in place)');
  if (e.failureDetails) proof.push(`error: ${e.failureDetails}`);
  return [
    when,
    e.status.padEnd(26),
    took,
    (e.instanceId ?? '').padEnd(20),
    attempt.padEnd(10),
    proof.join(', '),
  ]
    .join('  ')
    .trimEnd();
}
