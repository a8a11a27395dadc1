/**
 * `serve`: the scheduler plus the HTTP endpoints, until SIGTERM/SIGINT. Shutdown: stop scheduling
 * at once, give a running step `serve.shutdownGrace` to finish, then interrupt it at its next safe
 * point (the lock is released, a half-uploaded `.part` is replaced by the next run), close the
 * HTTP server and the pool, exit 0.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { combineObservers } from '../../app/observer.js';
import { pruneDaily } from '../../app/prune.js';
import { EXIT } from '../../core/errors.js';
import { createAlertSender } from '../../service/alerts.js';
import { startHttpServer } from '../../service/http-server.js';
import { createLiveness } from '../../service/liveness.js';
import { createMetrics } from '../../service/metrics.js';
import { runScheduler } from '../../service/scheduler.js';
import { appFor, type GlobalOptions, loadFor, loggerFor } from '../context.js';
import { type Io, println } from '../io.js';

export async function serveCommand(io: Io, options: GlobalOptions, signal: AbortSignal): Promise<number> {
  const loaded = await loadFor(io, options);
  const { config } = loaded;
  const logger = loggerFor(io, loaded);
  const app = await appFor(io, loaded, logger);
  const { instanceId } = app;
  try {
    // Database time drives due dates; keep the reading fresh for as long as the service runs.
    app.clock.start();
    const now = () => app.clock.now();
    const staleAfterMs = config.monitoring.livenessStaleAfter;
    const metrics = createMetrics({
      liveness: createLiveness({ staleAfterMs }),
      pool: app.pool,
      reports: config.reports,
      now,
      clockSkewSeconds: () => app.clock.skew()?.seconds ?? null,
      history: app.history,
    });
    const alerts = createAlertSender({
      pool: app.pool,
      instanceId,
      logger,
      webhookUrl: config.monitoring.alertWebhookUrl,
      deadManSwitchUrl: config.monitoring.deadManSwitchUrl,
      reclaimAfterMs: config.monitoring.alertReclaimAfter,
      failpoint: app.deps.failpoint,
      stop: signal,
    });
    const http = await startHttpServer({
      host: config.monitoring.host,
      port: config.monitoring.port,
      pool: app.pool,
      reports: config.reports,
      metrics,
      instanceId,
      statusDays: config.serve.statusDays,
      logger,
      now,
      history: app.history,
    });
    logger.info(
      { event: 'serve.started', url: http.url, reports: config.reports.map((r) => r.name) },
      `serving on ${http.url}`,
    );
    println(io.stdout, `eod-report serve: instance ${instanceId}, status page ${http.url}/`);

    const interrupt = new AbortController();
    const scheduler = runScheduler({
      deps: { ...app.deps, observer: combineObservers(app.deps.observer, metrics.observer) },
      reports: config.reports,
      history: app.history,
      logger,
      alerts,
      heartbeat: metrics.heartbeat,
      // Three beats per livenessStaleAfter at least, so that one late beat is not a stall.
      monitorEveryMs: Math.min(10_000, Math.floor(staleAfterMs / 3)),
      retryFailed: {
        initialDelayMs: config.serve.retryFailedAfter,
        maxDelayMs: config.serve.retryFailedAtMost,
      },
      stop: signal,
      interrupt: interrupt.signal,
      concurrency: config.serve.concurrency,
    });
    const pruning = pruneDaily({
      pool: app.pool,
      rows: app.deps.rows,
      capturedDays: config.retention.capturedDays,
      clock: app.deps.clock,
      logger,
      stop: signal,
    });
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
    logger.info(
      { event: 'serve.stopping', graceMs: config.serve.shutdownGrace },
      'stopping: no new work is scheduled',
    );
    const grace = delay(config.serve.shutdownGrace, undefined, { ref: false }).then(() => {
      logger.warn(
        { event: 'serve.interrupting' },
        'shutdown grace over: interrupting the running step at a safe point',
      );
      interrupt.abort(new Error('interrupted: the service is shutting down'));
    });
    await Promise.race([scheduler, grace.then(() => scheduler)]);
    await pruning;
    await http.close();
    logger.info({ event: 'serve.stopped' }, 'stopped');
    return EXIT.OK;
  } finally {
    await app.close();
  }
}
