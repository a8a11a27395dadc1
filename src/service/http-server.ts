/** The HTTP side of `serve`: /metrics, /healthz, /api/runs and the status page at /. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { ReportConfig } from '../config/schema.js';
import { coerceError, EodError } from '../core/errors.js';
import type { ReportHistory } from '../ports.js';
import { loadReportViews } from './dashboard-load.js';
import type { ServiceMetrics } from './metrics.js';
import { runsJson } from './runs-json.js';
import { renderStatusPage } from './status-page.js';

export interface HttpOptions {
  host: string;
  port: number;
  pool: pg.Pool;
  reports: readonly ReportConfig[];
  metrics: ServiceMetrics;
  instanceId: string;
  statusDays: number;
  logger: Logger;
  /** Database time: which dates are due and late. */
  now: () => Date;
  /** For the missing dates on the page and in /api/runs. */
  history?: ReportHistory;
}

export async function startHttpServer(
  options: HttpOptions,
): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const viewsAt = (now: Date) =>
    loadReportViews(options.pool, options.reports, now, options.statusDays, options.history);
  const routes: Record<string, (res: ServerResponse) => Promise<void>> = {
    '/metrics': async (res) => {
      const body = await options.metrics.registry.metrics();
      reply(res, 200, options.metrics.registry.contentType, body);
    },
    '/healthz': async (res) => {
      const problems: string[] = [];
      try {
        await options.pool.query({ text: 'SELECT 1', query_timeout: 3000 } as pg.QueryConfig);
      } catch (error) {
        problems.push(`database unreachable: ${coerceError(error).message}`);
      }
      // Liveness by progress (liveness.ts): a long step that moves bytes keeps the instance alive.
      const life = options.metrics.liveness.verdict();
      problems.push(...life.problems);
      const body = JSON.stringify({
        status: problems.length === 0 ? 'ok' : 'unhealthy',
        instance: options.instanceId,
        problems,
        warnings: life.warnings,
        scheduler: life.scheduler,
        steps: life.steps,
      });
      reply(res, problems.length === 0 ? 200 : 503, 'application/json', body);
    },
    '/api/runs': async (res) => {
      const now = options.now();
      const views = await viewsAt(now);
      reply(res, 200, 'application/json', JSON.stringify(runsJson(views, now)));
    },
    '/': async (res) => {
      const now = options.now();
      const views = await viewsAt(now);
      reply(
        res,
        200,
        'text/html; charset=utf-8',
        renderStatusPage(views, { now, instanceId: options.instanceId }),
      );
    },
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const route = routes[path];
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return reply(res, 405, 'text/plain', 'method not allowed\n');
    if (!route) return reply(res, 404, 'text/plain', 'not found\n');
    route(res).catch((error: unknown) => {
      options.logger.error({ err: coerceError(error), path }, `HTTP ${path} failed`);
      if (!res.headersSent) reply(res, 500, 'text/plain', 'internal error\n');
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(listenError(error, options.host, options.port)));
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    server,
    url: `http://${address.address}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function reply(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(body);
}

/**
 * A listen failure as the config problem it is, naming the key, the value and what was expected
 * (exit 2), rather than Node's `listen EADDRINUSE`. Other errors pass through unchanged.
 */
function listenError(error: Error & { code?: string }, host: string, port: number): Error {
  const where = `${host}:${port}`;
  switch (error.code) {
    case 'EADDRINUSE':
      return new EodError(
        'CONFIG_INVALID',
        `monitoring.port: ${where} is already in use (EADDRINUSE); expected a free port: give each eod-report serve on this host its own monitoring.port (0 takes any free port)`,
        { host, port },
        { cause: error },
      );
    case 'EACCES':
      return new EodError(
        'CONFIG_INVALID',
        `monitoring.port: ${where} needs privileges to listen on (EACCES); expected a port from 1024 up, or run with the capability to bind it`,
        { host, port },
        { cause: error },
      );
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new EodError(
        'CONFIG_INVALID',
        `monitoring.host: "${host}" is not an address of this host (${error.code}); expected 127.0.0.1, 0.0.0.0 or an address of one of its interfaces`,
        { host, port },
        { cause: error },
      );
    default:
      return error;
  }
}
