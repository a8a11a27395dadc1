import type { Logger } from 'pino';
import { assertSchemaCurrent, migrate } from '../adapters/postgres/migrate.js';
import { createPool } from '../adapters/postgres/pool.js';
import { type Failpoint, failpointsFromEnv } from '../app/failpoints.js';
import { type App, createApp, databaseUrlOf, instanceIdOf } from '../app/wiring.js';
import { type LoadedConfig, loadConfig } from '../config/load.js';
import { LOG_LEVELS, type LogLevel } from '../config/schema.js';
import { EodError } from '../core/errors.js';
import { createLogger } from '../logging.js';
import type { Io } from './io.js';

export interface GlobalOptions {
  config?: string;
}

export async function loadFor(io: Io, options: GlobalOptions): Promise<LoadedConfig> {
  return loadConfig({ path: options.config, env: io.env });
}

/**
 * JSON logs to stderr, or to `destination` (e.g. the progress line's log writer on a terminal).
 * The config's warnings are its first lines.
 */
export function loggerFor(
  io: Io,
  loaded: LoadedConfig,
  destination: { write(line: string): void } = io.stderr,
): Logger {
  const logger = createLogger({
    level: logLevelFrom(io.env) ?? loaded.config.log.level,
    secrets: loaded.secrets,
    destination,
    base: { instance: instanceIdOf(loaded.config, io.env) },
  });
  for (const warning of loaded.warnings) logger.warn({ event: 'config.warning' }, warning);
  return logger;
}

/**
 * EOD_LOG_LEVEL, which overrides `log.level`; undefined when unset or empty.
 * Throws EodError USAGE (exit 2) naming the variable, its value and the levels it takes.
 */
function logLevelFrom(env: NodeJS.ProcessEnv): LogLevel | undefined {
  const value = env.EOD_LOG_LEVEL;
  if (value === undefined || value === '') return undefined;
  if ((LOG_LEVELS as readonly string[]).includes(value)) return value as LogLevel;
  throw new EodError(
    'USAGE',
    `EOD_LOG_LEVEL: "${value}" is not a log level; expected one of ${LOG_LEVELS.join(', ')} (or unset it to use log.level)`,
    { variable: 'EOD_LOG_LEVEL', value },
  );
}

/**
 * EOD_ONE_PASS: `off` runs the steps one after another, each from the stored capture (for
 * diagnosis); `on`, empty or unset: one pass. Throws EodError USAGE (exit 2) naming the variable
 * and its value for anything else, so a typo never silently picks a mode.
 */
function onePassFrom(env: NodeJS.ProcessEnv): boolean {
  const value = env.EOD_ONE_PASS;
  if (value === undefined || value === '' || value === 'on') return true;
  if (value === 'off') return false;
  throw new EodError('USAGE', `EOD_ONE_PASS: "${value}" is not on or off (or unset it: one pass)`, {
    variable: 'EOD_ONE_PASS',
    value,
  });
}

/**
 * The environment variables that `run` and `serve` read (EOD_LOG_LEVEL, EOD_ONE_PASS,
 * EOD_FAILPOINT), in one place, so `check` refuses exactly what they would refuse. `write` gets
 * the failpoints' warning line. Throws EodError USAGE (exit 2) naming the first variable that is
 * wrong.
 */
export function environmentSettings(
  env: NodeJS.ProcessEnv,
  write: (line: string) => void = () => undefined,
): { logLevel: LogLevel | undefined; onePass: boolean; failpoint: Failpoint } {
  return { logLevel: logLevelFrom(env), onePass: onePassFrom(env), failpoint: failpointsFromEnv(env, write) };
}

/** Builds the app after checking the database schema is the one this code knows. */
export async function appFor(io: Io, loaded: LoadedConfig, logger: Logger): Promise<App> {
  const { failpoint, onePass } = environmentSettings(io.env, (line) => io.stderr.write(line));
  const app = createApp(loaded, {
    logger,
    instanceId: instanceIdOf(loaded.config, io.env),
    failpoint,
    onePass,
  });
  try {
    const client = await app.pool.connect();
    try {
      await assertSchemaCurrent(client);
    } finally {
      client.release();
    }
    // Database time before anything asks what day it is.
    await app.clock.sync();
    return app;
  } catch (error) {
    await app.close();
    throw error;
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
