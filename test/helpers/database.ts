import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import '../harness/provided.js';

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/**
 * A fresh, empty database on the shared test server, so test files can run in parallel without
 * seeing each other's rows. The name is the label reduced to [a-z0-9_] plus a random suffix.
 * `adminUrl`: another server (e.g. a test's own, to restart it); default the shared one.
 */
export async function createTestDatabase(
  label: string,
  adminUrl: string = inject('pgAdminUrl'),
): Promise<TestDatabase> {
  const stem = label
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/^[^a-z]+/, '')
    .slice(0, 40)
    .replace(/_+$/, '');
  const name = `${stem || 'test'}_${randomBytes(6).toString('hex')}`;
  const identifier = `"${name}"`; // already restricted to [a-z0-9_], quoted for good measure

  await withAdmin(adminUrl, (admin) => admin.query(`CREATE DATABASE ${identifier}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;

  return {
    url: url.toString(),
    drop: () =>
      withAdmin(adminUrl, async (admin) => {
        // Pools of the code under test may still hold connections; FORCE (PostgreSQL 13+)
        // terminates them in the same step, so a reconnect cannot slip in between.
        await admin.query(`DROP DATABASE IF EXISTS ${identifier} WITH (FORCE)`);
      }),
  };
}

async function withAdmin<T>(adminUrl: string, work: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.end();
  }
}
