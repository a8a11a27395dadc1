/**
 * Row capture (PRODUCT.md §3 step 3): the query's result is snapshotted once into a table of its
 * own, in the same transaction as the ROWS_CREATED event, and every later render is a COPY of that
 * table under the settings recorded at capture. Any instance can therefore produce the same bytes,
 * and each render is checked against the size and SHA-256 recorded at capture.
 */
import { createHash } from 'node:crypto';
import { PassThrough, type Readable, Transform, type TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { EodError } from '../../core/errors.js';
import type { EventFacts } from '../../core/events.js';
import type { CaptureRequest, ReportContent, RowSource } from '../../ports.js';
import { appendFencedEvent } from './postgres-run-store.js';
import {
  applyRenderSettings,
  liftStatementTimeouts,
  type RenderSettings,
  renderSettings,
} from './render-settings.js';
import {
  type CapturedTable,
  capturedTableFor,
  createCapturedRows,
  DEFAULT_ROWS_SCHEMA,
  dropCapturedRows,
  renderCopySql,
} from './sql/captured-rows.js';
import { listEvents } from './sql/events.js';
import { captureDroppedAt, markCaptureDropped } from './sql/retention.js';
import { rowsSchemaFor } from './sql/rows-schema.js';

interface CaptureFacts extends EventFacts {
  rows: number;
  bytes: number;
  sha256: string;
  /** Header names, in order. */
  columns: string[];
  /** Positional names the columns are stored under; absent in captures made before them. */
  storedColumns?: string[];
  /** Where the rows are; absent in captures made before it was recorded (the default schema). */
  table?: CapturedTable;
  settings: RenderSettings;
}

export interface RowSourceOptions {
  /** database.rowsSchema: where new captures go; default: see rowsSchemaFor. */
  rowsSchema?: string | undefined;
}

export class PostgresRowSource implements RowSource {
  constructor(
    private readonly pool: pg.Pool,
    private readonly instanceId: string,
    private readonly failpoint: (name: string) => Promise<void> | void = () => undefined,
    private readonly options: RowSourceOptions = {},
  ) {}

  async capture(request: CaptureRequest) {
    const started = performance.now();
    const client = await this.pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      const settings = renderSettings(request.timezone);
      await applyRenderSettings(client, settings);
      const schema = await rowsSchemaFor(client, this.options.rowsSchema);
      const table = capturedTableFor(schema, request.processId);
      const { columns, storedColumns } = await createCapturedRows(client, table, request.query, request.date);
      const measured = { bytes: 0, rows: 0 };
      const hash = createHash('sha256');
      const copy = client.query(copyTo(renderCopySql(table, columns, storedColumns)));
      await pipeline(
        copy,
        new Writable({
          write(chunk: Buffer, _encoding, callback) {
            measured.bytes += chunk.length;
            hash.update(chunk);
            request.onBytes?.(measured.bytes);
            callback();
          },
        }),
        { signal: request.signal },
      );
      measured.rows = copy.rowCount;
      const facts: CaptureFacts = {
        ...request.facts,
        ...measured,
        sha256: hash.digest('hex'),
        columns,
        storedColumns,
        table,
        settings,
        durationMs: Math.round(performance.now() - started),
      };
      await this.failpoint('rows.before-commit');
      const event = await appendFencedEvent(
        client,
        this.instanceId,
        request.processId,
        { status: 'ROWS_CREATED', facts },
        request.fence,
      );
      await client.query('COMMIT');
      return { rows: facts.rows, bytes: facts.bytes, sha256: facts.sha256, event };
    } catch (error) {
      broken = true;
      throw error;
    } finally {
      if (broken) {
        await client.query('ROLLBACK').catch(() => undefined);
        // A COPY interrupted half-way leaves the connection in an unknown protocol state.
        client.release(true);
      } else {
        client.release();
      }
    }
  }

  async dropCapture(processId: string): Promise<boolean> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const marked = await markCaptureDropped(client, processId);
      if (marked) {
        const captured = (await listEvents(client, [processId])).find((e) => e.status === 'ROWS_CREATED');
        const table = (captured?.facts as CaptureFacts | undefined)?.table;
        await dropCapturedRows(client, table ?? capturedTableFor(DEFAULT_ROWS_SCHEMA, processId));
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

  async content(processId: string): Promise<ReportContent> {
    const events = await listEvents(this.pool, [processId]);
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
    const facts = captured.facts as CaptureFacts;
    const pool = this.pool;
    return {
      rows: facts.rows,
      bytes: facts.bytes,
      sha256: facts.sha256,
      open: () => renderCaptured(pool, processId, facts),
    };
  }
}

function renderCaptured(pool: pg.Pool, processId: string, facts: CaptureFacts): Readable {
  const out = new PassThrough({ highWaterMark: 1024 * 1024 });
  const verify = new VerifyContent(facts.bytes, facts.sha256, processId);
  void (async () => {
    const client = await pool.connect();
    let ok = false;
    try {
      await client.query('BEGIN READ ONLY');
      await applyRenderSettings(client, facts.settings);
      await liftStatementTimeouts(client);
      const table = facts.table ?? capturedTableFor(DEFAULT_ROWS_SCHEMA, processId);
      const sql = renderCopySql(table, facts.columns, facts.storedColumns);
      await pipeline(client.query(copyTo(sql)), verify, out);
      await client.query('COMMIT');
      ok = true;
    } finally {
      client.release(!ok);
    }
  })().catch((error: unknown) => out.destroy(error as Error));
  return out;
}

/** Passes bytes through; fails the stream at the end if they are not the captured ones. */
class VerifyContent extends Transform {
  private readonly hash = createHash('sha256');
  private seen = 0;

  constructor(
    private readonly bytes: number,
    private readonly sha256: string,
    private readonly processId: string,
  ) {
    super();
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
          `rendering of process ${this.processId} gave ${this.seen} bytes sha256 ${sha256}, captured ${this.bytes} bytes sha256 ${this.sha256}`,
          { processId: this.processId },
        ),
      );
      return;
    }
    callback();
  }
}
