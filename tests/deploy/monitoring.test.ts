// The alerts and recording rules (k8s/monitoring/rules.yaml, the chart's PrometheusRule) with the real promtool
// (Debian's `prometheus` package, scripts/toolchain.sh `ensure_promtool`): `promtool check rules` on every rules
// file, `promtool test rules` on the unit tests (k8s/monitoring/tests/*.yaml), each alert tested firing and quiet,
// and each alert's runbook section present in docs/failure-modes/alerts.md.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { find, parseYaml, renderHelm, repoRoot } from './lib.ts';

const monitoring = join(repoRoot, 'k8s/monitoring');
const rulesFile = join(monitoring, 'rules.yaml');
const testFiles = readdirSync(join(monitoring, 'tests'))
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => join(monitoring, 'tests', f));

/** promtool, or a failure (never a skip). */
function promtool(): string {
  const candidates = process.env.PROMTOOL ? [process.env.PROMTOOL] : ['promtool', '/usr/bin/promtool'];
  for (const c of candidates) if (spawnSync(c, ['--version']).status === 0) return c;
  throw new Error(
    `promtool is required to check the alert rules (tried ${candidates.join(', ')}).` +
      (process.env.CI === 'true'
        ? ' CI=true: scripts/test.sh installs it (apt package prometheus).'
        : ' Run bash scripts/test.sh once (it installs Debian’s prometheus package) or set PROMTOOL.'),
  );
}

function run(args: string[]): { status: number; output: string } {
  const r = spawnSync(promtool(), args, { encoding: 'utf8', cwd: monitoring });
  return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  annotations?: Record<string, string>;
}
const groups = (parseYaml(readFileSync(rulesFile, 'utf8')) as { groups: { name: string; rules: Rule[] }[] }).groups;
const alerts = groups.flatMap((g) => g.rules).filter((r) => r.alert);

const scratch = mkdtempSync(join(tmpdir(), 'toolplane-rules-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('promtool', () => {
  it('accepts every rules file: k8s/monitoring/rules.yaml and the chart’s PrometheusRule', () => {
    const rule = find(renderHelm(['ci/prod-values.yaml']), 'PrometheusRule', 'toolplane');
    const fromChart = join(scratch, 'chart-rules.yaml');
    writeFileSync(fromChart, JSON.stringify(rule.spec));
    for (const file of [rulesFile, fromChart]) {
      const r = run(['check', 'rules', file]);
      expect([file, r.status, r.output]).toEqual([file, 0, expect.stringContaining('SUCCESS')]);
    }
    // The chart's copy is the same file (Helm reads files inside the chart only).
    expect(readFileSync(join(repoRoot, 'k8s/helm/toolplane/files/rules.yaml'), 'utf8')).toBe(
      readFileSync(rulesFile, 'utf8'),
    );
    expect(rule.spec).toEqual({ groups });
  });

  it('passes the rules’ unit tests', () => {
    const r = run(['test', 'rules', ...testFiles]);
    expect([r.status, r.output]).toEqual([0, expect.stringContaining('SUCCESS')]);
    expect(r.output).not.toContain('FAILED');
  });
});

describe('the dashboards (k8s/monitoring/dashboards)', () => {
  const dir = join(monitoring, 'dashboards');
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

  it('are Grafana dashboards whose every panel queries Prometheus, also in the chart’s ConfigMap', () => {
    expect(files).toContain('overview.json');
    const configMap = find(renderHelm(['ci/prod-values.yaml']), 'ConfigMap', 'toolplane-dashboards');
    expect(configMap.metadata.labels?.grafana_dashboard).toBe('1');
    expect(Object.keys(configMap.data ?? {}).sort()).toEqual(files.sort());
    for (const f of files) {
      const text = readFileSync(join(dir, f), 'utf8');
      expect(readFileSync(join(repoRoot, 'k8s/helm/toolplane/files/dashboards', f), 'utf8')).toBe(text);
      expect(JSON.parse(configMap.data![f]!)).toEqual(JSON.parse(text));
      const dashboard = JSON.parse(text) as {
        uid: string;
        panels: { type: string; title: string; targets?: { expr: string }[] }[];
      };
      expect(dashboard.uid).toMatch(/^toolplane-/);
      const panels = dashboard.panels.filter((p) => p.type !== 'row');
      expect(panels.length).toBeGreaterThan(5);
      for (const p of panels)
        expect([p.title, (p.targets ?? []).every((t) => t.expr.length > 0)]).toEqual([p.title, true]);
    }
  });
});

describe('each alert', () => {
  interface AlertTest {
    alertname: string;
    exp_alerts?: unknown[];
  }
  const cases = testFiles.flatMap((f) =>
    (parseYaml(readFileSync(f, 'utf8')) as { tests: { alert_rule_test?: AlertTest[] }[] }).tests.flatMap(
      (t) => t.alert_rule_test ?? [],
    ),
  );

  it.each(alerts.map((a) => a.alert!))('%s is tested firing and quiet', (name) => {
    const mine = cases.filter((c) => c.alertname === name);
    expect(mine.some((c) => (c.exp_alerts ?? []).length > 0)).toBe(true);
    expect(mine.some((c) => (c.exp_alerts ?? []).length === 0)).toBe(true);
  });

  it('has a summary, a severity and a runbook section in docs/failure-modes/alerts.md', () => {
    const runbook = readFileSync(join(repoRoot, 'docs/failure-modes/alerts.md'), 'utf8');
    const anchors = [...runbook.matchAll(/^## (.+)$/gm)].map((m) => m[1]!.toLowerCase().replace(/[^a-z0-9]+/g, ''));
    for (const a of alerts) {
      expect([a.alert, a.annotations?.summary]).toEqual([a.alert, expect.any(String)]);
      expect([a.alert, (a as { labels?: { severity?: string } }).labels?.severity]).toEqual([
        a.alert,
        expect.stringMatching(/^(critical|warning)$/),
      ]);
      const url = a.annotations?.runbook_url ?? '';
      expect(url).toBe(
        `https://github.com/toolplane/toolplane/blob/main/docs/failure-modes/alerts.md#${a.alert!.toLowerCase()}`,
      );
      expect(anchors).toContain(a.alert!.toLowerCase());
    }
  });
});
