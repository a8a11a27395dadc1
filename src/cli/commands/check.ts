import type pg from 'pg';
import { assertSchemaCurrent } from '../../adapters/postgres/migrate.js';
import { explainDatabaseError } from '../../adapters/postgres/pg-errors.js';
import { createPool } from '../../adapters/postgres/pool.js';
import { explainQueryError, queryParameters } from '../../adapters/postgres/sql/captured-rows.js';
import { missingRunPrivileges, rowsSchemaFor } from '../../adapters/postgres/sql/rows-schema.js';
import { S3Archive } from '../../adapters/s3/s3-archive.js';
import { SftpDelivery } from '../../adapters/sftp/sftp-delivery.js';
import { databaseUrlOf } from '../../app/wiring.js';
import type { Config, ReportConfig } from '../../config/schema.js';
import { coerceError, EXIT } from '../../core/errors.js';
import { redactSecrets } from '../../core/redact.js';
import { environmentSettings, type GlobalOptions, loadFor } from '../context.js';
import { type Io, println } from '../io.js';

interface Check {
  name: string;
  run: () => Promise<string>;
}

/** Where the database is, without credentials. */
export function describeDatabase(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || 5432}${u.pathname}`;
  } catch {
    return '(unparsable url)';
  }
}

async function withClient<T>(url: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const pool = createPool(url, { max: 1, applicationName: 'eod-report check' });
  try {
    const client = await pool.connect().catch((error: unknown) => {
      throw explainDatabaseError(error) ?? error;
    });
    try {
      return await work(client);
    } finally {
      client.release();
    }
  } finally {
    await pool.end();
  }
}

/** The role can run reports: every privilege `run` needs, and the schema captures go to. */
async function checkDatabase(client: pg.PoolClient, config: Config, url: string): Promise<string> {
  const actual = await assertSchemaCurrent(client);
  const schema = await rowsSchemaFor(client, config.database.rowsSchema);
  const missing = await missingRunPrivileges(client, schema);
  if (missing.length > 0) {
    const { rows } = await client.query<{ role: string }>('SELECT current_user AS role');
    throw new Error(
      `role "${rows[0]?.role}" lacks ${missing.join(', ')}; grant them (README, "Database privileges")${
        missing.some((m) => m.includes(`schema ${schema}`))
          ? ` or set database.rowsSchema to a schema the role may create tables in`
          : ''
      }`,
    );
  }
  return `${describeDatabase(url)} (schema at migration ${actual}, captured rows in schema ${schema})`;
}

/**
 * The report's query as the server parses and analyses it inside our capture statement, without
 * running it: syntax, relations, a second statement, data-modifying WITH, parameters beyond $1.
 */
async function checkQuery(client: pg.PoolClient, report: ReportConfig): Promise<string> {
  try {
    const parameters = await queryParameters(client, report.query);
    return parameters === 1
      ? 'prepared; $1 is the report date'
      : 'prepared; does not use $1 (the same rows whatever the date)';
  } catch (error) {
    throw explainQueryError(error);
  }
}

function checksFor(config: Config): Check[] {
  const url = databaseUrlOf(config);
  const checks: Check[] = [
    {
      name: 'database',
      run: () =>
        withClient(url, (client) => checkDatabase(client, config, url)).catch((error: unknown) => {
          // The line already says "database: ".
          if (error instanceof Error) error.message = error.message.replace(/^database: /, '');
          throw error;
        }),
    },
  ];
  for (const report of config.reports) {
    checks.push({
      name: `query ${report.name}`,
      run: () => withClient(url, (client) => checkQuery(client, report)),
    });
  }
  for (const report of config.reports) {
    checks.push({
      name: `sftp ${report.name}`,
      run: async () => {
        const delivery = new SftpDelivery(report.sftp);
        try {
          return await delivery.check();
        } finally {
          await delivery.close();
        }
      },
    });
    checks.push({ name: `s3 ${report.name}`, run: () => new S3Archive(report.s3).check() });
  }
  return checks;
}

export async function checkCommand(io: Io, options: GlobalOptions): Promise<number> {
  const loaded = await loadFor(io, options);
  environmentSettings(io.env);
  println(io.stdout, `ok     config ${loaded.path} (${loaded.config.reports.length} report(s))`);
  for (const warning of loaded.warnings) println(io.stdout, `WARN   ${warning}`);
  let failed = 0;
  for (const check of checksFor(loaded.config)) {
    try {
      const detail = await check.run();
      println(io.stdout, `ok     ${check.name}: ${redactSecrets(detail, loaded.secrets)}`);
    } catch (thrown) {
      failed++;
      println(
        io.stdout,
        `FAILED ${check.name}: ${redactSecrets(coerceError(thrown).message, loaded.secrets)}`,
      );
    }
  }
  return failed === 0 ? EXIT.OK : EXIT.FAILED;
}
