import { assertSchemaCurrent } from '../../adapters/postgres/migrate.js';
import { createPool } from '../../adapters/postgres/pool.js';
import { S3Archive } from '../../adapters/s3/s3-archive.js';
import { SftpDelivery } from '../../adapters/sftp/sftp-delivery.js';
import { databaseUrlOf } from '../../app/wiring.js';
import type { Config } from '../../config/schema.js';
import { coerceError, EXIT } from '../../core/errors.js';
import { redactSecrets } from '../../core/redact.js';
import { type GlobalOptions, loadFor } from '../context.js';
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

function checksFor(config: Config): Check[] {
  const url = databaseUrlOf(config);
  const checks: Check[] = [
    {
      name: 'database',
      run: async () => {
        const pool = createPool(url, { max: 1, applicationName: 'eod-report check' });
        try {
          const client = await pool.connect();
          try {
            const actual = await assertSchemaCurrent(client);
            return `${describeDatabase(url)} (schema at migration ${actual})`;
          } finally {
            client.release();
          }
        } finally {
          await pool.end();
        }
      },
    },
  ];
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
