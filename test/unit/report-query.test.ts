import { describe, expect, it } from 'vitest';
import { replacePlaceholders } from '../../src/adapters/postgres/sql/report-query.js';
import { scanSql } from '../../src/core/sql-scan.js';

const spans = (sql: string) => scanSql(sql).placeholders.map((p) => sql.slice(p.start, p.end));

describe('report query placeholders (COPY takes no parameters: $1 is replaced by the bound setting)', () => {
  it('finds where each $n stands, wherever PostgreSQL would see a parameter', () => {
    expect(spans('SELECT * FROM t WHERE d = $1::date AND e > $1')).toEqual(['$1', '$1']);
    expect(spans('SELECT ($1)::date, f($1,2)')).toEqual(['$1', '$1']);
    expect(spans('SELECT $12, $2')).toEqual(['$12', '$2']);
  });

  it('skips string literals, E-strings, quoted identifiers, comments, dollar quotes and a$1 names', () => {
    const sql = [
      "SELECT '$1', 'it''s $1', E'\\' $1', \"col$1\", $$ $1 $$, $tag$ $1 $tag$, a$1,",
      '  /* $1 /* nested $1 */ $1 */ x -- $1',
      '  FROM t WHERE d = $1',
    ].join('\n');
    expect(spans(sql)).toEqual(['$1']);
    expect(sql.slice(scanSql(sql).placeholders[0]?.start)).toBe('$1');
  });

  it('replaces only the placeholders, leaving literals intact', () => {
    const sql = "SELECT '$1' AS s FROM t WHERE d = $1::date OR e = $1";
    expect(replacePlaceholders(sql, scanSql(sql).placeholders, 'X')).toBe(
      "SELECT '$1' AS s FROM t WHERE d = X::date OR e = X",
    );
  });
});
