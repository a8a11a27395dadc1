import type { Logger } from 'pino';
import { migrate, readMigrations, schemaVersion } from '../adapters/postgres/migrate.js';
import { createPool } from '../adapters/postgres/pool.js';
import { failpointsFromEnv } from '../app/failpoints.js';
import { type App, createApp, databaseUrlOf, instanceIdOf } from '../app/wiring.js';
import { type LoadedConfig, loadConfig } from '../config/load.js';
import { EodError } from '../core/errors.js';
import { createLogger } from '../logging.js';
import type { Io } from './io.js';

export interface GlobalOptions {
  config?: string;
}

export async function loadFor(io: Io, options: GlobalOptions): Promise<LoadedConfig> {
  return loadConfig({ path: options.config, env: io.env });
}

export function loggerFor(io: Io, loaded: LoadedConfig): Logger {
  return createLogger({
    level: io.env.EOD_LOG_LEVEL ?? loaded.config.log.level,
    secrets: loaded.secrets,
    destination: io.stderr,
    base: { instance: instanceIdOf(loaded.config, io.env) },
  });
}

/** Builds the app after checking the database schema is the one this code knows. */
export async function appFor(io: Io, loaded: LoadedConfig, logger: Logger): Promise<App> {
  const app = createApp(loaded, {
    logger,
    instanceId: instanceIdOf(loaded.config, io.env),
    failpoint: failpointsFromEnv(io.env, (line) => io.stderr.write(line)),
  });
  try {
    await assertSchemaCurrent(app);
    return app;
  } catch (error) {
    await app.close();
    throw error;
  }
}

export async function assertSchemaCurrent(app: App): Promise<void> {
  const expected = (await readMigrations()).length;
  const client = await app.pool.connect();
  try {
    const actual = await schemaVersion(client);
    if (actual < expected) {
      throw new EodError(
        'USAGE',
        `database schema is at migration ${actual}, this eod-report needs ${expected}: run \`eod-report migrate\``,
      );
    }
    if (actual > expected) {
      throw new EodError(
        'SCHEMA_TOO_NEW',
        `database schema is at migration ${actual}, newer than this eod-report (${expected}): upgrade eod-report`,
      );
    }
  } finally {
    client.release();
  }
}

export async function runMigrations(loaded: LoadedConfig) {
  const pool = createPool(databaseUrlOf(loaded.config), { max: 1, applicationName: 'eod-report migrate' });
  try {
    const client = await pool.connect();
    try {
      return await migrate(client);
    } finally {
      client.release();
    }
  } finally {
    await pool.end();
  }
}
