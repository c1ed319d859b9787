// deploy/monitoring: the PrometheusRule's groups pass the REAL promtool (`check rules`, and
// `test rules` with series that must fire the alerts), the dashboard's queries parse in promtool
// too, and every metric name either uses is one the operator's own prom-client registry exports.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { OperatorMetrics } from '../../src/observability/metrics.js';
import { repoRoot } from '../harness/binaries.js';
import { ensurePrometheusBinary } from '../harness/prometheus.js';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
}
interface Panel {
  title: string;
  targets?: Array<{ expr: string }>;
}

const monitoring = path.join(repoRoot, 'deploy', 'monitoring');
const ruleDoc = parse(readFileSync(path.join(monitoring, 'prometheusrule.yaml'), 'utf8')) as { kind: string; spec: { groups: Array<{ name: string; rules: Rule[] }> } };
const dashboard = JSON.parse(readFileSync(path.join(monitoring, 'dashboard.json'), 'utf8')) as { panels: Panel[]; templating: { list: Array<{ query?: string; type: string }> } };

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/** Metric names in a PromQL expression: identifiers that are neither functions, keywords, label names nor template variables. */
export function metricNames(expr: string): string[] {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // strings (label values, regexes)
    .replace(/\$\{?\w+\}?/g, '') // Grafana variables
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // ranges
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\b\d+(\.\d+)?(e[+-]?\d+)?\b/gi, ' ');
  const names = new Set<string>();
  for (const m of s.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = m[0];
    const next = s.slice((m.index ?? 0) + word.length).trimStart();
    if (next.startsWith('(')) continue; // a function
    if (KEYWORDS.has(word.toLowerCase())) continue;
    names.add(word);
  }
  return [...names];
}

/** Every series name the operator's registry exposes (histograms as _bucket, _sum, _count). */
async function exportedNames(): Promise<Set<string>> {
  const metrics = new OperatorMetrics();
  const out = new Set<string>();
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    const type = String(m.type);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) out.add(`${m.name}${suffix}`);
    else if (type === 'summary') for (const suffix of ['', '_sum', '_count']) out.add(`${m.name}${suffix}`);
    else out.add(m.name);
  }
  return out;
}

function run(file: string, args: string[], cwd: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

const dashboardExprs = (): Array<{ where: string; expr: string }> => [
  ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr }))),
  ...dashboard.templating.list.filter((v) => v.type === 'query' && v.query).map((v) => ({ where: 'templating', expr: /label_values\(([^,)]+)/.exec(v.query!)?.[1] ?? v.query! })),
];
const ruleExprs = (): Array<{ where: string; expr: string }> => ruleDoc.spec.groups.flatMap((g) => g.rules.map((r) => ({ where: `rule ${r.alert ?? r.record}`, expr: r.expr })));

describe('deploy/monitoring (real promtool)', function () {
  this.timeout(120_000);
  let promtool: string;
  let dir: string;

  before(async () => {
    promtool = path.join(path.dirname(await ensurePrometheusBinary()), 'promtool');
    dir = await mkdtemp(path.join(os.tmpdir(), 'modelgate-rules-'));
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('promtool check rules passes on the PrometheusRule\'s groups', async () => {
    assert.equal(ruleDoc.kind, 'PrometheusRule');
    const file = path.join(dir, 'modelgate.rules.yaml');
    await writeFile(file, stringify({ groups: ruleDoc.spec.groups }));
    const r = await run(promtool, ['check', 'rules', file], dir);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /SUCCESS: 5 rules found/);
    const alerts = ruleDoc.spec.groups.flatMap((g) => g.rules.map((x) => x.alert));
    assert.deepEqual(alerts.sort(), ['ModelgateCheckpointStuck', 'ModelgateNoLeader', 'ModelgateOperatorNotReady', 'ModelgatePrometheusUnreachable', 'ModelgateRollback']);
  });

  it('promtool check rules refuses a broken expression (the check bites)', async () => {
    const file = path.join(dir, 'broken.rules.yaml');
    await writeFile(file, stringify({ groups: [{ name: 'x', rules: [{ alert: 'X', expr: 'sum by (reason (modelgate_rollbacks_total)' }] }] }));
    const r = await run(promtool, ['check', 'rules', file], dir);
    assert.notEqual(r.code, 0, r.out);
  });

  it('the alerts fire on the series they are about, and stay quiet on healthy ones (promtool test rules)', async () => {
    // Annotations are checked by `check rules` (templates parse); here the labels and timing matter.
    const groups = ruleDoc.spec.groups.map((g) => ({ ...g, rules: g.rules.map((r) => ({ ...r, annotations: undefined })) }));
    await writeFile(path.join(dir, 'modelgate.rules.yaml'), stringify({ groups }));
    const tests = {
      rule_files: ['modelgate.rules.yaml'],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [
            { series: 'modelgate_rollbacks_total{reason="AnalysisFailed"}', values: '0 0 1 1 1' },
            { series: 'modelgate_leader{pod="a"}', values: '0x10' },
            { series: 'modelgate_leader{pod="b"}', values: '0x10' },
            { series: 'modelgate_informer_up{resource="modelcheckpoints"}', values: '1 0x10' },
            { series: 'modelgate_prometheus_query_errors_total{error="Unreachable"}', values: '0+1x10' },
            { series: 'modelgate_checkpoint_phase_seconds{namespace="ml",checkpoint="ranker-2",phase="Validated"}', values: '1800+60x10' },
          ],
          alert_rule_test: [
            { eval_time: '3m', alertname: 'ModelgateRollback', exp_alerts: [{ exp_labels: { severity: 'warning', reason: 'AnalysisFailed' }}] },
            { eval_time: '5m', alertname: 'ModelgateNoLeader', exp_alerts: [{ exp_labels: { severity: 'critical' } }] },
            { eval_time: '8m', alertname: 'ModelgateOperatorNotReady', exp_alerts: [{ exp_labels: { severity: 'critical', resource: 'modelcheckpoints' } }] },
            { eval_time: '8m', alertname: 'ModelgatePrometheusUnreachable', exp_alerts: [{ exp_labels: { severity: 'critical' } }] },
            { eval_time: '8m', alertname: 'ModelgateCheckpointStuck', exp_alerts: [{ exp_labels: { severity: 'warning', namespace: 'ml', checkpoint: 'ranker-2', phase: 'Validated' } }] },
          ],
        },
        {
          interval: '1m',
          input_series: [
            { series: 'modelgate_rollbacks_total{reason="AnalysisFailed"}', values: '3x10' },
            { series: 'modelgate_leader{pod="a"}', values: '1x10' },
            { series: 'modelgate_informer_up{resource="modelcheckpoints"}', values: '1x10' },
            { series: 'modelgate_prometheus_query_errors_total{error="BadQuery"}', values: '0+1x10' },
          ],
          alert_rule_test: ['ModelgateRollback', 'ModelgateNoLeader', 'ModelgateOperatorNotReady', 'ModelgatePrometheusUnreachable', 'ModelgateCheckpointStuck'].map((alertname) => ({ eval_time: '8m', alertname, exp_alerts: [] })),
        },
      ],
    };
    await writeFile(path.join(dir, 'tests.yaml'), stringify(tests));
    const r = await run(promtool, ['test', 'rules', 'tests.yaml'], dir);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /SUCCESS/);
  });

  it('every dashboard query parses (as recording rules, through promtool)', async () => {
    const exprs = dashboardExprs().filter((e) => e.where !== 'templating');
    assert.ok(exprs.length >= 10, `only ${exprs.length} queries`);
    const rules = exprs.map((e, i) => ({ record: `modelgate:dashboard_query_${i}`, expr: e.expr.replace(/\$__rate_interval/g, '5m').replace(/\$namespace/g, '.*') }));
    const file = path.join(dir, 'dashboard.rules.yaml');
    await writeFile(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
    const r = await run(promtool, ['check', 'rules', file], dir);
    assert.equal(r.code, 0, r.out);
  });

  it('every metric name in the dashboard and the rules is one the operator exports', async () => {
    const exported = await exportedNames();
    const used = [...dashboardExprs(), ...ruleExprs()].flatMap((e) => metricNames(e.expr).map((name) => ({ ...e, name })));
    const names = new Set(used.map((u) => u.name));
    // The panels the issue asks for are there: phases, gates and timings, rollbacks, measurements against bounds, leader, guard errors.
    for (const n of ['modelgate_checkpoints', 'modelgate_gate_result_total', 'modelgate_validation_duration_seconds_bucket', 'modelgate_rollbacks_total', 'modelgate_analysis_measurement', 'modelgate_analysis_bound', 'modelgate_leader', 'modelgate_prometheus_query_errors_total', 'modelgate_checkpoint_phase_seconds']) {
      assert.ok(names.has(n), `${n} is used nowhere`);
    }
    const unknown = used.filter((u) => !exported.has(u.name));
    assert.deepEqual(unknown.map((u) => `${u.where}: ${u.name}`), []);
  });

  it('the name check catches a metric the operator does not export', async () => {
    const exported = await exportedNames();
    const names = metricNames('sum by (reason) (rate(modelgate_rollbacks_totl{reason!~"x|y"}[5m])) / on(reason) group_left max(modelgate_leader) > 0');
    assert.deepEqual(names.sort(), ['modelgate_leader', 'modelgate_rollbacks_totl']);
    assert.deepEqual(names.filter((n) => !exported.has(n)), ['modelgate_rollbacks_totl']);
  });
});
