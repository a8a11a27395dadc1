/**
 * Issue 8 items 11 and 12: the report query must use its date ($1, found by a real scanner, not a
 * regex) and every template must render, at config load (exit 2 naming key, value and what is
 * allowed); a query without ORDER BY loads with a warning.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LoadedConfig, loadConfig } from '../../src/config/load.js';
import { EodError, exitCodeFor } from '../../src/core/errors.js';
import { scanSql, singleStatement } from '../../src/core/sql-scan.js';

const HOST_KEY = 'SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s';
let dir: string;
let files = 0;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'eod-config-texts-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function config(report: Record<string, unknown>, s3: Record<string, unknown> = {}) {
  return {
    database: { url: 'postgres://app@db.internal/ledger' },
    reports: [
      {
        name: 'eod-transactions',
        timezone: 'Europe/London',
        query: 'SELECT id FROM transactions WHERE booked_on = $1::date ORDER BY id',
        fileName: 'eod_{yyyy}{MM}{dd}.csv',
        sftp: {
          host: 'sftp.example',
          username: 'bank',
          password: 'x',
          hostKeySha256: HOST_KEY,
          directory: '/in',
        },
        s3: { bucket: 'eod-archive', ...s3 },
        ...report,
      },
    ],
  };
}

async function load(content: object): Promise<LoadedConfig> {
  const file = path.join(dir, `config-${++files}.json`);
  await writeFile(file, JSON.stringify(content));
  return loadConfig({ path: file, env: {} });
}

async function refused(content: object): Promise<string[]> {
  const error = await load(content).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(EodError);
  expect((error as EodError).code).toBe('CONFIG_INVALID');
  expect(exitCodeFor(error)).toBe(2);
  return (error as EodError).message.split('\n');
}

describe('scanSql finds $1 only where it is code', () => {
  const uses = (sql: string) => scanSql(sql).parameters.has(1);
  it('counts $1 in code, casts and function calls', () => {
    expect(uses('SELECT * FROM t WHERE d = $1::date')).toBe(true);
    expect(uses('SELECT * FROM t WHERE d = ($1)')).toBe(true);
    expect(uses('SELECT * FROM t WHERE d=$1')).toBe(true);
    expect(uses("SELECT * FROM t WHERE d = to_date($1, 'YYYY-MM-DD')")).toBe(true);
  });
  it('ignores $1 in comments, literals, dollar quotes, quoted identifiers and names', () => {
    expect(uses('SELECT 1 -- WHERE d = $1\nFROM t')).toBe(false);
    expect(uses('SELECT 1 /* outer /* nested $1 */ still comment $1 */ FROM t')).toBe(false);
    expect(uses("SELECT '$1' FROM t")).toBe(false);
    expect(uses("SELECT 'it''s $1' FROM t")).toBe(false);
    expect(uses("SELECT E'\\' $1' FROM t")).toBe(false);
    expect(uses('SELECT $$ $1 $$ FROM t')).toBe(false);
    expect(uses('SELECT $q$ $1 $$ $1 $q$ FROM t')).toBe(false);
    expect(uses('SELECT "col $1" FROM t')).toBe(false);
    expect(uses('SELECT "a""$1" FROM t')).toBe(false);
    expect(uses('SELECT a$1 FROM t')).toBe(false);
  });
  it('finds $1 after text that only looks like a literal or comment', () => {
    expect(uses("SELECT 'x' || $1 FROM t")).toBe(true);
    expect(uses('SELECT $q$ x $q$, $1 FROM t')).toBe(true);
    expect(uses('SELECT 1 /* c */ + $1')).toBe(true);
    expect(uses('SELECT "$x", $1')).toBe(true);
  });
  it('tells a top-level ORDER BY from one in a subquery, a comment or a literal', () => {
    expect(scanSql('SELECT * FROM t ORDER BY id').topLevelOrderBy).toBe(true);
    expect(scanSql('select * from t order\n  by id').topLevelOrderBy).toBe(true);
    expect(scanSql('SELECT * FROM (SELECT * FROM t ORDER BY id) s').topLevelOrderBy).toBe(false);
    expect(scanSql('SELECT * FROM t -- ORDER BY id').topLevelOrderBy).toBe(false);
    expect(scanSql("SELECT 'ORDER BY' FROM t").topLevelOrderBy).toBe(false);
  });
});

describe('config load refuses a query that ignores the report date', () => {
  it('refuses current_date - 1 with exit 2 naming reports[0].query and the way out', async () => {
    const lines = await refused(
      config({ query: 'SELECT id FROM transactions WHERE booked_on = current_date - 1 ORDER BY id' }),
    );
    expect(lines.some((l) => l.startsWith('reports[0].query: does not use $1 (the report date)'))).toBe(true);
    expect(lines.join('\n')).toContain('allowQueryWithoutDate: true');
  });
  it('refuses a $1 that is only in a comment or a string', async () => {
    for (const query of [
      'SELECT id FROM t WHERE booked_on = current_date - 1 -- should be $1\nORDER BY id',
      "SELECT id, '$1' AS note FROM t ORDER BY id",
      'SELECT id, $x$ $1 $x$ FROM t ORDER BY id',
    ]) {
      const lines = await refused(config({ query }));
      expect(
        lines.some((l) => l.startsWith('reports[0].query: does not use $1')),
        query,
      ).toBe(true);
    }
  });
  it('refuses parameters other than $1', async () => {
    const lines = await refused(
      config({ query: 'SELECT id FROM t WHERE d = $1::date AND x = $2 ORDER BY id' }),
    );
    expect(lines.some((l) => l.startsWith('reports[0].query: uses $2; only $1'))).toBe(true);
  });
  it('accepts a whole-table query with allowQueryWithoutDate: true', async () => {
    const { config: loaded } = await load(
      config({ query: 'SELECT code, name FROM currencies ORDER BY code', allowQueryWithoutDate: true }),
    );
    expect(loaded.reports[0]?.allowQueryWithoutDate).toBe(true);
  });
  it('warns about a query without ORDER BY, naming the key', async () => {
    const loaded = await load(config({ query: 'SELECT id FROM t WHERE booked_on = $1::date' }));
    expect(loaded.warnings).toHaveLength(1);
    expect(loaded.warnings[0]).toMatch(/^reports\[0\]\.query: has no ORDER BY/);
    expect((await load(config({}))).warnings).toEqual([]);
  });
});

describe('config load renders and checks every template', () => {
  it.each([
    ['eod_{YYYY}{MM}{dd}.csv', 'unknown placeholder {YYYY}'],
    ['eod_{unknown}.csv', 'unknown placeholder {unknown}'],
    ['eod_{yyyy.csv', 'not part of a placeholder'],
    ['out/eod_{yyyy}.csv', 'must not contain "/"'],
    ['..eod_{yyyy}.csv', 'must not contain ".."'],
    ['eod_\u0007{yyyy}.csv', 'control characters'],
  ])('fileName %j is refused (%s)', async (fileName, why) => {
    const lines = await refused(config({ fileName }));
    const line = lines.find((l) => l.startsWith('reports[0].fileName: '));
    expect(line, lines.join('\n')).toBeDefined();
    expect(line).toContain(JSON.stringify(fileName));
    expect(line).toContain(why);
    expect(line).toMatch(/allowed: \{yyyy\} \{MM\} \{dd\} \{report\}|a file name is one path segment/);
  });
  it('a report name that renders ".." into the file name is refused', async () => {
    const lines = await refused(config({ name: 'a..b', fileName: '{report}_{yyyy}{MM}{dd}.csv' }));
    expect(
      lines.some(
        (l) => l.startsWith('reports[0].fileName: ') && l.includes('renders as "a..b_20260131.csv"'),
      ),
    ).toBe(true);
  });
  it.each([
    ['eod/{unknown}/', 'unknown placeholder {unknown}'],
    ['eod/{YYYY}/', 'unknown placeholder {YYYY}'],
    ['eod//{yyyy}/', 'empty, "." or ".." segments'],
    ['eod/../{yyyy}/', 'empty, "." or ".." segments'],
    ['/eod/{yyyy}/', 'must not start with "/"'],
  ])('s3.prefix %j is refused (%s)', async (prefix, why) => {
    const lines = await refused(config({}, { prefix }));
    const line = lines.find((l) => l.startsWith('reports[0].s3.prefix: '));
    expect(line, lines.join('\n')).toBeDefined();
    expect(line).toContain(JSON.stringify(prefix));
    expect(line).toContain(why);
  });
  it('accepts the documented placeholders', async () => {
    const { config: loaded } = await load(
      config({ fileName: '{report}_{yyyy}-{MM}-{dd}.csv' }, { prefix: 'eod/{report}/{yyyy}/{MM}/' }),
    );
    expect(loaded.reports[0]?.fileName).toBe('{report}_{yyyy}-{MM}-{dd}.csv');
  });
});

describe('singleStatement: the query as one statement to embed', () => {
  it('drops trailing semicolons and what follows them when it is only comments or blanks', () => {
    expect(singleStatement('SELECT 1;')).toBe('SELECT 1');
    expect(singleStatement('SELECT 1 ;; -- done\n /* really */ \n')).toBe('SELECT 1');
    expect(singleStatement("SELECT ';' AS s; -- x")).toBe("SELECT ';' AS s");
  });
  it('keeps a query without a trailing semicolon as it is, its last-line comment included', () => {
    expect(singleStatement('SELECT 1 -- last line')).toBe('SELECT 1 -- last line');
    expect(singleStatement('SELECT $x$;$x$, \';\', ";" /* ; */')).toBe('SELECT $x$;$x$, \';\', ";" /* ; */');
  });
  it('refuses a second statement after a semicolon', () => {
    expect(() => singleStatement('SELECT 1; DELETE FROM t')).toThrow(
      /more than one statement .*"DELETE FROM t"/,
    );
    expect(() => singleStatement('SELECT 1;\n-- c\nSELECT 2')).toThrow(/more than one statement/);
  });
  it('leaves an unterminated literal to the server', () => {
    expect(singleStatement("SELECT 'open;")).toBe("SELECT 'open;");
  });
});
