/**
 * Row capture (PRODUCT.md §3 step 3): the report query is rendered once with
 * `COPY (query) TO STDOUT (FORMAT csv, HEADER)` under the fixed settings, hashed as it streams,
 * and the rendered bytes themselves are stored in chunks (sql/captured-content.ts) in the same
 * transaction as the ROWS_CREATED event. Every later read streams those bytes back and is checked
 * against the size and SHA-256 recorded at capture; nothing is rendered twice.
 *
 * Processes captured before migration 0010 (a row snapshot table per process, facts with
 * `columns`) are still read by rendering their snapshot, see legacy-snapshot.ts.
 */
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { EodError } from '../../core/errors.js';
import type { EventFacts } from '../../core/events.js';
import type { CaptureRequest, ReportContent, RowSource } from '../../ports.js';
import { copyOut } from './copy-out.js';
import { databaseError, withDatabase } from './db-errors.js';
import { type LegacySnapshotFacts, renderLegacySnapshot } from './legacy-snapshot.js';
import { appendFencedEvent } from './postgres-run-store.js';
import {
  applyRenderSettings,
  boundLockWaits,
  liftStatementTimeouts,
  type RenderSettings,
  renderSettings,
} from './render-settings.js';
import {
  CHUNK_BYTES,
  ChunkTuples,
  copyChunksIn,
  copyChunksOut,
  countChunks,
  deleteChunks,
} from './sql/captured-content.js';
import {
  capturedRowCount,
  capturedTableFor,
  DEFAULT_ROWS_SCHEMA,
  dropCapturedRows,
  qualifiedName,
  restoreStatementTimeout,
} from './sql/captured-rows.js';
import { listEvents } from './sql/events.js';
import { reportCopySql } from './sql/report-query.js';
import { captureDroppedAt, markCaptureDropped } from './sql/retention.js';

/** How the bytes of a capture are stored; absent in captures of earlier versions. */
export interface StoredContent {
  chunks: number;
  chunkBytes: number;
}

interface CaptureFacts extends EventFacts {
  rows: number;
  bytes: number;
  sha256: string;
  settings: RenderSettings;
  content?: StoredContent;
}

/** Chunks per read statement (16 MB): a short statement however slow the consumer. */
const CHUNKS_PER_READ = 2000;

export interface RowSourceOptions {
  /**
   * database.rowsSchema: where captures before migration 0010 put their row snapshots. New
   * captures need no table of their own; snapshots are found through the name recorded with
   * ROWS_CREATED, so this is kept only so that existing configs still load.
   */
  rowsSchema?: string | undefined;
}

export class PostgresRowSource implements RowSource {
  constructor(
    private readonly pool: pg.Pool,
    private readonly instanceId: string,
    private readonly failpoint: (name: string) => Promise<void> | void = () => undefined,
    readonly options: RowSourceOptions = {},
  ) {}

  async capture(request: CaptureRequest) {
    const started = performance.now();
    // Two connections: one renders (COPY TO), the other stores (COPY FROM) and records the
    // event; a connection cannot run both COPYs at once.
    const doing = `capturing rows of process ${request.processId}`;
    const render = await withDatabase(doing, () => this.pool.connect());
    let store: pg.PoolClient | undefined;
    let broken = false;
    try {
      store = await this.pool.connect();
      const settings = renderSettings(request.timezone);
      // Both transactions last as long as the slowest consumer of the render: a role's
      // statement or transaction timeout must not cut them (see liftStatementTimeouts).
      await store.query('BEGIN');
      await boundLockWaits(store);
      await liftStatementTimeouts(store);
      await render.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      await applyRenderSettings(render, settings);
      await liftStatementTimeouts(render);
      const copySql = await reportCopySql(render, request.query, request.date);
      const measure = new MeasureContent(request.onBytes);
      const chunker = new ChunkTuples(request.processId);
      const rendered = render.query(copyOut(copySql));
      const stored = copyChunksIn(store);
      const options = { signal: request.signal };
      if (request.tap) await pipeline(rendered, measure, request.tap, chunker, stored, options);
      else await pipeline(rendered, measure, chunker, stored, options);
      await render.query('COMMIT');
      const facts: CaptureFacts = {
        ...request.facts,
        rows: rendered.rowCount,
        bytes: measure.bytes,
        sha256: measure.digest(),
        settings,
        content: { chunks: chunker.chunks, chunkBytes: CHUNK_BYTES },
        durationMs: Math.round(performance.now() - started),
      };
      await this.failpoint('rows.before-commit');
      // The event write is a control statement again: database.statementTimeout applies.
      await restoreStatementTimeout(store);
      const event = await appendFencedEvent(
        store,
        this.instanceId,
        request.processId,
        { status: 'ROWS_CREATED', facts },
        request.fence,
      );
      await store.query('COMMIT');
      return { rows: facts.rows, bytes: facts.bytes, sha256: facts.sha256, event };
    } catch (error) {
      broken = true;
      throw databaseError(error, doing);
    } finally {
      // After a failure a COPY may still be in progress (paused by back-pressure): a ROLLBACK
      // would queue behind it forever. Closing the connection rolls back on the server.
      render.release(broken);
      store?.release(broken);
    }
  }

  async dropCapture(processId: string): Promise<boolean> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const marked = await markCaptureDropped(client, processId);
      if (marked) {
        const captured = (await listEvents(client, [processId])).find((e) => e.status === 'ROWS_CREATED');
        const facts = captured?.facts as (CaptureFacts & Partial<LegacySnapshotFacts>) | undefined;
        if (facts?.content) await deleteChunks(client, processId);
        else await dropCapturedRows(client, facts?.table ?? capturedTableFor(DEFAULT_ROWS_SCHEMA, processId));
      }
      await client.query('COMMIT');
      return marked;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /**
   * The captured content, after checking that it is all still stored (chunk count, or the row
   * count of a legacy snapshot table), so a caller can rely on it before creating anything remote.
   * Throws EodError SNAPSHOT_MISSING (permanent) when it was dropped or deleted by hand,
   * DATABASE_UNAVAILABLE when the database cannot be reached.
   */
  async content(processId: string): Promise<ReportContent> {
    const doing = `reading the captured content of process ${processId}`;
    const events = await withDatabase(doing, () => listEvents(this.pool, [processId]));
    const captured = events.find((e) => e.status === 'ROWS_CREATED');
    if (!captured) throw new Error(`process ${processId} has no captured rows (ROWS_CREATED missing)`);
    const dropped = await captureDroppedAt(this.pool, processId);
    if (dropped) {
      throw new EodError(
        'STEP_FAILED',
        `the captured rows of process ${processId} were dropped at ${dropped.toISOString()} (retention.capturedDays); the archived object holds the bytes (eod-report verify)`,
        { processId },
      );
    }
    const facts = captured.facts as CaptureFacts & Partial<LegacySnapshotFacts>;
    await withDatabase(doing, () => this.assertStillStored(processId, facts));
    const pool = this.pool;
    const stored = facts.content;
    return {
      rows: facts.rows,
      bytes: facts.bytes,
      sha256: facts.sha256,
      // VerifyContent fails the stream at its end unless size and hash are the captured ones.
      selfVerifying: true,
      open: () => {
        const verify = new VerifyContent(facts.bytes, facts.sha256, processId);
        if (stored) {
          pipeline(readChunks(pool, processId, stored), verify).catch((error: unknown) =>
            verify.destroy(error as Error),
          );
          return verify;
        }
        return renderLegacySnapshot(pool, processId, facts as LegacySnapshotFacts, verify);
      },
    };
  }

  /** SNAPSHOT_MISSING unless every stored chunk (or legacy snapshot row) is still there. */
  private async assertStillStored(
    processId: string,
    facts: CaptureFacts & Partial<LegacySnapshotFacts>,
  ): Promise<void> {
    let where: string;
    let expected: number;
    let present: number | null;
    if (facts.content) {
      where = `end_of_day_reporting_content (process_id ${processId})`;
      expected = facts.content.chunks;
      present = await countChunks(this.pool, processId);
    } else {
      const table = facts.table ?? capturedTableFor(DEFAULT_ROWS_SCHEMA, processId);
      where = qualifiedName(table);
      expected = facts.rows;
      present = await capturedRowCount(this.pool, table);
    }
    if (present === expected) return;
    throw new EodError(
      'SNAPSHOT_MISSING',
      `the captured rows of process ${processId} are gone: ${where} ${
        present === null
          ? 'does not exist'
          : `holds ${present} of the ${expected} ${facts.content ? 'chunks' : 'rows'} captured`
      } (dropped or deleted by hand?). The day cannot be produced again byte-identically, so nothing was sent. ` +
        `To continue it, restore them from a backup (file sha256 ${facts.sha256}, ${facts.bytes} bytes) and run again; ` +
        'never re-capture a day that may have been submitted.',
      { processId, where, expected, present, sha256: facts.sha256 },
    );
  }
}

/**
 * The stored chunks in order, one short read statement per batch, pulled only as fast as the
 * consumer reads (back-pressure through the async generator).
 */
async function* readChunks(pool: pg.Pool, processId: string, stored: StoredContent): AsyncGenerator<Buffer> {
  const client = await pool.connect();
  let ok = false;
  try {
    for (let from = 0; from < stored.chunks; from += CHUNKS_PER_READ) {
      const to = Math.min(stored.chunks, from + CHUNKS_PER_READ);
      await client.query('BEGIN READ ONLY');
      await liftStatementTimeouts(client);
      const batch = await copyChunksOut(client, processId, from, to);
      for await (const piece of batch.stream) yield piece as Buffer;
      await client.query('COMMIT');
      if (batch.chunksSeen() !== to - from) {
        throw new EodError(
          'CONTENT_MISMATCH',
          `captured content of process ${processId} is incomplete: chunks ${from}..${to - 1} gave ${batch.chunksSeen()} of ${to - from}; the stored report was altered or removed`,
          { processId, from, to, seen: batch.chunksSeen() },
        );
      }
    }
    ok = true;
  } finally {
    // Stopped early (consumer gone, error): the batch's COPY may be paused mid-stream, so the
    // connection is closed rather than rolled back (a ROLLBACK would queue behind the COPY).
    client.release(!ok);
  }
}

/** Counts and hashes the bytes passing through, reporting the count as it grows. */
class MeasureContent extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;

  constructor(private readonly onBytes?: (bytes: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    this.onBytes?.(this.bytes);
    callback(null, chunk);
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

/** Passes bytes through; fails the stream at the end if they are not the captured ones. */
export class VerifyContent extends Transform {
  private readonly hash = createHash('sha256');
  private seen = 0;

  constructor(
    private readonly bytes: number,
    private readonly sha256: string,
    private readonly processId: string,
  ) {
    super({ readableHighWaterMark: 1024 * 1024 });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.seen += chunk.length;
    this.hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const sha256 = this.hash.digest('hex');
    if (this.seen !== this.bytes || sha256 !== this.sha256) {
      callback(
        new EodError(
          'CONTENT_MISMATCH',
          `content of process ${this.processId} read as ${this.seen} bytes sha256 ${sha256}, captured ${this.bytes} bytes sha256 ${this.sha256}`,
          { processId: this.processId },
        ),
      );
      return;
    }
    callback();
  }
}
