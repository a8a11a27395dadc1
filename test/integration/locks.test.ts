import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaseLock } from '../../src/adapters/lock/lease-lock.js';
import { TableLock } from '../../src/adapters/lock/table-lock.js';
import { PostgresRunStore } from '../../src/adapters/postgres/postgres-run-store.js';
import { isEodError } from '../../src/core/errors.js';
import { createFixture, type Fixture } from '../helpers/fixture.js';

function must<T>(value: T | null | undefined): T {
  if (value === null || value === undefined) throw new Error('expected a lock');
  return value;
}

describe('locks against PostgreSQL', () => {
  let fx: Fixture;
  beforeAll(async () => {
    fx = await createFixture('locks');
  });
  afterAll(async () => {
    await fx?.close();
  });

  const lease = (instanceId: string, over: Partial<ConstructorParameters<typeof LeaseLock>[1]> = {}) =>
    new LeaseLock(fx.pool, {
      instanceId,
      atMostForMs: 60_000,
      atLeastForMs: 0,
      renewEveryMs: 20_000,
      safetyMarginMs: 20_000,
      ...over,
    });

  it('lease: one holder at a time, per name, with a new fencing token on each acquisition', async () => {
    const a = await lease('a').tryAcquire('eod-report:one');
    expect(a).not.toBeNull();
    expect(await lease('b').tryAcquire('eod-report:one')).toBeNull();
    const other = await lease('b').tryAcquire('eod-report:two');
    expect(other).not.toBeNull();
    const { rows } = await fx.pool.query(
      `SELECT locked_by, lock_until > now() AS held FROM shedlock WHERE name = 'eod-report:one'`,
    );
    expect(rows).toEqual([{ locked_by: 'a', held: true }]);
    await a?.release();
    await other?.release();
    const again = await lease('b').tryAcquire('eod-report:one');
    expect(
      again?.fence.kind === 'lease' &&
        a?.fence.kind === 'lease' &&
        BigInt(again.fence.token) > BigInt(a.fence.token),
    ).toBe(true);
    await again?.release();
  });

  it('lease: lockAtLeastFor keeps the lock taken after release', async () => {
    const a = await lease('a', { atLeastForMs: 60_000 }).tryAcquire('eod-report:least');
    await a?.release();
    expect(await lease('b').tryAcquire('eod-report:least')).toBeNull();
  });

  it('lease: a lapsed holder is replaced, learns it lost the lock, and cannot write events', async () => {
    const stale = await lease('stale', { atMostForMs: 500, renewEveryMs: 60_000 }).tryAcquire(
      'eod-report:lapse',
    );
    expect(stale).not.toBeNull();
    await sleep(700);
    const fresh = await lease('fresh').tryAcquire('eod-report:lapse');
    expect(fresh).not.toBeNull();
    await expect(stale?.assertHeld()).rejects.toSatisfy((e: unknown) => isEodError(e, 'LEASE_LOST'));
    expect(stale?.lost.aborted).toBe(true);

    const store = new PostgresRunStore(fx.pool, 'stale');
    const process = await store.findOrCreateProcess('lapse', '2026-01-02');
    await expect(
      store.appendEvent(
        process.processId,
        { status: 'ROWS_CREATED' },
        stale?.fence ?? { kind: 'table', holderPid: 0 },
      ),
    ).rejects.toSatisfy((e: unknown) => isEodError(e, 'LEASE_LOST'));
    await new PostgresRunStore(fx.pool, 'fresh').appendEvent(
      process.processId,
      { status: 'STARTED' },
      must(fresh).fence,
    );
    const events = await store.listEvents(process.processId);
    expect(events.map((e) => [e.status, e.instanceId])).toEqual([['STARTED', 'fresh']]);
    await fresh?.release();
  });

  it('lease: renewal keeps a live holder in place past atMostFor', async () => {
    const held = await lease('live', { atMostForMs: 600, renewEveryMs: 150 }).tryAcquire('eod-report:renew');
    await sleep(1200);
    expect(await lease('other').tryAcquire('eod-report:renew')).toBeNull();
    await held?.assertHeld();
    expect(held?.lost.aborted).toBe(false);
    await held?.release();
  });

  it('lease: a second success event for a process is refused even with a valid lock', async () => {
    const held = await lease('a').tryAcquire('eod-report:dup');
    const store = new PostgresRunStore(fx.pool, 'a');
    const process = await store.findOrCreateProcess('dup', '2026-01-03');
    await store.appendEvent(process.processId, { status: 'ROWS_CREATED' }, must(held).fence);
    await expect(
      store.appendEvent(process.processId, { status: 'ROWS_CREATED' }, must(held).fence),
    ).rejects.toThrow(/already recorded/);
    await held?.release();
  });

  const table = (atMostForMs = 60_000, keepAliveEveryMs = 20_000, safetyMarginMs = 20_000) =>
    new TableLock({ url: fx.db.url, applicationName: 'test', atMostForMs, keepAliveEveryMs, safetyMarginMs });

  it('lease: fencing tokens never repeat, even after the shedlock row is deleted by hand', async () => {
    const first = must(await lease('a').tryAcquire('eod-report:deleted'));
    await first.release();
    const second = must(await lease('a').tryAcquire('eod-report:deleted'));
    await fx.pool.query(`DELETE FROM shedlock WHERE name = 'eod-report:deleted'`);
    const third = must(await lease('b').tryAcquire('eod-report:deleted'));
    const tokens = [first, second, third].map((h) => BigInt(h.token));
    expect(tokens[1]).toBeGreaterThan(tokens[0] as bigint);
    expect(tokens[2], 'the token after the row was deleted').toBeGreaterThan(tokens[1] as bigint);
    // The old holder's fence does not pass against the new row.
    const store = new PostgresRunStore(fx.pool, 'a');
    const process = await store.findOrCreateProcess('deleted', '2026-01-06');
    await expect(store.appendEvent(process.processId, { status: 'STARTED' }, second.fence)).rejects.toSatisfy(
      (e: unknown) => isEodError(e, 'LEASE_LOST'),
    );
    await store.appendEvent(process.processId, { status: 'STARTED' }, third.fence);
    await third.release();
    await second.release();
  });

  it('lease: renewBeforeAct extends lock_until in the database', async () => {
    const held = must(await lease('a', { atMostForMs: 60_000 }).tryAcquire('eod-report:renew-act'));
    await fx.pool.query(
      `UPDATE shedlock SET lock_until = now() + interval '5 seconds' WHERE name = 'eod-report:renew-act'`,
    );
    await held.renewBeforeAct();
    const { rows } = await fx.pool.query(
      `SELECT extract(epoch FROM lock_until - now()) AS left FROM shedlock WHERE name = 'eod-report:renew-act'`,
    );
    expect(Number(rows[0].left)).toBeGreaterThan(50);
    await held.release();
  });

  it('lease: renewBeforeAct refuses (LEASE_LOST) when less than the safety margin would be left', async () => {
    // A margin as long as the lease can never be met: the renewal's own round trip eats into it.
    const held = must(
      await lease('a', { atMostForMs: 5_000, safetyMarginMs: 5_000 }).tryAcquire('eod-report:margin'),
    );
    await expect(held.renewBeforeAct()).rejects.toSatisfy(
      (e: unknown) => isEodError(e, 'LEASE_LOST') && e.facts.safetyMarginMs === 5_000,
    );
    await held.release();
  });

  it('lease: renewBeforeAct of a replaced holder throws LEASE_LOST and does not renew', async () => {
    const stale = must(
      await lease('stale', { atMostForMs: 300, renewEveryMs: 60_000, safetyMarginMs: 100 }).tryAcquire(
        'eod-report:act-lapse',
      ),
    );
    await sleep(500);
    const fresh = must(await lease('fresh').tryAcquire('eod-report:act-lapse'));
    await expect(stale.renewBeforeAct()).rejects.toSatisfy((e: unknown) => isEodError(e, 'LEASE_LOST'));
    const { rows } = await fx.pool.query(
      `SELECT locked_by FROM shedlock WHERE name = 'eod-report:act-lapse'`,
    );
    expect(rows).toEqual([{ locked_by: 'fresh' }]);
    await fresh.release();
  });

  it('table: LOCK TABLE … NOWAIT admits one holder; status readers are not blocked', async () => {
    const before = await new PostgresRunStore(fx.pool, 'a').findOrCreateProcess('table-reader', '2026-01-05');
    const a = await table().tryAcquire('x');
    expect(a?.fence.kind).toBe('table');
    await a?.renewBeforeAct();
    expect(await table().tryAcquire('y')).toBeNull();
    // Readers of the process table are not blocked by the dedicated lock table: a blocked read
    // would hit lock_timeout and throw instead of returning the row.
    const reader = await fx.pool.connect();
    try {
      await reader.query("SET lock_timeout = '2s'");
      const { rows } = await reader.query(
        'SELECT process_id FROM end_of_day_reporting WHERE process_id = $1',
        [before.processId],
      );
      expect(rows.map((r) => String(r.process_id))).toEqual([String(before.processId)]);
    } finally {
      await reader.query('RESET lock_timeout');
      reader.release();
    }
    await a?.assertHeld();
    const store = new PostgresRunStore(fx.pool, 'a');
    const process = await store.findOrCreateProcess('table', '2026-01-04');
    await store.appendEvent(process.processId, { status: 'STARTED' }, must(a).fence);
    await a?.release();
    await expect(
      store.appendEvent(process.processId, { status: 'STARTED' }, must(a).fence),
    ).rejects.toSatisfy((e: unknown) => isEodError(e, 'LEASE_LOST'));
    const b = await table().tryAcquire('x');
    expect(b).not.toBeNull();
    expect(BigInt(must(b).token), 'each table acquisition has a new token').toBeGreaterThan(
      BigInt(must(a).token),
    );
    await b?.release();
  });

  it('table: a holder that stops sending keep-alives loses the lock after atMostFor', async () => {
    const stale = await table(600, 60_000).tryAcquire('x');
    expect(stale).not.toBeNull();
    await sleep(1000);
    const fresh = await table().tryAcquire('x');
    expect(fresh).not.toBeNull();
    await expect(stale?.assertHeld()).rejects.toSatisfy((e: unknown) => isEodError(e, 'LEASE_LOST'));
    await expect(stale?.renewBeforeAct()).rejects.toSatisfy((e: unknown) => isEodError(e, 'LEASE_LOST'));
    await fresh?.release();
    await stale?.release();
  });
});
