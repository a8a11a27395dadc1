/**
 * Prometheus metrics of one `serve` instance (PRODUCT.md §6). Counters and histograms count what
 * this instance did; gauges about the reports themselves are read from the database at scrape
 * time, so every instance shows the same values and alert rules aggregate with max by (report).
 * Names: ops/prometheus/metric-names.json (the alert rules are tested against them).
 */
import type pg from 'pg';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { lastCaptures, lastSuccesses, wasSubmitted } from '../adapters/postgres/sql/monitoring.js';
import type { RunObserver } from '../app/observer.js';
import type { ReportConfig } from '../config/schema.js';
import type { Step } from '../core/events.js';
import type { ReportHistory } from '../ports.js';
import { newestDeadline } from './due-dates.js';
import { createLiveness, type Liveness } from './liveness.js';
import { missingDatesOf } from './missing-dates.js';

const STEP_OF_STATUS: Record<string, Step> = {
  ROWS_CREATED: 'rows',
  REPORT_SUBMITTED: 'submit',
  REPORT_ARCHIVED: 'archive',
};

export interface ServiceMetrics {
  registry: Registry;
  observer: RunObserver;
  /** What /healthz judges by: the scheduler timer's beats and the progress of running steps. */
  liveness: Liveness;
  /** Records a beat of the scheduler timer at `at` (ms since the epoch; default now). */
  heartbeat(at?: number): void;
}

export function createMetrics(options: {
  pool: pg.Pool;
  reports: readonly ReportConfig[];
  /** Database time (the clock that decides due dates); default the host clock. */
  now?: () => Date;
  /** Last measured host-minus-database clock skew, seconds; null before the first reading. */
  clockSkewSeconds?: () => number | null;
  /** For eod_report_missing_dates; without it the gauge is not exported. */
  history?: ReportHistory;
  /** Default: monitoring.livenessStaleAfter's default, 90 s. */
  liveness?: Liveness;
}): ServiceMetrics {
  const now = options.now ?? (() => new Date());
  const reportNames = options.reports.map((r) => r.name);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const running = new Map<string, { report: string; step: Step; since: number }>();

  const duration = new Histogram({
    name: 'eod_report_step_duration_seconds',
    help: 'Duration of step attempts made by this instance.',
    labelNames: ['report', 'step', 'outcome'],
    buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
    registers: [registry],
  });
  const failures = new Counter({
    name: 'eod_report_step_failures_total',
    help: 'Failed step attempts made by this instance.',
    labelNames: ['report', 'step'],
    registers: [registry],
  });
  // Series start at 0, so that the first failure is an increase Prometheus can see.
  for (const r of options.reports)
    for (const step of ['rows', 'submit', 'archive'] as const) failures.inc({ report: r.name, step }, 0);
  const acquisitions = new Counter({
    name: 'eod_report_lock_acquisitions_total',
    help: 'Report locks taken by this instance.',
    labelNames: ['report'],
    registers: [registry],
  });
  const contentions = new Counter({
    name: 'eod_report_lock_contentions_total',
    help: 'Attempts of this instance that found the report lock held elsewhere.',
    labelNames: ['report'],
    registers: [registry],
  });
  const liveness = options.liveness ?? createLiveness({ staleAfterMs: 90_000 });
  new Gauge({
    name: 'eod_report_scheduler_heartbeat_timestamp_seconds',
    help: 'Last beat of the scheduler timer of this instance (unix time); it beats while steps run.',
    registers: [registry],
    collect() {
      this.set(liveness.lastBeatSeconds());
    },
  });
  new Gauge({
    name: 'eod_report_scheduler_stalled',
    help: '1 when the scheduler timer of this instance did not beat for monitoring.livenessStaleAfter.',
    registers: [registry],
    collect() {
      this.set(liveness.verdict().scheduler.stalled ? 1 : 0);
    },
  });
  new Gauge({
    name: 'eod_report_step_idle_seconds',
    help: 'Seconds since the step running on this instance last made progress (bytes moved, lease renewed).',
    labelNames: ['report', 'step'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of liveness.verdict().steps) this.set({ report: s.report, step: s.step }, s.idleSeconds);
    },
  });
  new Gauge({
    name: 'eod_report_step_running_seconds',
    help: 'How long the step now running on this instance has been running.',
    labelNames: ['report', 'step'],
    registers: [registry],
    collect() {
      this.reset();
      for (const r of running.values())
        this.set({ report: r.report, step: r.step }, (performance.now() - r.since) / 1000);
    },
  });
  new Gauge({
    name: 'eod_report_step_slow_threshold_seconds',
    help: 'Configured slowStepAfter of each report.',
    labelNames: ['report'],
    registers: [registry],
    collect() {
      for (const r of options.reports) this.set({ report: r.name }, r.slowStepAfter / 1000);
    },
  });
  new Gauge({
    name: 'eod_report_last_success_timestamp_seconds',
    help: 'Newest success of each step (unix time), from the database.',
    labelNames: ['report', 'step'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of await lastSuccesses(options.pool, reportNames)) {
        const step = STEP_OF_STATUS[row.status];
        if (step) this.set({ report: row.report, step }, row.at.getTime() / 1000);
      }
    },
  });
  // Each gauge fills itself in its own collect() (prom-client serialises gauges one by one, so a
  // gauge filled from another's collect() would be printed before it is filled); the reads they
  // share are made once per scrape.
  const captures = oncePerScrape(() => lastCaptures(options.pool, reportNames));
  for (const [name, help, field] of [
    ['eod_report_last_rows', 'Rows of the newest captured date, from the database.', 'rows'],
    ['eod_report_last_bytes', 'Bytes of the newest captured date, from the database.', 'bytes'],
  ] as const) {
    new Gauge({
      name,
      help,
      labelNames: ['report'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const c of await captures()) this.set({ report: c.report }, c[field]);
      },
    });
  }

  const deadlines = oncePerScrape(async () => {
    const at = now();
    const out: { report: string; deadline: Date; late: boolean }[] = [];
    for (const report of options.reports) {
      const due = newestDeadline(report, at);
      if (!due) continue;
      const { date, deadline } = due;
      const submitted = at > deadline ? await wasSubmitted(options.pool, report.name, date) : false;
      out.push({ report: report.name, deadline, late: at > deadline && !submitted });
    }
    return out;
  });
  new Gauge({
    name: 'eod_report_deadline_timestamp_seconds',
    help: 'Submission deadline of the newest due date (unix time).',
    labelNames: ['report'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const d of await deadlines()) this.set({ report: d.report }, d.deadline.getTime() / 1000);
    },
  });
  new Gauge({
    name: 'eod_report_late',
    help: '1 when the newest due date passed its deadline without a submission.',
    labelNames: ['report'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const d of await deadlines()) this.set({ report: d.report }, d.late ? 1 : 0);
    },
  });

  const skew = options.clockSkewSeconds;
  if (skew) {
    new Gauge({
      name: 'eod_report_clock_skew_seconds',
      help: 'Host clock minus database clock, seconds (positive: host ahead), at the last reading.',
      registers: [registry],
      collect() {
        const seconds = skew();
        if (seconds !== null) this.set(seconds);
      },
    });
  }
  const history = options.history;
  if (history) {
    new Gauge({
      name: 'eod_report_missing_dates',
      help: 'Dates that left the catch-up window incomplete; serve will not run them (fill with run --date).',
      labelNames: ['report'],
      registers: [registry],
      async collect() {
        const at = now();
        const counts = await Promise.all(
          options.reports.map(async (r) => [r.name, (await missingDatesOf(history, r, at)).length] as const),
        );
        for (const [report, count] of counts) this.set({ report }, count);
      },
    });
  }

  const key = (report: string, step: Step) => `${report}\u0000${step}`;
  const observer: RunObserver = {
    stepStarted: (c) => {
      running.set(key(c.report, c.step), { report: c.report, step: c.step, since: performance.now() });
      liveness.observer.stepStarted(c);
    },
    stepSucceeded: (c, ms, facts) => {
      running.delete(key(c.report, c.step));
      duration.observe({ report: c.report, step: c.step, outcome: 'success' }, ms / 1000);
      liveness.observer.stepSucceeded(c, ms, facts);
    },
    stepFailed: (c, ms, error, willRetry) => {
      running.delete(key(c.report, c.step));
      duration.observe({ report: c.report, step: c.step, outcome: 'failure' }, ms / 1000);
      failures.inc({ report: c.report, step: c.step });
      liveness.observer.stepFailed(c, ms, error, willRetry);
    },
    lockAcquired: (report) => acquisitions.inc({ report }),
    lockContended: (report) => contentions.inc({ report }),
    progressed: (report) => liveness.observer.progressed?.(report),
  };

  return { registry, observer, liveness, heartbeat: (at) => liveness.beat(at) };
}

/** Shares one read between the gauges of a scrape: the result is reused for a second. */
function oncePerScrape<T>(read: () => Promise<T>): () => Promise<T> {
  let cached: { at: number; value: Promise<T> } | undefined;
  return () => {
    const at = performance.now();
    if (!cached || at - cached.at > 1000) {
      const value = read();
      cached = { at, value };
      // A failed read must not be served to the next scrape.
      value.catch(() => {
        if (cached?.value === value) cached = undefined;
      });
    }
    return cached.value;
  };
}
