/**
 * Reading a process captured before migration 0010 (a row snapshot table per process, see
 * sql/captured-rows.ts): its snapshot is rendered under the settings recorded at capture. New
 * captures store the rendered bytes instead and are never rendered twice.
 */
import type { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { applyRenderSettings, liftStatementTimeouts, type RenderSettings } from './render-settings.js';
import {
  type CapturedTable,
  capturedTableFor,
  DEFAULT_ROWS_SCHEMA,
  renderCopySql,
} from './sql/captured-rows.js';

export interface LegacySnapshotFacts {
  /** Header names, in order. */
  columns: string[];
  /** Positional names the columns are stored under; absent in the oldest captures. */
  storedColumns?: string[];
  /** Where the rows are; absent in captures made before it was recorded (the default schema). */
  table?: CapturedTable;
  settings: RenderSettings;
}

/** Renders the snapshot through `verify` (which checks size and hash) and returns `verify`. */
export function renderLegacySnapshot(
  pool: pg.Pool,
  processId: string,
  facts: LegacySnapshotFacts,
  verify: Transform,
): Readable {
  void (async () => {
    const client = await pool.connect();
    let ok = false;
    try {
      await client.query('BEGIN READ ONLY');
      await applyRenderSettings(client, facts.settings);
      await liftStatementTimeouts(client);
      const table = facts.table ?? capturedTableFor(DEFAULT_ROWS_SCHEMA, processId);
      const sql = renderCopySql(table, facts.columns, facts.storedColumns);
      await pipeline(client.query(copyTo(sql)), verify);
      await client.query('COMMIT');
      ok = true;
    } finally {
      client.release(!ok);
    }
  })().catch((error: unknown) => verify.destroy(error as Error));
  return verify;
}
