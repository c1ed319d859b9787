// Breach to rollback: how long after a regression starts does the live guard put the previous
// checkpoint back, and how does that compare with a Prometheus alerting rule on the same
// expression? One run = a fresh weights-only checkpoint deployed over v1 with a conversion-rate
// analysis; once it is measured healthy, the load generator drops its conversion rate by 40%
// (t0). We time (a) t0 → the Deployment's env is back on v1 (read every 20 ms), and (b) t0 → the
// alert `ConversionRateBreach` (`for: 0s`) is firing in /api/v1/alerts (polled every 20 ms).
// Both are reported as a ratio to (scrape interval + analysis interval), median over the runs.
//
//   npx tsx bench/breach-to-rollback.ts [--runs N]      (default 6; writes bench/results/breach-to-rollback.json)
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AppsV1Api } from '@kubernetes/client-node';
import type { AnalysisSpec, ModelCheckpoint } from '../src/api/types.js';
import { PrometheusClient } from '../src/monitor/prometheus.js';
import { repoRoot } from '../test/harness/binaries.js';
import { freshNamespace, sharedControlPlane, stopSharedControlPlane } from '../test/harness/controlplane.js';
import { apply, checkpoint, inferenceDeployment } from '../test/harness/fixtures.js';
import { startLoad, type LoadGenerator } from '../test/harness/loadgen.js';
import { classifierModel, randomWeights, tempDir, weightsOnlyUpdate, writeArtifact } from '../test/harness/models.js';
import { phaseIs, startTestOperator, waitForCheckpoint } from '../test/harness/operator.js';
import { startPodRunner } from '../test/harness/podrunner.js';
import { waitFor } from '../test/harness/process.js';
import { startPrometheus } from '../test/harness/prometheus.js';

const SCRAPE_S = 1;
const INTERVAL_S = 2;
const CVR = 0.5;
const CVR_BAD = 0.6 * CVR;
const MAX_DEGRADATION = 0.2;
const TARGET_RATIO = 1.5;
const POLL_MS = 20;

const argRuns = process.argv.indexOf('--runs');
const RUNS = Math.max(5, Number(argRuns >= 0 ? process.argv[argRuns + 1] : process.env.RUNS ?? 6) || 6);

// One expression for both: conversions per click of one version over its last two scrapes.
const ratioBy = (sel: string, by = ''): string =>
  `sum${by}(irate(modelgate_outcome_conversions_total{${sel}}[10s])) / sum${by}(irate(modelgate_outcome_clicks_total{${sel}}[10s]))`;
const OPERATOR_QUERY = ratioBy('namespace="{{namespace}}",deployment="{{deployment}}",version="{{version}}"');
// The operator's breach: (baseline - value) / baseline > 0.2 with the baseline v1's rate (CVR,
// exact: the load generator carries fractions, it does not roll dice).
const ALERT_EXPR = `${ratioBy('deployment="ranker"', ' by (namespace, deployment, version) ')} < ${(1 - MAX_DEGRADATION) * CVR}`;
const RULES = [
  'groups:',
  '  - name: modelgate-bench',
  '    rules:',
  '      - alert: ConversionRateBreach',
  `        expr: ${JSON.stringify(ALERT_EXPR)}`,
  '        for: 0s',
  '',
].join('\n');

interface Run {
  run: number;
  checkpoint: string;
  /** t0 → the Deployment env is back on v1. */
  rollbackMs: number;
  /** t0 → the alert is firing in /api/v1/alerts. */
  alertMs: number;
  /** t0 → the alert's activeAt (Prometheus' own evaluation time). */
  alertActiveMs?: number;
  /** t0 → the operator's Failed measurement (its `at`). */
  measuredMs?: number;
  rollbackRatio: number;
  alertRatio: number;
}

interface AlertsBody {
  data?: { alerts?: Array<{ labels?: Record<string, string>; state?: string; activeAt?: string }> };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (line: string): void => void process.stderr.write(`[bench] ${line}\n`);

async function main(): Promise<void> {
  const denomMs = (SCRAPE_S + INTERVAL_S) * 1000;
  log(`starting the control plane, Prometheus (scrape ${SCRAPE_S} s) and the operator`);
  const [cp, prom, dir] = await Promise.all([
    sharedControlPlane(),
    startPrometheus({ scrapeInterval: SCRAPE_S, rules: RULES }),
    tempDir('modelgate-bench-'),
  ]);
  const op = await startTestOperator(cp, { fileRoots: [dir], prometheusUrl: prom.url });
  const prometheus = new PrometheusClient({ url: prom.url, timeoutMs: 3000 });
  const apps = cp.kubeConfig().makeApiClient(AppsV1Api);
  let load: LoadGenerator | undefined;
  let regressed = false;
  const runs: Run[] = [];
  try {
    const ns = await freshNamespace(cp, 'bench');
    const deployment = inferenceDeployment('ranker') as { spec: { template: { spec: { containers: Array<{ env: Array<{ name: string; value: string }> }> } } } };
    // The pod runner passes plain env values only; the bench's own token, not a Secret's.
    const outcomesToken = randomBytes(24).toString('hex');
    deployment.spec.template.spec.containers[0]!.env.push({ name: 'MODEL_NAME', value: 'ranker' }, { name: 'OUTCOMES_TOKEN', value: outcomesToken });
    await apply(cp, ns, deployment);
    const runner = await startPodRunner(cp, ns, 'ranker', {
      prometheus: prom,
      job: 'inference',
      onServe: (pod) => load?.setConversionRate(pod.version !== 'v1' && regressed ? CVR_BAD : CVR),
    });
    try {
      const base = randomWeights(4, 3, 1);
      const a1 = await writeArtifact(dir, 'v1.onnx', classifierModel({ features: 4, classes: 3, weights: base.weights, bias: base.bias }));
      // Traffic from the first moment a pod serves (the Service answers 503 until then): a
      // scrape of v1 without clicks would be a NaN point in the operator's baseline window.
      load = startLoad({ url: runner.url, model: 'ranker', rate: 60, clickThroughRate: 0.5, conversionRate: CVR, durationMs: 60 * 60_000, outcomesToken });
      await apply(cp, ns, checkpoint('v1', a1));
      await waitForCheckpoint(cp, ns, 'v1', phaseIs('Healthy'), 120_000);
      await runner.waitForVersion('v1', 60_000);

      const v1Rate = OPERATOR_QUERY.replaceAll('{{namespace}}', ns).replaceAll('{{deployment}}', 'ranker').replaceAll('{{version}}', 'v1');
      const v1Ready = (): Promise<number> =>
        waitFor('Prometheus to have v1\'s conversion rate', async () => {
          // The operator's default baseline: v1's series averaged over the window before the
          // rollout (a subquery, whole-second steps); a series a scrape old has no point there yet.
          const r = await prometheus.query(`avg_over_time((${v1Rate})[600s:])`);
          const v = r.kind === 'vector' && r.samples.length === 1 ? r.samples[0]!.value : undefined;
          return v !== undefined && Math.abs(v - CVR) < 0.05 ? v : undefined;
        }, 60_000, 250);

      for (let i = 1; i <= RUNS; i += 1) {
        const name = `c${i}`;
        await v1Ready();
        const w = weightsOnlyUpdate(base, 0.01, 100 + i);
        const art = await writeArtifact(dir, `${name}.onnx`, classifierModel({ features: 4, classes: 3, weights: w.weights, bias: w.bias }));
        const analysis: AnalysisSpec = {
          intervalSeconds: INTERVAL_S,
          durationSeconds: 0,
          metrics: [{ name: 'conversion-rate', query: OPERATOR_QUERY, direction: 'HigherIsBetter', maxRelativeDegradation: MAX_DEGRADATION, failureLimit: 0, inconclusiveLimit: 100 }],
        };
        regressed = false;
        await apply(cp, ns, checkpoint(name, art, { analysis }));
        const healthy = await waitForCheckpoint(cp, ns, name, (c) => (c.status?.analysis?.counts?.['conversion-rate']?.successful ?? 0) >= 2 || phaseIs('RolledBack', 'Rejected', 'Failed')(c), 120_000);
        if (healthy.status?.phase !== 'Monitoring') throw new Error(`run ${i}: ${name} is ${healthy.status?.phase} before the regression started`);
        // Start the regression at a random point of the scrape and analysis cycles.
        await sleep(Math.random() * denomMs);

        regressed = true;
        const t0 = Date.now();
        load.setConversionRate(CVR_BAD);
        const rolledBack = (async () => {
          for (;;) {
            const d = await apps.readNamespacedDeployment({ name: 'ranker', namespace: ns });
            const env = d.spec?.template?.spec?.containers?.find((c) => c.name === 'server')?.env ?? [];
            if (env.find((e) => e.name === 'MODEL_DIGEST')?.value === a1.digest) return Date.now();
            if (Date.now() - t0 > 120_000) throw new Error(`run ${i}: no rollback within 120 s`);
            await sleep(POLL_MS);
          }
        })();
        const fired = (async () => {
          for (;;) {
            const res = await fetch(`${prom.url}/api/v1/alerts`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
            const body = res ? ((await res.json()) as AlertsBody) : undefined;
            const a = body?.data?.alerts?.find((x) => x.labels?.alertname === 'ConversionRateBreach' && x.labels.version === name && x.labels.namespace === ns && x.state === 'firing');
            if (a) return { at: Date.now(), activeAt: a.activeAt ? Date.parse(a.activeAt) : undefined };
            if (Date.now() - t0 > 120_000) throw new Error(`run ${i}: the alert did not fire within 120 s`);
            await sleep(POLL_MS);
          }
        })();
        const [t1, alert] = await Promise.all([rolledBack, fired]);
        const done = await waitForCheckpoint(cp, ns, name, phaseIs('RolledBack'), 30_000);
        const failed = done.status?.analysis?.measurements?.find((m) => m.phase === 'Failed');
        const run: Run = {
          run: i,
          checkpoint: name,
          rollbackMs: t1 - t0,
          alertMs: alert.at - t0,
          ...(alert.activeAt !== undefined ? { alertActiveMs: alert.activeAt - t0 } : {}),
          ...(failed ? { measuredMs: Date.parse(failed.at) - t0 } : {}),
          rollbackRatio: (t1 - t0) / denomMs,
          alertRatio: (alert.at - t0) / denomMs,
        };
        runs.push(run);
        log(`run ${i}: rollback ${run.rollbackMs} ms (${run.rollbackRatio.toFixed(2)}), alert ${run.alertMs} ms (${run.alertRatio.toFixed(2)}), measured ${run.measuredMs ?? '?'} ms`);
        regressed = false;
        await runner.waitForVersion('v1', 60_000);
        await waitForCheckpoint(cp, ns, 'v1', phaseIs('Healthy'), 60_000);
        await waitForCheckpoint(cp, ns, name, (c: ModelCheckpoint) => c.status?.phase === 'RolledBack', 10_000);
      }
    } finally {
      await load?.stop();
      await runner.stop();
    }
  } finally {
    await op.stop();
    await prom.stop();
    await stopSharedControlPlane();
    rmSync(dir, { recursive: true, force: true });
  }

  const summary = {
    rollbackMs: median(runs.map((r) => r.rollbackMs)),
    alertMs: median(runs.map((r) => r.alertMs)),
    rollbackRatio: median(runs.map((r) => r.rollbackRatio)),
    alertRatio: median(runs.map((r) => r.alertRatio)),
  };
  const result = {
    benchmark: 'breach-to-rollback',
    date: new Date().toISOString(),
    command: 'npx tsx bench/breach-to-rollback.ts',
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, platform: `${os.platform()} ${os.release()}` },
    config: {
      scrapeIntervalSeconds: SCRAPE_S,
      analysisIntervalSeconds: INTERVAL_S,
      denominatorSeconds: SCRAPE_S + INTERVAL_S,
      failureLimit: 0,
      maxRelativeDegradation: MAX_DEGRADATION,
      conversionRate: { before: CVR, after: CVR_BAD },
      load: { inferencesPerSecond: 60, clickThroughRate: 0.5 },
      operatorQuery: OPERATOR_QUERY,
      alertRule: { alert: 'ConversionRateBreach', expr: ALERT_EXPR, for: '0s', evaluationIntervalSeconds: SCRAPE_S },
      pollMs: POLL_MS,
      runs: RUNS,
    },
    runs,
    median: summary,
    target: { rollbackRatioAtMost: TARGET_RATIO, met: summary.rollbackRatio <= TARGET_RATIO },
  };
  const outDir = path.join(repoRoot, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, 'breach-to-rollback.json'), `${JSON.stringify(result, null, 2)}\n`);

  const s = (ms: number): string => (ms / 1000).toFixed(2);
  const lines = [
    `Breach to rollback: scrape ${SCRAPE_S} s + analysis interval ${INTERVAL_S} s = ${SCRAPE_S + INTERVAL_S} s; ${RUNS} runs`,
    '',
    '| run | operator rollback (s) | ratio | alert firing (s) | ratio | operator measured the breach (s) |',
    '|---:|---:|---:|---:|---:|---:|',
    ...runs.map((r) => `| ${r.run} | ${s(r.rollbackMs)} | ${r.rollbackRatio.toFixed(2)} | ${s(r.alertMs)} | ${r.alertRatio.toFixed(2)} | ${r.measuredMs !== undefined ? s(r.measuredMs) : '–'} |`),
    `| **median** | **${s(summary.rollbackMs)}** | **${summary.rollbackRatio.toFixed(2)}** | **${s(summary.alertMs)}** | **${summary.alertRatio.toFixed(2)}** | |`,
    '',
    `Target: operator median ratio ≤ ${TARGET_RATIO}: ${result.target.met ? 'met' : 'NOT met'}.`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().then(
  () => process.exit(0),
  async (err: unknown) => {
    process.stderr.write(`[bench] failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    await stopSharedControlPlane().catch(() => undefined);
    process.exit(1);
  },
);
