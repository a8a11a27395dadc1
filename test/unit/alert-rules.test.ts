import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/**
 * The shipped Prometheus alert rules (PRODUCT.md §6): promtool validates them and runs their unit
 * tests; every alert carries its severity and annotations; every metric they use is one the service
 * exposes (ops/prometheus/metric-names.json, which the metrics implementation is tested against).
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RULES = 'ops/prometheus/eod-report.rules.yml';
const RULE_TESTS = 'ops/prometheus/eod-report.rules.test.yml';
const METRIC_NAMES_FILE = 'ops/prometheus/metric-names.json';
const PROMTOOL_MISSING = 'promtool not found; install the Debian package prometheus';

const EXPECTED_ALERTS = [
  'EodReportLate',
  'EodReportStepFailing',
  'EodReportStepSlow',
  'EodReportStepSlowCompleted',
  'EodReportNoSuccess',
  'EodReportSchedulerStalled',
  'EodReportAbsent',
  'EodReportMissingDates',
  'EodReportClockSkew',
];

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface PromtoolResult {
  code: number;
  output: string;
}

/** Runs promtool in the repository root; a missing promtool fails (never skips) the test. */
function promtool(...args: string[]): Promise<PromtoolResult> {
  return new Promise((resolve, reject) => {
    execFile('promtool', args, { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      if (error && (error as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new Error(PROMTOOL_MISSING));
      } else if (error && typeof error.code !== 'number') {
        reject(new Error(`promtool ${args.join(' ')} did not complete: ${error.message}\n${output}`));
      } else {
        resolve({ code: typeof error?.code === 'number' ? error.code : 0, output });
      }
    });
  });
}

async function readYaml(file: string): Promise<unknown> {
  return parse(await readFile(`${ROOT}${file}`, 'utf8'));
}

async function loadAlerts(): Promise<AlertRule[]> {
  const doc = (await readYaml(RULES)) as { groups?: Array<{ name?: string; rules?: unknown[] }> };
  expect(doc.groups?.map((group) => group.name)).toEqual(['eod-report']);
  const rules = doc.groups?.[0]?.rules ?? [];
  for (const rule of rules) {
    const { alert, expr } = rule as Partial<AlertRule>;
    expect(typeof alert, `every rule is an alert: ${JSON.stringify(rule)}`).toBe('string');
    expect(typeof expr, `${alert} expr`).toBe('string');
  }
  return rules as AlertRule[];
}

async function loadMetricNames(): Promise<string[]> {
  const names: unknown = JSON.parse(await readFile(`${ROOT}${METRIC_NAMES_FILE}`, 'utf8'));
  expect(Array.isArray(names), `${METRIC_NAMES_FILE} is a JSON array`).toBe(true);
  return names as string[];
}

const PROMQL_KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'atan2',
  'inf',
  'nan',
]);

/**
 * The metric names a PromQL expression selects: identifiers that are not functions or aggregations
 * (followed by `(`), keywords, numbers or durations, once strings, label matchers `{…}`, ranges
 * `[…]` and grouping label lists (`by (…)`, `on (…)`, …) are removed.
 */
function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const match of stripped.matchAll(/[0-9][0-9a-zA-Z_.]*|[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const token = match[0];
    const next = stripped.slice((match.index ?? 0) + token.length).trimStart();
    if (/^[0-9]/.test(token) || PROMQL_KEYWORDS.has(token.toLowerCase()) || next.startsWith('(')) continue;
    names.add(token);
  }
  return [...names];
}

/** A histogram's series carry `_bucket`, `_sum` and `_count` after the histogram's name. */
function isExposed(name: string, metricNames: readonly string[]): boolean {
  const base = name.replace(/_(?:bucket|sum|count)$/, '');
  return metricNames.includes(name) || (base !== name && metricNames.includes(base));
}

describe('Prometheus alert rules (ops/prometheus)', () => {
  it('pass `promtool check rules`', async () => {
    const { code, output } = await promtool('check', 'rules', RULES);
    expect(code, output).toBe(0);
    expect(output).toContain(`SUCCESS: ${EXPECTED_ALERTS.length} rules found`);
  });

  it('pass their unit tests (`promtool test rules`)', async () => {
    const { code, output } = await promtool('test', 'rules', RULE_TESTS);
    expect(code, output).toBe(0);
    expect(output).toContain('SUCCESS');
    expect(output).not.toContain('FAILED');
  });

  it('has every alert tested both firing and not firing', async () => {
    const doc = (await readYaml(RULE_TESTS)) as {
      tests?: Array<{ alert_rule_test?: Array<{ alertname?: string; exp_alerts?: unknown[] }> }>;
    };
    const cases = (doc.tests ?? []).flatMap((test) => test.alert_rule_test ?? []);
    for (const alert of EXPECTED_ALERTS) {
      const ofAlert = cases.filter((c) => c.alertname === alert);
      expect(
        ofAlert.some((c) => (c.exp_alerts ?? []).length > 0),
        `${alert} is tested firing`,
      ).toBe(true);
      expect(
        ofAlert.some((c) => (c.exp_alerts ?? []).length === 0),
        `${alert} is tested not firing`,
      ).toBe(true);
    }
  });

  it('give every alert a severity, a summary, a description and the runbook', async () => {
    const alerts = await loadAlerts();
    expect(alerts.map((rule) => rule.alert)).toEqual(EXPECTED_ALERTS);
    const readme = await readFile(`${ROOT}README.md`, 'utf8');
    for (const rule of alerts) {
      expect(['critical', 'warning'], `${rule.alert} severity`).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, `${rule.alert} summary`).toMatch(/\S/);
      expect(rule.annotations?.description, `${rule.alert} description`).toMatch(/\S/);
      expect(rule.annotations?.runbook_url, `${rule.alert} runbook_url`).toBe('README.md#operations');
      if (/\breport\b/.test(rule.expr) && !rule.expr.startsWith('absent(')) {
        expect(rule.annotations?.summary, `${rule.alert} names the report`).toContain('{{ $labels.report }}');
      }
    }
    expect(readme, 'README.md has the section the runbook links point to').toMatch(/^## Operations$/m);
    const severity = Object.fromEntries(alerts.map((rule) => [rule.alert, rule.labels?.severity]));
    expect(severity).toMatchObject({
      EodReportLate: 'critical',
      EodReportNoSuccess: 'critical',
      EodReportStepFailing: 'warning',
      EodReportStepSlow: 'warning',
    });
  });

  it('use only metrics listed in ops/prometheus/metric-names.json', async () => {
    const metricNames = await loadMetricNames();
    expect(metricNames.length).toBeGreaterThan(0);
    expect(new Set(metricNames).size, 'no duplicates').toBe(metricNames.length);
    for (const name of metricNames) expect(name).toMatch(/^eod_report_[a-z0-9_]+$/);

    const alerts = await loadAlerts();
    const used = new Set<string>();
    for (const rule of alerts) {
      for (const name of metricNamesIn(rule.expr)) used.add(name);
      // Annotations may query further metrics ({{ query "…" }}).
      for (const text of Object.values(rule.annotations ?? {})) {
        for (const match of text.matchAll(/\beod_report_[a-zA-Z0-9_:]*/g)) used.add(match[0]);
      }
    }
    expect([...used]).toEqual(
      expect.arrayContaining([
        'eod_report_late',
        'eod_report_deadline_timestamp_seconds',
        'eod_report_step_duration_seconds_sum',
        'eod_report_scheduler_heartbeat_timestamp_seconds',
      ]),
    );
    const unknown = [...used].filter((name) => !isExposed(name, metricNames));
    expect(unknown, `metrics the rules use but ${METRIC_NAMES_FILE} does not list`).toEqual([]);
  });

  it('finds the metric names of a PromQL expression', () => {
    expect(
      metricNamesIn(
        'sum by (report, step) (increase(a_total{step="x y(z)"}[30m] offset 1h)) > on (report) group_left ' +
          'max by (report) (b) or absent(c:rate5m) unless time() - d_sum * 26 * 3600 > bool 1e3',
      ).sort(),
    ).toEqual(['a_total', 'b', 'c:rate5m', 'd_sum']);
  });
});
