// The live guard end to end: the real control plane (apiserver, etcd, controller manager), the
// operator in this process, a real Prometheus scraping real inference servers that the pod
// runner (a kubelet stand-in) starts from the Deployment's env, and a load generator whose
// conversion rate depends on the version being served.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { CONDITION, getCondition } from '../../src/api/conditions.js';
import { ANNOTATIONS, type AnalysisMetricSpec, type AnalysisSpec, type ModelCheckpoint } from '../../src/api/types.js';
import { AnalysisReasons } from '../../src/monitor/analysis.js';
import { PrometheusClient } from '../../src/monitor/prometheus.js';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../harness/controlplane.js';
import { apply, checkpoint, getJson, inferenceDeployment } from '../harness/fixtures.js';
import { startLoad, type LoadGenerator } from '../harness/loadgen.js';
import { classifierModel, randomWeights, tempDir, weightsOnlyUpdate, writeArtifact, type WrittenFile } from '../harness/models.js';
import { phaseIs, startTestOperator, waitForCheckpoint, type TestOperator } from '../harness/operator.js';
import { startPodRunner, type PodRunner } from '../harness/podrunner.js';
import { waitFor } from '../harness/process.js';
import { startPrometheus, type PrometheusHandle } from '../harness/prometheus.js';

/** Conversions per click of the version being served: v1's rate, and 40% less for a bad model. */
const CVR = 0.5;
const CVR_BAD = 0.6 * CVR;

/** Conversions per click over the last two scrapes of one version's pods. */
const selector = 'namespace="{{namespace}}",deployment="{{deployment}}",version="{{version}}"';
const CONVERSION_QUERY =
  `sum(irate(modelgate_outcome_conversions_total{${selector}}[10s])) / sum(irate(modelgate_outcome_clicks_total{${selector}}[10s]))`;

function conversionMetric(extra: Partial<AnalysisMetricSpec> = {}): AnalysisMetricSpec {
  return {
    name: 'conversion-rate',
    query: CONVERSION_QUERY,
    direction: 'HigherIsBetter',
    maxRelativeDegradation: 0.2,
    failureLimit: 0,
    // The new version's series needs two scrapes before it has a value: those are Inconclusive.
    inconclusiveLimit: 30,
    ...extra,
  };
}

interface Deploy {
  metadata: { generation: number; resourceVersion: string; annotations?: Record<string, string> };
  spec: { template: { spec: { containers: Array<{ name: string; env?: Array<{ name: string; value?: string }> }> } } };
}
interface EventList {
  items: Array<{ reason?: string; action?: string; type?: string; note?: string; regarding?: { name?: string; kind?: string } }>;
}
interface ConfigMap {
  data?: Record<string, string>;
}

/** The inference Deployment, with MODEL_NAME so the server's `model` label is the checkpoint's model. */
function rankerDeployment(): Record<string, unknown> {
  const d = inferenceDeployment('ranker') as { spec: { template: { spec: { containers: Array<{ env: Array<{ name: string; value: string }> }> } } } };
  d.spec.template.spec.containers[0]!.env.push({ name: 'MODEL_NAME', value: 'ranker' });
  return d as unknown as Record<string, unknown>;
}

const envOf = (d: Deploy): Record<string, string | undefined> =>
  Object.fromEntries((d.spec.template.spec.containers.find((c) => c.name === 'server')?.env ?? []).map((e) => [e.name, e.value]));

describe('e2e: the live guard', function () {
  this.timeout(240_000);
  let cp: ControlPlane;
  let prom: PrometheusHandle;
  let prometheus: PrometheusClient;
  let op: TestOperator;
  let dir: string;
  let v1Bytes: Uint8Array;
  let v2Bytes: Uint8Array;
  // Per test:
  let ns: string;
  let runner: PodRunner | undefined;
  let load: LoadGenerator | undefined;

  before(async function () {
    this.timeout(300_000);
    [cp, prom, dir] = await Promise.all([sharedControlPlane(), startPrometheus({ scrapeInterval: 1 }), tempDir('modelgate-guard-')]);
    prometheus = new PrometheusClient({ url: prom.url, timeoutMs: 3000 });
    op = await startTestOperator(cp, { fileRoots: [dir], prometheusUrl: prom.url });
    const base = randomWeights(4, 3, 1);
    v1Bytes = classifierModel({ features: 4, classes: 3, weights: base.weights, bias: base.bias });
    // A weights-only update: same graph, same signature, passes every gate.
    const next = weightsOnlyUpdate(base, 0.01, 5);
    v2Bytes = classifierModel({ features: 4, classes: 3, weights: next.weights, bias: next.bias });
  });

  after(async function () {
    this.timeout(60_000);
    await op?.stop();
    await prom?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  afterEach(async function () {
    this.timeout(30_000);
    await load?.stop();
    await runner?.stop();
    load = undefined;
    runner = undefined;
  });

  /** A namespace with the Deployment, its pod runner, and v1 Healthy with load on it. */
  async function setup(prefix: string, cvrFor: (version: string) => number, quietMs = 0): Promise<{ a1: WrittenFile; a2: WrittenFile; v1: ModelCheckpoint }> {
    ns = await freshNamespace(cp, prefix);
    await apply(cp, ns, rankerDeployment());
    runner = await startPodRunner(cp, ns, 'ranker', {
      prometheus: prom,
      job: `inference-${ns}`,
      onServe: (pod) => load?.setConversionRate(cvrFor(pod.version)),
    });
    const [a1, a2] = await Promise.all([writeArtifact(dir, `${ns}-v1.onnx`, v1Bytes), writeArtifact(dir, `${ns}-v2.onnx`, v2Bytes)]);
    const startTraffic = (): LoadGenerator =>
      startLoad({ url: runner!.url, model: 'ranker', rate: 60, clickThroughRate: 0.5, conversionRate: cvrFor('v1'), durationMs: 10 * 60_000 });
    // Traffic from the first moment a pod serves (the Service answers 503 until then), so every
    // scrape of v1 sees clicks, unless the test asks for a quiet spell.
    if (quietMs === 0) load = startTraffic();
    await apply(cp, ns, checkpoint('v1', a1));
    const v1 = await waitForCheckpoint(cp, ns, 'v1', phaseIs('Healthy'), 90_000);
    await runner.waitForVersion('v1', 30_000);
    if (quietMs > 0) {
      // A quiet spell: v1 is scraped with no outcomes at all, so its conversion rate is 0/0 = NaN.
      await new Promise((r) => setTimeout(r, quietMs));
      load = startTraffic();
    }
    return { a1, a2, v1 };
  }

  /** The conversion rate Prometheus has for one version of this test's Deployment, once it has one. */
  async function conversionRate(version: string, ok: (v: number) => boolean, timeoutMs = 20_000): Promise<number> {
    const q = CONVERSION_QUERY.replaceAll('{{namespace}}', ns).replaceAll('{{deployment}}', 'ranker').replaceAll('{{version}}', version);
    return waitFor(`Prometheus to have the conversion rate of ${version}`, async () => {
      const r = await prometheus.query(q);
      const v = r.kind === 'vector' && r.samples.length === 1 ? r.samples[0]!.value : undefined;
      return v !== undefined && Number.isFinite(v) && ok(v) ? v : undefined;
    }, timeoutMs, 250);
  }

  /**
   * Waits until the operator's default baseline for v1 (its series averaged over the window
   * before now, a subquery with whole-second steps) has a value: a series only a scrape or two
   * old has an instant value but no subquery point yet.
   */
  async function baselineReady(): Promise<number> {
    const q = CONVERSION_QUERY.replaceAll('{{namespace}}', ns).replaceAll('{{deployment}}', 'ranker').replaceAll('{{version}}', 'v1');
    return waitFor('v1\'s baseline window to have points', async () => {
      const r = await prometheus.query(`avg_over_time((${q})[600s:])`);
      const v = r.kind === 'vector' && r.samples.length === 1 ? r.samples[0]!.value : undefined;
      return v !== undefined && Math.abs(v - CVR) < 0.05 ? v : undefined;
    }, 20_000, 250);
  }

  const deploymentNow = (): Promise<Deploy> => getJson<Deploy>(cp, ns, 'deployment', 'ranker');
  const checkpointNow = (name: string): Promise<ModelCheckpoint> => getJson<ModelCheckpoint>(cp, ns, 'modelcheckpoint', name);
  const eventsOf = async (name: string): Promise<EventList['items']> =>
    (await getJson<EventList>(cp, ns, 'events.v1.events.k8s.io')).items.filter((e) => e.regarding?.kind === 'ModelCheckpoint' && e.regarding.name === name);
  const auditEntries = async (): Promise<Array<Record<string, unknown>>> => {
    const cm = await getJson<ConfigMap>(cp, ns, 'configmap', 'modelgate-audit-ranker');
    return Object.values(cm.data ?? {}).map((v) => JSON.parse(v) as Record<string, unknown>);
  };

  it('rolls a 40% conversion drop back to the previous checkpoint, and never redeploys the rolled-back spec', async () => {
    const { a1, a2, v1 } = await setup('guard', (version) => (version === 'v2' ? CVR_BAD : CVR));
    const v1Rate = await conversionRate('v1', (v) => Math.abs(v - CVR) < 0.05);
    assert.ok(Math.abs(v1Rate - CVR) < 0.05, `v1 converts at ${v1Rate}`);
    await baselineReady();

    const analysis: AnalysisSpec = { intervalSeconds: 2, durationSeconds: 120, metrics: [conversionMetric()] };
    const v2Manifest = checkpoint('v2', a2, { analysis });
    await apply(cp, ns, v2Manifest);
    const monitoring = await waitForCheckpoint(cp, ns, 'v2', phaseIs('Monitoring', 'RolledBack', 'Rejected', 'Failed'), 90_000);
    assert.notEqual(monitoring.status?.phase, 'Rejected', 'a weights-only update passes validation');
    assert.equal(monitoring.status?.deployment?.rollbackPoint?.checkpoint, 'v1');
    assert.equal(monitoring.status?.deployment?.rollbackPoint?.digest, a1.digest);

    const rolledBack = await waitForCheckpoint(cp, ns, 'v2', phaseIs('RolledBack'), 90_000);
    // The Deployment runs v1 again, and the pod runner rolled to a fresh v1 pod.
    const d = await deploymentNow();
    assert.equal(envOf(d).MODEL_DIGEST, a1.digest);
    assert.equal(envOf(d).MODEL_VERSION, 'v1');
    assert.equal(envOf(d).MODEL_URI, a1.uri);
    assert.equal(d.metadata.annotations?.[ANNOTATIONS.rolledBackFrom], rolledBack.metadata.uid);
    await runner!.waitForVersion('v1', 30_000);
    assert.deepEqual(runner!.history(), ['v1', 'v2', 'v1']);

    // The measurement that decided it: the value, the baseline (v1's series) and the query.
    const failed = rolledBack.status?.analysis?.measurements?.filter((m) => m.phase === 'Failed') ?? [];
    assert.ok(failed.length >= 1, `a Failed measurement: ${JSON.stringify(rolledBack.status?.analysis)}`);
    const m = failed[failed.length - 1]!;
    assert.equal(m.metric, 'conversion-rate');
    assert.ok(m.value !== undefined && Math.abs(m.value - CVR_BAD) < 0.07, `value ${m.value} ≈ ${CVR_BAD}`);
    assert.ok(m.baseline !== undefined && Math.abs(m.baseline - CVR) < 0.07, `baseline ${m.baseline} ≈ ${CVR}`);
    assert.match(m.query ?? '', new RegExp(`namespace="${ns}",deployment="ranker",version="v2"`));
    assert.equal(rolledBack.status?.analysis?.counts?.['conversion-rate']?.failed, 1);
    assert.ok(rolledBack.status?.analysis?.decision?.startsWith('Rollback'), rolledBack.status?.analysis?.decision);
    assert.equal(getCondition(rolledBack.status?.conditions, CONDITION.deployed)?.status, 'False');
    assert.equal(rolledBack.status?.rolledBackGeneration, rolledBack.metadata.generation);

    // v1 is live again.
    const back = await waitForCheckpoint(cp, ns, 'v1', phaseIs('Healthy'), 30_000);
    assert.equal(back.metadata.uid, v1.metadata.uid);
    assert.ok(back.status?.history?.some((h) => h.phase === 'Superseded'), 'v1 was superseded by v2 in between');
    assert.ok(back.status?.history?.some((h) => h.phase === 'Deployed' && h.reason === 'RolledBackTo'), JSON.stringify(back.status?.history));

    // An Event on v2 names the rollback; the audit trail holds it with the numbers.
    await waitFor('the rollback Event on v2', async () => {
      const evs = await eventsOf('v2');
      return evs.some((e) => e.type === 'Warning' && e.action === 'RolledBack' && /back on v1/.test(e.note ?? '')) ? true : undefined;
    }, 10_000);
    const entries = await auditEntries();
    const rb = entries.find((e) => e.action === 'rollback');
    assert.ok(rb, `a rollback entry in the audit ConfigMap: ${JSON.stringify(entries)}`);
    assert.equal(rb.from, 'v2');
    assert.equal(rb.to, 'v1');
    assert.equal(rb.toVersion, 'v1');
    assert.ok(Array.isArray(rb.measurements) && (rb.measurements as Array<{ phase?: string }>).some((x) => x.phase === 'Failed'), JSON.stringify(rb));
    assert.ok(entries.some((e) => e.action === 'deploy' && e.checkpoint === 'v2'), 'the deploy of v2 is in the audit trail too');

    // Re-applying v2's unchanged manifest (and touching its metadata to force a reconcile)
    // deploys nothing: the rolled-back generation stays out until its spec changes.
    const generation = d.metadata.generation;
    await apply(cp, ns, v2Manifest);
    const touch = await cp.kubectl(['label', '-n', ns, 'modelcheckpoint/v2', 'reapplied=yes']);
    assert.equal(touch.code, 0, touch.stderr);
    await new Promise((r) => setTimeout(r, 5000));
    const still = await checkpointNow('v2');
    assert.equal(still.status?.phase, 'RolledBack');
    const after = await deploymentNow();
    assert.equal(after.metadata.generation, generation, 'the Deployment spec did not change');
    assert.equal(envOf(after).MODEL_DIGEST, a1.digest);
    assert.deepEqual(runner!.history(), ['v1', 'v2', 'v1'], 'no new pods were rolled');
    assert.equal((await auditEntries()).filter((e) => e.action === 'deploy' && e.checkpoint === 'v2').length, 1);
  });

  it('takes the baseline from the previous version even when its series had a quiet spell (NaN) before the rollout', async () => {
    // No traffic for the first seconds of v1 (no clicks: the ratio is NaN there), then normal
    // traffic; the baseline window before v2's rollout covers both.
    const { a2 } = await setup('quiet', (version) => (version === 'v2' ? CVR_BAD : CVR), 4000);
    await conversionRate('v1', (v) => Math.abs(v - CVR) < 0.05);
    await new Promise((r) => setTimeout(r, 3000));
    await apply(cp, ns, checkpoint('v2', a2, { analysis: { intervalSeconds: 1, durationSeconds: 120, metrics: [conversionMetric()] } }));
    const judged = await waitForCheckpoint(cp, ns, 'v2', (c) => {
      const n = c.status?.analysis?.counts?.['conversion-rate'];
      return phaseIs('RolledBack', 'Rejected', 'Failed')(c) || (n !== undefined && n.successful + n.failed + n.inconclusive >= 8);
    }, 90_000);
    const baseline = judged.status?.analysis?.baseline?.['conversion-rate'];
    assert.ok(baseline !== undefined && Math.abs(baseline - CVR) < 0.07,
      `v1's conversion rate before the rollout (${CVR}) is the baseline, NaN points of the quiet spell left out; got ${baseline}, measurements ${JSON.stringify(judged.status?.analysis?.measurements?.slice(-2))}`);
    assert.equal(judged.status?.phase, 'RolledBack');
  });

  it('holds while Prometheus is down (no rollback, no promotion) and resumes measuring when it is back', async () => {
    const { a2 } = await setup('outage', () => CVR);
    await conversionRate('v1', (v) => Math.abs(v - CVR) < 0.05);
    await baselineReady();
    const analysis: AnalysisSpec = { intervalSeconds: 1, durationSeconds: 25, metrics: [conversionMetric()] };
    await apply(cp, ns, checkpoint('v2', a2, { analysis }));
    await waitForCheckpoint(cp, ns, 'v2', (c) => (c.status?.analysis?.counts?.['conversion-rate']?.successful ?? 0) >= 1 || phaseIs('RolledBack', 'Healthy', 'Rejected', 'Failed')(c), 90_000);
    const measuring = await checkpointNow('v2');
    assert.equal(measuring.status?.phase, 'Monitoring', 'a healthy v2 is measured successfully before the outage');
    const startedAt = Date.parse(measuring.status?.analysis?.startedAt ?? '');
    assert.ok(Number.isFinite(startedAt));

    await prom.kill();
    const killedAt = Date.now();
    const held = await waitForCheckpoint(cp, ns, 'v2', (c) => getCondition(c.status?.conditions, CONDITION.analysis)?.reason === AnalysisReasons.ErrorLimitExceeded, 30_000);
    const cond = getCondition(held.status?.conditions, CONDITION.analysis)!;
    assert.equal(cond.status, 'False');
    assert.match(cond.message, /unreachable/i);
    assert.match(cond.message, new RegExp(prom.url.replace(/[.]/g, '\\.')));
    assert.ok((held.status?.analysis?.counts?.['conversion-rate']?.error ?? 0) > 3, 'the errorLimit (3) has passed');
    assert.ok(held.status?.analysis?.measurements?.some((x) => x.phase === 'Error' && Date.parse(x.at) >= killedAt - 1000));
    await waitFor('a Hold Event on v2', async () => ((await eventsOf('v2')).some((e) => e.action === 'Hold' && e.reason === AnalysisReasons.ErrorLimitExceeded) ? true : undefined), 10_000);

    // Outlast the 25 s window while Prometheus stays down: no promotion, and no rollback.
    const windowEnd = startedAt + 25_000 + 2000;
    if (Date.now() < windowEnd) await new Promise((r) => setTimeout(r, windowEnd - Date.now()));
    const during = await checkpointNow('v2');
    assert.equal(during.status?.phase, 'Monitoring');
    assert.equal(getCondition(during.status?.conditions, CONDITION.analysis)?.status, 'False');
    assert.equal(envOf(await deploymentNow()).MODEL_VERSION, 'v2');
    assert.deepEqual(runner!.history(), ['v1', 'v2']);

    await prom.restart();
    const restartedAt = Date.now();
    const resumed = await waitForCheckpoint(cp, ns, 'v2', (c) => (c.status?.analysis?.measurements ?? []).some((x) => x.phase === 'Successful' && Date.parse(x.at) >= restartedAt), 30_000);
    const after = resumed.status?.analysis?.measurements?.find((x) => x.phase === 'Successful' && Date.parse(x.at) >= restartedAt);
    assert.ok(after?.value !== undefined && Math.abs(after.value - CVR) < 0.08, JSON.stringify(after));
    assert.equal(resumed.status?.analysis?.counts?.['conversion-rate']?.error, 0, 'an answer resets the consecutive errors');
    // With the window passed and the newest measurement Successful, the guard promotes v2.
    const healthy = await waitForCheckpoint(cp, ns, 'v2', phaseIs('Healthy', 'RolledBack'), 30_000);
    assert.equal(healthy.status?.phase, 'Healthy');
    assert.equal(envOf(await deploymentNow()).MODEL_VERSION, 'v2');
    assert.deepEqual(runner!.history(), ['v1', 'v2']);
  });

  it('rolls back by annotation to the rollback point, and holds with NoRollbackPoint on a first checkpoint', async () => {
    const { a1, a2, v1 } = await setup('manual', () => CVR);

    // v1 is the first checkpoint of the target: nothing to roll back to.
    const before = await deploymentNow();
    const ask1 = await cp.kubectl(['annotate', '-n', ns, 'modelcheckpoint/v1', `${ANNOTATIONS.rollbackRequest}=true`]);
    assert.equal(ask1.code, 0, ask1.stderr);
    const heldV1 = await waitForCheckpoint(cp, ns, 'v1', (c) => getCondition(c.status?.conditions, CONDITION.analysis)?.reason === 'NoRollbackPoint', 30_000);
    assert.equal(heldV1.status?.phase, 'Healthy');
    assert.equal(getCondition(heldV1.status?.conditions, CONDITION.analysis)?.status, 'False');
    assert.match(getCondition(heldV1.status?.conditions, CONDITION.analysis)?.message ?? '', /no rollback point/);
    await waitFor('the rollback annotation on v1 to be cleared', async () => ((await checkpointNow('v1')).metadata.annotations?.[ANNOTATIONS.rollbackRequest] === undefined ? true : undefined), 10_000);
    await waitFor('a NoRollbackPoint Event on v1', async () => ((await eventsOf('v1')).some((e) => e.reason === 'NoRollbackPoint') ? true : undefined), 10_000);
    const untouched = await deploymentNow();
    assert.equal(untouched.metadata.generation, before.metadata.generation);
    assert.deepEqual(untouched.metadata.annotations, before.metadata.annotations);
    assert.deepEqual(envOf(untouched), envOf(before));
    assert.equal((await checkpointNow('v1')).status?.phase, 'Healthy');

    // v2 (no analysis) goes Healthy; then a person asks for a rollback.
    await apply(cp, ns, checkpoint('v2', a2));
    const v2 = await waitForCheckpoint(cp, ns, 'v2', phaseIs('Healthy', 'Rejected', 'Failed'), 90_000);
    assert.equal(v2.status?.phase, 'Healthy');
    assert.equal(v2.status?.deployment?.rollbackPoint?.uid, v1.metadata.uid);
    await runner!.waitForVersion('v2', 30_000);
    const ask2 = await cp.kubectl(['annotate', '-n', ns, 'modelcheckpoint/v2', `${ANNOTATIONS.rollbackRequest}=true`]);
    assert.equal(ask2.code, 0, ask2.stderr);
    const rolledBack = await waitForCheckpoint(cp, ns, 'v2', phaseIs('RolledBack'), 30_000);
    assert.equal(getCondition(rolledBack.status?.conditions, CONDITION.ready)?.reason, 'RollbackRequested');
    assert.equal(rolledBack.metadata.annotations?.[ANNOTATIONS.rollbackRequest], undefined, 'the request is cleared once handled');
    const d = await deploymentNow();
    assert.equal(envOf(d).MODEL_DIGEST, a1.digest);
    assert.equal(envOf(d).MODEL_VERSION, 'v1');
    await runner!.waitForVersion('v1', 30_000);
    assert.deepEqual(runner!.history(), ['v1', 'v2', 'v1']);
    await waitForCheckpoint(cp, ns, 'v1', phaseIs('Healthy'), 30_000);
    const rb = (await auditEntries()).find((e) => e.action === 'rollback');
    assert.equal(rb?.reason, 'RollbackRequested');
    assert.equal(rb?.from, 'v2');
    assert.equal(rb?.to, 'v1');
  });
});
