/**
 * The one place where adapters are built from the configuration and wired to the run. Nothing is
 * created at import; `createApp` builds, `close` tears down.
 */
import { hostname } from 'node:os';
import type pg from 'pg';
import type { Logger } from 'pino';
import { type ClockSkew, DatabaseClock } from '../adapters/clock/database-clock.js';
import { LeaseLock } from '../adapters/lock/lease-lock.js';
import { TableLock } from '../adapters/lock/table-lock.js';
import { createPool } from '../adapters/postgres/pool.js';
import { PostgresRowSource } from '../adapters/postgres/postgres-row-source.js';
import { PostgresRunStore } from '../adapters/postgres/postgres-run-store.js';
import { databaseNow } from '../adapters/postgres/sql/clock.js';
import { postgresReportHistory } from '../adapters/postgres/sql/history.js';
import { lazyS3Archive } from '../adapters/s3/lazy-archive.js';
import { SftpDelivery } from '../adapters/sftp/sftp-delivery.js';
import type { LoadedConfig } from '../config/load.js';
import type { Config, ReportConfig } from '../config/schema.js';
import type { Archive, Lock, ReportHistory } from '../ports.js';
import type { Failpoint } from './failpoints.js';
import { logObserver } from './log-observer.js';
import type { RunDependencies } from './run-report.js';

export interface App {
  config: Config;
  instanceId: string;
  pool: pg.Pool;
  logger: Logger;
  deps: RunDependencies;
  /** Database time; `appFor` syncs it before the app is used, `serve` keeps it refreshed. */
  clock: DatabaseClock;
  history: ReportHistory;
  close(): Promise<void>;
}

/** Host–database clock skew above this is logged as a warning. */
export const SKEW_WARN_SECONDS = 5;
const SKEW_REWARN_MS = 10 * 60_000;

/**
 * Logs the skew at each measurement: a warning when it passes SKEW_WARN_SECONDS (again every ten
 * minutes while it stays there), a note when it is back under.
 */
export function skewLogger(logger: Logger): (skew: ClockSkew) => void {
  let warnedAt: number | null = null;
  return (skew) => {
    const facts = {
      event: 'clock.skew',
      skewSeconds: Number(skew.seconds.toFixed(3)),
      roundTripMs: Math.round(skew.roundTripMs),
    };
    const now = skew.at.getTime();
    if (Math.abs(skew.seconds) > SKEW_WARN_SECONDS) {
      if (warnedAt === null || now - warnedAt >= SKEW_REWARN_MS) {
        warnedAt = now;
        logger.warn(
          facts,
          `host clock is ${Math.abs(skew.seconds).toFixed(1)} s ${skew.seconds > 0 ? 'ahead of' : 'behind'} the database clock; due dates and leases use database time, but fix the host's time sync (NTP)`,
        );
      }
    } else {
      if (warnedAt !== null) logger.info(facts, 'host clock is back within 5 s of the database clock');
      warnedAt = null;
      logger.debug(facts, 'clock skew measured');
    }
  };
}

/** Precedence: env EOD_INSTANCE_ID, then instance.id of the config, then host:pid. */
export function instanceIdOf(config: Config, env: NodeJS.ProcessEnv): string {
  return env.EOD_INSTANCE_ID || config.instance.id || `${hostname()}:${process.pid}`;
}

/** `lock.safetyMargin`, default a third of the lease (ms). */
export function safetyMarginOf(config: Config): number {
  return config.lock.safetyMargin ?? Math.floor(config.lock.atMostFor / 3);
}

export function databaseUrlOf(config: Config): string {
  const url = config.database.url;
  if (!url) throw new Error('database.url is not set');
  return url;
}

export function createApp(
  loaded: LoadedConfig,
  options: { logger: Logger; failpoint: Failpoint; instanceId: string; onePass?: boolean },
): App {
  const { config } = loaded;
  const { instanceId } = options;
  const url = databaseUrlOf(config);
  const pool = createPool(url, {
    max: config.database.poolSize,
    applicationName: `eod-report ${instanceId}`.slice(0, 63),
    statementTimeoutMs: config.database.statementTimeout,
  });
  const { logger, failpoint } = options;
  // Renew well before the lease lapses: three chances per lease.
  const renewEveryMs = config.lock.renewEvery ?? Math.max(1000, Math.floor(config.lock.atMostFor / 3));
  const safetyMarginMs = safetyMarginOf(config);

  const lock: Lock =
    config.lock.strategy === 'lease'
      ? new LeaseLock(pool, {
          instanceId,
          atMostForMs: config.lock.atMostFor,
          atLeastForMs: config.lock.atLeastFor,
          renewEveryMs,
          safetyMarginMs,
          onRenewError: (error) =>
            logger.warn({ err: error, event: 'lock.renew-failed' }, 'lock renewal failed'),
        })
      : new TableLock({
          url,
          applicationName: `eod-report lock ${instanceId}`.slice(0, 63),
          atMostForMs: config.lock.atMostFor,
          keepAliveEveryMs: renewEveryMs,
          safetyMarginMs,
        });

  const clock = new DatabaseClock({
    readDatabaseNow: () => databaseNow(pool),
    onMeasured: skewLogger(logger),
    onError: (error) =>
      logger.warn(
        { err: error, event: 'clock.read-failed' },
        'could not read the database clock; keeping the last reading',
      ),
  });

  const archives = new Map<string, Archive>();
  const deps: RunDependencies = {
    store: new PostgresRunStore(pool, instanceId),
    rows: new PostgresRowSource(pool, instanceId, failpoint, { rowsSchema: config.database.rowsSchema }),
    lock,
    clock,
    deliveryFor: (report: ReportConfig) =>
      new SftpDelivery(report.sftp, { failpoint, log: logger.child({ report: report.name }) }),
    archiveFor: (report: ReportConfig) => {
      let archive = archives.get(report.name);
      if (!archive) {
        // The AWS SDK loads at its first use, after the query started (not before the first SQL).
        archive = lazyS3Archive(report.s3, { failpoint });
        archives.set(report.name, archive);
      }
      return archive;
    },
    retry: {
      attempts: config.retry.attempts,
      initialDelayMs: config.retry.initialDelay,
      maxDelayMs: config.retry.maxDelay,
    },
    observer: logObserver(logger),
    failpoint,
    onePass: options.onePass ?? true,
  };

  return {
    config,
    instanceId,
    pool,
    logger,
    deps,
    clock,
    history: postgresReportHistory(pool),
    close: async () => {
      clock.stop();
      await pool.end();
    },
  };
}
