// The live guard end to end on the real node: the operator as a platform team installs it
// (deploy/ plus scripts/local: two pods of the project's image, querying Prometheus at
// http://10.244.0.1:9090), the sample inference Deployment's real pods fetching their model from
// the pod network's model store, Prometheus in the pod network finding them with kubernetes_sd,
// and the pod-network load generator, whose conversion rate depends on the model version each
// pod reports serving.
import assert from 'node:assert/strict';
import path from 'node:path';
import { CONDITION, getCondition } from '../../src/api/conditions.js';
import { ANNOTATIONS, type AnalysisMetricSpec, type AnalysisSpec, type ModelCheckpoint } from '../../src/api/types.js';
import { AnalysisReasons } from '../../src/api/reasons.js';
import { PrometheusClient } from '../../src/monitor/prometheus.js';
import { freshNamespace } from '../harness/controlplane.js';
import { apply, checkpoint, getJson } from '../harness/fixtures.js';
import { ensureProjectImage } from '../harness/image.js';
import { classifierModel, randomWeights, tempDir, weightsOnlyUpdate, writeArtifact, type WrittenFile } from '../harness/models.js';
import { sharedNodeCluster, type NodeCluster } from '../harness/nodecluster.js';
import { phaseIs, waitForCheckpoint } from '../harness/operator.js';
import { startPodNetworkLoad, type PodNetworkLoad } from '../harness/podnetwork.js';
import { ensureInClusterOperator, operatorLogs, outcomesSecret, ready, rolloutHistory, rolloutStatus, sampleDeployment, type Pod } from '../harness/pods.js';
import { waitFor } from '../harness/process.js';
import { startPodNetworkPrometheus, type PrometheusHandle } from '../harness/prometheus.js';
import { startModelStore, type ModelStore } from '../harness/store.js';

/** Conversions per click of the version being served: v1's rate, and 40% less for a bad model. */
const CVR = 0.5;
const CVR_BAD = 0.6 * CVR;

/**
 * Conversions per click over the last two scrapes of one version's pods. The pods' series carry
 * `model` and `version` themselves and `namespace` from kubernetes_sd (each test has its own).
 */
const selector = 'namespace="{{namespace}}",model="{{model}}",version="{{version}}"';
const CONVERSION_QUERY =
  `sum(irate(modelgate_outcome_conversions_total{${selector}}[10s])) / sum(irate(modelgate_outcome_clicks_total{${selector}}[10s]))`;

function conversionMetric(extra: Partial<AnalysisMetricSpec> = {}): AnalysisMetricSpec {
  return {
    name: 'conversion-rate',
    query: CONVERSION_QUERY,
    direction: 'HigherIsBetter',
    maxRelativeDegradation: 0.2,
    failureLimit: 0,
    // Until the new version's pods have fetched their model, become Ready and been scraped twice,
    // its series has no value: those measurements are Inconclusive (a real rollout takes a while).
    inconclusiveLimit: 120,
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

const envOf = (d: Deploy): Record<string, string | undefined> =>
  Object.fromEntries((d.spec.template.spec.containers.find((c) => c.name === 'server')?.env ?? []).map((e) => [e.name, e.value]));

const SELECTOR = 'app.kubernetes.io/name=ranker';

describe('e2e: the live guard, on real pods', function () {
  this.timeout(600_000);
  let c: NodeCluster;
  let store: ModelStore;
  let prom: PrometheusHandle;
  let prometheus: PrometheusClient;
  let dir: string;
  let v1Bytes: Uint8Array;
  let v2Bytes: Uint8Array;
  // Per test:
  let ns: string | undefined;
  let load: PodNetworkLoad | undefined;

  before(async function () {
    this.timeout(1_800_000);
    c = await sharedNodeCluster();
    c.node.importImage(ensureProjectImage());
    dir = await tempDir('modelgate-guard-');
    store = await startModelStore(c.node, path.join(dir, 'store'));
    await ensureInClusterOperator(c);
    // Where the operator's pods look (scripts/local): 10.244.0.1:9090. Only one Prometheus can
    // listen there; this suite's goes in after(). This process asks it through the host relay.
    prom = await startPodNetworkPrometheus(c, { scrapeInterval: 1 });
    assert.equal(prom.podNetworkUrl, 'http://10.244.0.1:9090');
    prometheus = new PrometheusClient({ url: prom.url, timeoutMs: 3000 });
    const base = randomWeights(4, 3, 1);
    v1Bytes = classifierModel({ features: 4, classes: 3, weights: base.weights, bias: base.bias });
    // A weights-only update: same graph, same signature, passes every gate.
    const next = weightsOnlyUpdate(base, 0.01, 5);
    v2Bytes = classifierModel({ features: 4, classes: 3, weights: next.weights, bias: next.bias });
  });

  after(async function () {
    this.timeout(120_000);
    await load?.stop();
    await prom?.stop();
    await store?.stop();
  });

  afterEach(async function () {
    this.timeout(120_000);
    await load?.stop();
    load = undefined;
    // The test's inference pods go, so they do not load the node for the next tests.
    if (ns) await c.cp.kubectl(['-n', ns, 'delete', 'deployment/ranker', '--ignore-not-found', '--wait=true', '--timeout=90s']);
    ns = undefined;
  });

  /** The model as a file in the pod network's store: what a checkpoint and the pods name. */
  async function inStore(name: string, bytes: Uint8Array): Promise<WrittenFile> {
    const w = await writeArtifact(dir, name, bytes);
    return { ...w, uri: store.put(w.path) };
  }

  const namespace = (): string => {
    if (!ns) throw new Error('no namespace: setup() first');
    return ns;
  };

  /**
   * Resolves once the Deployment has rolled out and takes traffic only on pods the checkpoint
   * version `version` was deployed as (their template says so): both replicas Ready, none other
   * left, and the load generator, if running, sending to exactly those.
   */
  async function servingOnly(version: string, timeoutMs = 180_000): Promise<Pod[]> {
    await rolloutStatus(c, namespace(), 'ranker', Math.round(timeoutMs / 1000));
    return waitFor(`only ${version} pods to serve`, async () => {
      const pods = (await getJson<{ items: Pod[] }>(c.cp, namespace(), 'pods', '-l', SELECTOR)).items.filter((p) => !p.metadata.deletionTimestamp);
      if (pods.length !== 2 || !pods.every((p) => ready(p) && p.metadata.annotations?.[ANNOTATIONS.version] === version)) return undefined;
      const names = pods.map((p) => p.metadata.name).sort();
      if (load && load.pods().map((p) => p.name).sort().join() !== names.join()) return undefined;
      return pods;
    }, timeoutMs, 500).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; load generator pods ${JSON.stringify(load?.pods())}`);
    });
  }

  const history = (): Promise<string[]> => rolloutHistory(c, namespace(), 'ranker');

  /**
   * A namespace with the sample Deployment's pods serving v1 (as first applied), then the v1
   * checkpoint Healthy and its pods serving with load on them. Pods reporting a version in
   * `cvrByVersion` convert at that rate, the others at CVR.
   */
  async function setup(prefix: string, cvrByVersion: Record<string, number> = {}, quietMs = 0): Promise<{ a1: WrittenFile; a2: WrittenFile; v1: ModelCheckpoint }> {
    ns = await freshNamespace(c.cp, prefix);
    const [a1, a2] = await Promise.all([inStore(`${ns}-v1.onnx`, v1Bytes), inStore(`${ns}-v2.onnx`, v2Bytes)]);
    await apply(c.cp, ns, outcomesSecret(), sampleDeployment('ranker', a1.uri, a1.digest, 'v1'));
    await rolloutStatus(c, ns, 'ranker');
    const startTraffic = (): Promise<PodNetworkLoad> =>
      startPodNetworkLoad(c, { namespace: namespace(), selector: SELECTOR, port: 8080, model: 'ranker', rate: 60, clickThroughRate: 0.5, conversionRate: CVR, conversionRateByVersion: cvrByVersion, durationMs: 10 * 60_000 });
    // Traffic from the first pods on, so every scrape of v1 sees clicks, unless the test asks for
    // a quiet spell.
    if (quietMs === 0) load = await startTraffic();
    await apply(c.cp, ns, checkpoint('v1', a1));
    const v1 = await waitForCheckpoint(c.cp, ns, 'v1', phaseIs('Healthy'), 240_000);
    await servingOnly('v1');
    if (quietMs > 0) {
      // A quiet spell: v1 is scraped with no outcomes at all, so its conversion rate is 0/0 = NaN.
      await new Promise((r) => setTimeout(r, quietMs));
      load = await startTraffic();
    }
    return { a1, a2, v1 };
  }

  /** The conversion rate Prometheus has for one version of this test's pods, once it has one. */
  async function conversionRate(version: string, ok: (v: number) => boolean, timeoutMs = 60_000): Promise<number> {
    const q = CONVERSION_QUERY.replaceAll('{{namespace}}', namespace()).replaceAll('{{model}}', 'ranker').replaceAll('{{version}}', version);
    let last: number | undefined;
    return waitFor(`Prometheus to have the conversion rate of ${version}`, async () => {
      const r = await prometheus.query(q);
      const v = r.kind === 'vector' && r.samples.length === 1 ? r.samples[0]!.value : undefined;
      last = v;
      return v !== undefined && Number.isFinite(v) && ok(v) ? v : undefined;
    }, timeoutMs, 250).catch((err: unknown) => {
      throw new Error(`${(err as Error).message} (last ${last}); load ${JSON.stringify({ ...load?.stats(), perTarget: load?.stats().perTarget })}`);
    });
  }

  /**
   * Waits until the operator's default baseline for v1 (its series averaged over the window
   * before now, a subquery with whole-second steps) has a value: a series only a scrape or two
   * old has an instant value but no subquery point yet.
   */
  async function baselineReady(): Promise<number> {
    const q = CONVERSION_QUERY.replaceAll('{{namespace}}', namespace()).replaceAll('{{model}}', 'ranker').replaceAll('{{version}}', 'v1');
    return waitFor('v1\'s baseline window to have points', async () => {
      const r = await prometheus.query(`avg_over_time(((${q}) >= -Inf)[600s:])`);
      const v = r.kind === 'vector' && r.samples.length === 1 ? r.samples[0]!.value : undefined;
      return v !== undefined && Math.abs(v - CVR) < 0.05 ? v : undefined;
    }, 60_000, 250);
  }

  /** A failure message with what the guard and the operator were doing. */
  async function why(name: string): Promise<string> {
    const now = await getJson<ModelCheckpoint>(c.cp, namespace(), 'modelcheckpoint', name).catch(() => undefined);
    return `\n${name}: ${now?.status?.phase} ${JSON.stringify(now?.status?.analysis)}\nconditions: ${JSON.stringify(now?.status?.conditions)}\noperator:\n${(await operatorLogs(c)).slice(-3000)}`;
  }
  const checkpointWhen = async (name: string, ok: (cp: ModelCheckpoint) => boolean, timeoutMs: number): Promise<ModelCheckpoint> =>
    waitForCheckpoint(c.cp, namespace(), name, ok, timeoutMs).catch(async (err: unknown) => {
      throw new Error(`${(err as Error).message}${await why(name)}`);
    });

  const deploymentNow = (): Promise<Deploy> => getJson<Deploy>(c.cp, namespace(), 'deployment', 'ranker');
  const checkpointNow = (name: string): Promise<ModelCheckpoint> => getJson<ModelCheckpoint>(c.cp, namespace(), 'modelcheckpoint', name);
  const eventsOf = async (name: string): Promise<EventList['items']> =>
    (await getJson<EventList>(c.cp, namespace(), 'events.v1.events.k8s.io')).items.filter((e) => e.regarding?.kind === 'ModelCheckpoint' && e.regarding.name === name);
  const auditEntries = async (): Promise<Array<Record<string, unknown>>> => {
    const cm = await getJson<ConfigMap>(c.cp, namespace(), 'configmap', 'modelgate-audit-ranker');
    return Object.values(cm.data ?? {}).map((v) => JSON.parse(v) as Record<string, unknown>);
  };
  /** The Deployment's pods that are not on their way out (a replaced pod may still be terminating). */
  const podNames = async (): Promise<string[]> =>
    (await getJson<{ items: Pod[] }>(c.cp, namespace(), 'pods', '-l', SELECTOR)).items.filter((p) => !p.metadata.deletionTimestamp).map((p) => p.metadata.name).sort();

  it('rolls a 40% conversion drop back to the previous checkpoint, and never redeploys the rolled-back spec', async () => {
    const { a1, a2, v1 } = await setup('guard', { v2: CVR_BAD });
    const ns = namespace();
    const v1Rate = await conversionRate('v1', (v) => Math.abs(v - CVR) < 0.05);
    assert.ok(Math.abs(v1Rate - CVR) < 0.05, `v1 converts at ${v1Rate}`);
    await baselineReady();

    // The first measurement waits until v2's pods have had traffic for a few scrapes: v2 is
    // Monitoring from the moment its pods are available, when the load generator may have sent
    // them a few clicks and no conversion yet (an irate of 0, not v2's rate).
    const analysis: AnalysisSpec = { intervalSeconds: 2, initialDelaySeconds: 8, durationSeconds: 240, metrics: [conversionMetric()] };
    const v2Manifest = checkpoint('v2', a2, { analysis });
    await apply(c.cp, ns, v2Manifest);
    const monitoring = await checkpointWhen('v2', phaseIs('Monitoring', 'RolledBack', 'Rejected', 'Failed'), 240_000);
    assert.notEqual(monitoring.status?.phase, 'Rejected', 'a weights-only update passes validation');
    assert.equal(monitoring.status?.deployment?.rollbackPoint?.checkpoint, 'v1');
    assert.equal(monitoring.status?.deployment?.rollbackPoint?.digest, a1.digest);

    const rolledBack = await checkpointWhen('v2', phaseIs('RolledBack'), 240_000);
    // The Deployment runs v1 again, and its pods rolled back to v1.
    const d = await deploymentNow();
    assert.equal(envOf(d).MODEL_DIGEST, a1.digest);
    assert.equal(envOf(d).MODEL_VERSION, 'v1');
    assert.equal(envOf(d).MODEL_URI, a1.uri);
    assert.equal(d.metadata.annotations?.[ANNOTATIONS.rolledBackFrom], rolledBack.metadata.uid);
    await servingOnly('v1');
    assert.deepEqual(await history(), ['v1', 'v2', 'v1']);

    // The measurement that decided it: the value, the baseline (v1's series) and the query.
    const failed = rolledBack.status?.analysis?.measurements?.filter((m) => m.phase === 'Failed') ?? [];
    assert.ok(failed.length >= 1, `a Failed measurement: ${JSON.stringify(rolledBack.status?.analysis)}`);
    const m = failed[failed.length - 1]!;
    assert.equal(m.metric, 'conversion-rate');
    assert.ok(m.value !== undefined && Math.abs(m.value - CVR_BAD) < 0.07, `value ${m.value} ≈ ${CVR_BAD}`);
    assert.ok(m.baseline !== undefined && Math.abs(m.baseline - CVR) < 0.07, `baseline ${m.baseline} ≈ ${CVR}`);
    assert.match(m.query ?? '', new RegExp(`namespace="${ns}",model="ranker",version="v2"`));
    assert.equal(rolledBack.status?.analysis?.counts?.['conversion-rate']?.failed, 1);
    assert.ok(rolledBack.status?.analysis?.decision?.startsWith('Rollback'), rolledBack.status?.analysis?.decision);
    assert.equal(getCondition(rolledBack.status?.conditions, CONDITION.deployed)?.status, 'False');
    assert.equal(rolledBack.status?.rolledBackGeneration, rolledBack.metadata.generation);

    // v1 is live again.
    const back = await checkpointWhen('v1', phaseIs('Healthy'), 60_000);
    assert.equal(back.metadata.uid, v1.metadata.uid);
    assert.ok(back.status?.history?.some((h) => h.phase === 'Superseded'), 'v1 was superseded by v2 in between');
    assert.ok(back.status?.history?.some((h) => h.phase === 'Deployed' && h.reason === 'RolledBackTo'), JSON.stringify(back.status?.history));

    // An Event on v2 names the rollback; the audit trail holds it with the numbers.
    await waitFor('the rollback Event on v2', async () => {
      const evs = await eventsOf('v2');
      return evs.some((e) => e.type === 'Warning' && e.action === 'RolledBack' && /back on v1/.test(e.note ?? '')) ? true : undefined;
    }, 30_000);
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
    const pods = await podNames();
    await apply(c.cp, ns, v2Manifest);
    const touch = await c.cp.kubectl(['label', '-n', ns, 'modelcheckpoint/v2', 'reapplied=yes']);
    assert.equal(touch.code, 0, touch.stderr);
    await new Promise((r) => setTimeout(r, 5000));
    const still = await checkpointNow('v2');
    assert.equal(still.status?.phase, 'RolledBack');
    const after = await deploymentNow();
    assert.equal(after.metadata.generation, generation, 'the Deployment spec did not change');
    assert.equal(envOf(after).MODEL_DIGEST, a1.digest);
    assert.deepEqual(await history(), ['v1', 'v2', 'v1'], 'no new revision was rolled out');
    assert.deepEqual(await podNames(), pods, 'no new pods were rolled');
    assert.equal((await auditEntries()).filter((e) => e.action === 'deploy' && e.checkpoint === 'v2').length, 1);
  });

  it('takes the baseline from the previous version even when its series had a quiet spell (NaN) before the rollout', async () => {
    // No traffic while v1's pods start and for the first seconds of v1's checkpoint (no clicks:
    // the ratio is NaN there), then normal traffic; the baseline window before v2's rollout
    // covers both.
    const { a2 } = await setup('quiet', { v2: CVR_BAD }, 4000);
    await conversionRate('v1', (v) => Math.abs(v - CVR) < 0.05);
    // Until the window before now averages to v1's rate: with only the first scrapes after the
    // quiet spell in it (irate's first points lag), a loaded machine gave 0.375 for 0.5.
    await baselineReady();
    await apply(c.cp, namespace(), checkpoint('v2', a2, { analysis: { intervalSeconds: 1, durationSeconds: 240, metrics: [conversionMetric()] } }));
    // Until it is rolled back, or v2 has been measured with a value 8 times without that.
    const judged = await checkpointWhen('v2', (cp) => {
      const n = cp.status?.analysis?.counts?.['conversion-rate'];
      return phaseIs('RolledBack', 'Rejected', 'Failed')(cp) || (n !== undefined && n.successful + n.failed >= 8);
    }, 240_000);
    const baseline = judged.status?.analysis?.baseline?.['conversion-rate'];
    assert.ok(baseline !== undefined && Math.abs(baseline - CVR) < 0.07,
      `v1's conversion rate before the rollout (${CVR}) is the baseline, NaN points of the quiet spell left out; got ${baseline}, measurements ${JSON.stringify(judged.status?.analysis?.measurements?.slice(-2))}`);
    assert.equal(judged.status?.phase, 'RolledBack', await why('v2'));
  });

  it('holds while Prometheus is down (no rollback, no promotion) and resumes measuring when it is back', async () => {
    const { a2 } = await setup('outage');
    await conversionRate('v1', (v) => Math.abs(v - CVR) < 0.05);
    await baselineReady();
    // The window outlasts v2's rollout (its pods fetch the model, become Ready, are scraped) and
    // the outage below starts within it.
    const windowS = 90;
    // initialDelaySeconds: v2's pods get traffic for a few scrapes before the first measurement.
    const analysis: AnalysisSpec = { intervalSeconds: 1, initialDelaySeconds: 8, durationSeconds: windowS, metrics: [conversionMetric()] };
    await apply(c.cp, namespace(), checkpoint('v2', a2, { analysis }));
    await checkpointWhen('v2', (cp) => (cp.status?.analysis?.counts?.['conversion-rate']?.successful ?? 0) >= 1 || phaseIs('RolledBack', 'Healthy', 'Rejected', 'Failed')(cp), 240_000);
    const measuring = await checkpointNow('v2');
    assert.equal(measuring.status?.phase, 'Monitoring', `a healthy v2 is measured successfully before the outage${await why('v2')}`);
    const startedAt = Date.parse(measuring.status?.analysis?.startedAt ?? '');
    assert.ok(Number.isFinite(startedAt));

    // Prometheus dies where the operator's pods look for it (10.244.0.1:9090).
    await prom.kill();
    assert.equal(prom.running(), false);
    const killedAt = Date.now();
    const held = await checkpointWhen('v2', (cp) => getCondition(cp.status?.conditions, CONDITION.analysis)?.reason === AnalysisReasons.ErrorLimitExceeded, 60_000);
    const cond = getCondition(held.status?.conditions, CONDITION.analysis)!;
    assert.equal(cond.status, 'False');
    assert.match(cond.message, /unreachable/i);
    assert.match(cond.message, new RegExp(prom.podNetworkUrl!.replace(/[.]/g, '\\.')));
    assert.ok((held.status?.analysis?.counts?.['conversion-rate']?.error ?? 0) > 3, 'the errorLimit (3) has passed');
    assert.ok(held.status?.analysis?.measurements?.some((x) => x.phase === 'Error' && Date.parse(x.at) >= killedAt - 1000));
    await waitFor('a Hold Event on v2', async () => ((await eventsOf('v2')).some((e) => e.action === 'Hold' && e.reason === AnalysisReasons.ErrorLimitExceeded) ? true : undefined), 30_000);

    // Outlast the window while Prometheus stays down: no promotion, and no rollback.
    const windowEnd = startedAt + windowS * 1000 + 2000;
    if (Date.now() < windowEnd) await new Promise((r) => setTimeout(r, windowEnd - Date.now()));
    const during = await checkpointNow('v2');
    assert.equal(during.status?.phase, 'Monitoring');
    assert.equal(getCondition(during.status?.conditions, CONDITION.analysis)?.status, 'False');
    assert.equal(envOf(await deploymentNow()).MODEL_VERSION, 'v2');
    assert.deepEqual(await history(), ['v1', 'v2']);

    // Back on the same address with the same data; it finds the pods again.
    await prom.restart();
    assert.equal(prom.running(), true);
    const restartedAt = Date.now();
    const resumed = await checkpointWhen('v2', (cp) => (cp.status?.analysis?.measurements ?? []).some((x) => x.phase === 'Successful' && Date.parse(x.at) >= restartedAt), 90_000);
    const after = resumed.status?.analysis?.measurements?.find((x) => x.phase === 'Successful' && Date.parse(x.at) >= restartedAt);
    assert.ok(after?.value !== undefined && Math.abs(after.value - CVR) < 0.08, JSON.stringify(after));
    assert.equal(resumed.status?.analysis?.counts?.['conversion-rate']?.error, 0, 'an answer resets the consecutive errors');
    // With the window passed and the newest measurement Successful, the guard promotes v2.
    const healthy = await checkpointWhen('v2', phaseIs('Healthy', 'RolledBack'), 60_000);
    assert.equal(healthy.status?.phase, 'Healthy');
    assert.equal(envOf(await deploymentNow()).MODEL_VERSION, 'v2');
    assert.deepEqual(await history(), ['v1', 'v2']);
  });

  it('rolls back by annotation to the rollback point, and holds with NoRollbackPoint on a first checkpoint', async () => {
    const { a1, a2, v1 } = await setup('manual');
    const ns = namespace();

    // v1 is the first checkpoint of the target: nothing to roll back to.
    const before = await deploymentNow();
    const ask1 = await c.cp.kubectl(['annotate', '-n', ns, 'modelcheckpoint/v1', `${ANNOTATIONS.rollbackRequest}=true`]);
    assert.equal(ask1.code, 0, ask1.stderr);
    const heldV1 = await checkpointWhen('v1', (cp) => getCondition(cp.status?.conditions, CONDITION.analysis)?.reason === 'NoRollbackPoint', 60_000);
    assert.equal(heldV1.status?.phase, 'Healthy');
    assert.equal(getCondition(heldV1.status?.conditions, CONDITION.analysis)?.status, 'False');
    assert.match(getCondition(heldV1.status?.conditions, CONDITION.analysis)?.message ?? '', /no rollback point/);
    await waitFor('the rollback annotation on v1 to be cleared', async () => ((await checkpointNow('v1')).metadata.annotations?.[ANNOTATIONS.rollbackRequest] === undefined ? true : undefined), 30_000);
    await waitFor('a NoRollbackPoint Event on v1', async () => ((await eventsOf('v1')).some((e) => e.reason === 'NoRollbackPoint') ? true : undefined), 30_000);
    const untouched = await deploymentNow();
    assert.equal(untouched.metadata.generation, before.metadata.generation);
    assert.deepEqual(untouched.metadata.annotations, before.metadata.annotations);
    assert.deepEqual(envOf(untouched), envOf(before));
    assert.equal((await checkpointNow('v1')).status?.phase, 'Healthy');
    assert.deepEqual(await history(), ['v1']);

    // v2 (no analysis) goes Healthy; then a person asks for a rollback.
    await apply(c.cp, ns, checkpoint('v2', a2));
    const v2 = await checkpointWhen('v2', phaseIs('Healthy', 'Rejected', 'Failed'), 240_000);
    assert.equal(v2.status?.phase, 'Healthy');
    assert.equal(v2.status?.deployment?.rollbackPoint?.uid, v1.metadata.uid);
    await servingOnly('v2');
    const ask2 = await c.cp.kubectl(['annotate', '-n', ns, 'modelcheckpoint/v2', `${ANNOTATIONS.rollbackRequest}=true`]);
    assert.equal(ask2.code, 0, ask2.stderr);
    const rolledBack = await checkpointWhen('v2', phaseIs('RolledBack'), 60_000);
    assert.equal(getCondition(rolledBack.status?.conditions, CONDITION.ready)?.reason, 'RollbackRequested');
    assert.equal(rolledBack.metadata.annotations?.[ANNOTATIONS.rollbackRequest], undefined, 'the request is cleared once handled');
    const d = await deploymentNow();
    assert.equal(envOf(d).MODEL_DIGEST, a1.digest);
    assert.equal(envOf(d).MODEL_VERSION, 'v1');
    await servingOnly('v1');
    assert.deepEqual(await history(), ['v1', 'v2', 'v1']);
    await checkpointWhen('v1', phaseIs('Healthy'), 60_000);
    const rb = (await auditEntries()).find((e) => e.action === 'rollback');
    assert.equal(rb?.reason, 'RollbackRequested');
    assert.equal(rb?.from, 'v2');
    assert.equal(rb?.to, 'v1');
  });
});
