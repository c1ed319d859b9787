// The operator as a platform team runs it: installed from deploy/ with kustomize (plus the local
// overlay, scripts/local), two replicas of the project's image as its ServiceAccount with only the
// shipped RBAC, one of them the leader. A checkpoint whose model sits in the pod network's model
// store is fetched by the operator pod, validated and deployed; the new ReplicaSet's pods fetch
// the same URI themselves and become Ready, and each one reports the digest it loaded.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ANNOTATIONS, type AnalysisSpec, type ModelCheckpoint } from '../../src/api/types.js';
import { freshNamespace } from '../harness/controlplane.js';
import { apply, getJson } from '../harness/fixtures.js';
import { ensureProjectImage } from '../harness/image.js';
import { classifierModel, sha256Digest, tempDir } from '../harness/models.js';
import { sharedNodeCluster, type NodeCluster } from '../harness/nodecluster.js';
import { phaseIs, waitForCheckpoint } from '../harness/operator.js';
import { waitFor } from '../harness/process.js';
import { startPodNetworkLoad, type PodNetworkLoad } from '../harness/podnetwork.js';
import { ensureInClusterOperator, expectPodsServing, outcomesSecret, portForward, ready, sampleDeployment, SYSTEM, type Pod } from '../harness/pods.js';
import { startPodNetworkPrometheus, type PrometheusHandle } from '../harness/prometheus.js';
import { startModelStore, type ModelStore } from '../harness/store.js';

describe('the operator in the cluster, on real pods', function () {
  this.timeout(900_000);
  let c: NodeCluster;
  let store: ModelStore;
  let dir: string;
  let prom: PrometheusHandle | undefined;
  let load: PodNetworkLoad | undefined;

  before(async function () {
    this.timeout(1_800_000);
    c = await sharedNodeCluster();
    c.node.importImage(ensureProjectImage());
    dir = await tempDir('modelgate-incluster-');
    store = await startModelStore(c.node, path.join(dir, 'store'));
    await ensureInClusterOperator(c);
  });

  after(async () => {
    await load?.stop();
    // Our Prometheus goes (only one can listen on 10.244.0.1:9090); the operator, the CRDs and
    // the node stay for the other node suites (the operator goes when the node stops).
    await prom?.stop();
    await store?.stop();
  });

  it('runs as two pods of deploy/ as its ServiceAccount, with only the shipped RBAC; one of them holds the Lease', async () => {
    const pods = (await getJson<{ items: Pod[] }>(c.cp, SYSTEM, 'pods', '-l', 'app.kubernetes.io/component=operator')).items.filter((p) => p.status.phase === 'Running');
    assert.equal(pods.length, 2, `two operator pods Running: ${pods.map((p) => p.metadata.name).join(', ')}`);
    assert.ok(pods.every(ready), 'both Ready (the standby is ready to take over)');
    for (const p of pods) {
      assert.equal(p.spec.serviceAccountName, 'modelgate-operator');
      assert.match(p.spec.containers[0]!.image, /modelgate:dev$/);
    }
    const holder = await waitFor('a leader', async () => {
      const r = await c.cp.kubectl(['-n', SYSTEM, 'get', 'lease', 'modelgate-operator', '-o', 'jsonpath={.spec.holderIdentity}']);
      return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
    }, 60_000, 500);
    assert.ok(pods.some((p) => p.metadata.name === holder), `the Lease is held by one of the pods (${holder})`);
    // Least privilege, as the apiserver itself judges it for the pods' identity.
    const sa = `system:serviceaccount:${SYSTEM}:modelgate-operator`;
    const checks: Array<[string, string, 'yes' | 'no', string?]> = [
      ['patch', 'deployments', 'yes'], ['delete', 'deployments', 'no'], ['create', 'pods', 'no'], ['list', 'secrets', 'no'],
      ['update', 'modelcheckpoints.modelgate.io', 'yes', 'status'], ['update', 'modelcheckpoints.modelgate.io', 'no'],
    ];
    for (const [verb, resource, allowed, sub] of checks) {
      const r = await c.cp.kubectl(['auth', 'can-i', verb, resource, ...(sub ? [`--subresource=${sub}`] : []), '--as', sa, '-n', 'default']);
      assert.equal(r.stdout.trim(), allowed, `${sa} can-i ${verb} ${resource}${sub ? `/${sub}` : ''}: ${r.stderr}`);
    }
  });

  const modelIn = (ns: string, name: string, seed: number): { uri: string; digest: string; sizeBytes: number } => {
    const bytes = classifierModel({ features: 4, classes: 3, seed });
    const file = path.join(dir, `${ns}-${name}`);
    writeFileSync(file, bytes);
    return { uri: store.put(file), digest: sha256Digest(bytes), sizeBytes: bytes.length };
  };
  const checkpointFor = (name: string, a: { uri: string; digest: string; sizeBytes: number }, analysis?: AnalysisSpec): ModelCheckpoint => ({
    apiVersion: 'modelgate.io/v1alpha1', kind: 'ModelCheckpoint', metadata: { name },
    spec: {
      model: 'ranker', version: name, artifact: a, target: { deployment: 'ranker', container: 'server' },
      validation: { benchmark: { batchSizes: [1], warmupRuns: 1, runs: 3 } },
      ...(analysis ? { analysis } : {}),
    },
  });

  it('deploys a checkpoint fetched over the pod network: the new ReplicaSet\'s pods fetch the same URI and report its digest', async () => {
    const ns = await freshNamespace(c.cp, 'incluster');
    const v1 = modelIn(ns, 'v1.onnx', 1);
    const v2 = modelIn(ns, 'v2.onnx', 2);
    await apply(c.cp, ns, outcomesSecret(), sampleDeployment('ranker', v1.uri, v1.digest, 'v1'));
    const first = await c.cp.kubectl(['-n', ns, 'rollout', 'status', 'deployment/ranker', '--timeout=180s']);
    assert.equal(first.code, 0, `${first.stderr}\n${(await c.cp.kubectl(['-n', ns, 'describe', 'pods'])).stdout}`);

    await apply(c.cp, ns, checkpointFor('v1', v1));
    await waitForCheckpoint(c.cp, ns, 'v1', phaseIs('Healthy'), 240_000);
    await apply(c.cp, ns, checkpointFor('v2', v2));
    const done = await waitForCheckpoint(c.cp, ns, 'v2', phaseIs('Healthy', 'Rejected', 'Failed'), 240_000);
    assert.equal(done.status?.phase, 'Healthy', JSON.stringify(done.status?.conditions));
    assert.equal(done.status?.validatedAgainst?.checkpoint, 'v1', 'validated against the checkpoint in production');
    assert.equal(done.status?.deployment?.rollbackPoint?.checkpoint, 'v1', 'the rollback point recorded before the patch');

    const rollout = await c.cp.kubectl(['-n', ns, 'rollout', 'status', 'deployment/ranker', '--timeout=180s']);
    assert.equal(rollout.code, 0, `${rollout.stderr}\n${(await c.cp.kubectl(['-n', ns, 'describe', 'pods'])).stdout}`);
    const pods = await expectPodsServing(c, ns, 'ranker', 'v2', v2.digest);
    // Over the network, never a shared disk: the operator pod and each inference pod asked the store.
    const fetched = (await store.requests()).filter((r) => r.method === 'GET' && r.path === new URL(v2.uri).pathname).map((r) => r.from.replace(/^::ffff:/, ''));
    const operatorIps = (await getJson<{ items: Pod[] }>(c.cp, SYSTEM, 'pods', '-l', 'app.kubernetes.io/component=operator')).items.map((p) => p.status.podIP);
    assert.ok(fetched.some((ip) => operatorIps.includes(ip)), `the operator pod fetched v2 itself (store saw ${fetched.join(', ')}; operator pods ${operatorIps.join(', ')})`);
    for (const p of pods) assert.ok(fetched.includes(p.status.podIP ?? '-'), `${p.metadata.name} (${p.status.podIP}) fetched v2 itself (store saw ${fetched.join(', ')})`);
  });

  it('rolls a live regression back on the pods\' real metrics: Prometheus in the pod network, found by kubernetes_sd', async () => {
    const ns = await freshNamespace(c.cp, 'liveguard');
    const cvr = (window: string): string =>
      `sum(rate(modelgate_outcome_conversions_total{namespace="{{namespace}}",model="{{model}}",version="{{version}}"}[${window}]))` +
      ` / sum(rate(modelgate_outcome_clicks_total{namespace="{{namespace}}",model="{{model}}",version="{{version}}"}[${window}]))`;
    const first: AnalysisSpec = { intervalSeconds: 2, durationSeconds: 8, metrics: [{ name: 'conversion-rate', query: cvr('10s'), direction: 'HigherIsBetter', min: 0.1, inconclusiveLimit: 30 }] };
    // The baseline is v1's series over the 30 s before v2's rollout: steady traffic only (each pod
    // replacement of v1 dips its ratio for a few seconds: clicks arrive before their conversions).
    const guarded: AnalysisSpec = { intervalSeconds: 2, initialDelaySeconds: 3, durationSeconds: 60, baselineWindowSeconds: 30, metrics: [{ name: 'conversion-rate', query: cvr('10s'), direction: 'HigherIsBetter', maxRelativeDegradation: 0.1, inconclusiveLimit: 30 }] };
    const v1 = modelIn(ns, 'v1.onnx', 11);
    const v2 = modelIn(ns, 'v2.onnx', 12);
    // The operator's pods query http://10.244.0.1:9090 (scripts/local); so does nothing else here
    // but this test, through the host relay.
    prom = await startPodNetworkPrometheus(c, { scrapeInterval: 1, namespaces: [ns] });
    await apply(c.cp, ns, outcomesSecret(), sampleDeployment('ranker', v1.uri, v1.digest, 'v1'));
    const up = await c.cp.kubectl(['-n', ns, 'rollout', 'status', 'deployment/ranker', '--timeout=180s']);
    assert.equal(up.code, 0, up.stderr);
    load = await startPodNetworkLoad(c, { namespace: ns, selector: 'app.kubernetes.io/name=ranker', port: 8080, model: 'ranker', rate: 30, durationMs: 600_000, clickThroughRate: 0.25, conversionRate: 0.3, conversionRateByVersion: { v2: 0.18 } });

    // Prometheus has found the serving pods and their series carry traffic before a guard reads them.
    const scraped = async (version: string): Promise<void> => {
      const serving = (await getJson<{ items: Pod[] }>(c.cp, ns, 'pods', '-l', 'app.kubernetes.io/name=ranker')).items.filter(ready).map((p) => p.metadata.name);
      await waitFor(`${version} clicks in Prometheus from ${serving.join(', ')}`, async () => {
        const r = await fetch(`${prom!.url}/api/v1/query?${new URLSearchParams({ query: `sum by (pod) (rate(modelgate_outcome_clicks_total{namespace="${ns}",version="${version}"}[10s]))` })}`);
        const body = (await r.json()) as { data: { result: Array<{ metric: { pod?: string }; value: [number, string] }> } };
        const pods = body.data.result.filter((x) => Number(x.value[1]) > 0).map((x) => x.metric.pod);
        return serving.every((p) => pods.includes(p)) ? true : undefined;
      }, 90_000, 1000);
    };
    await scraped('v1');

    await apply(c.cp, ns, checkpointFor('v1', v1, first));
    const v1Done = await waitForCheckpoint(c.cp, ns, 'v1', phaseIs('Healthy', 'RolledBack', 'Failed', 'Rejected'), 120_000).catch(async (err: unknown) => {
      const now = await getJson<ModelCheckpoint>(c.cp, ns, 'modelcheckpoint', 'v1');
      const logs = await c.cp.kubectl(['-n', SYSTEM, 'logs', '-l', 'app.kubernetes.io/component=operator', '--tail=20']);
      const series = await fetch(`${prom!.url}/api/v1/query?${new URLSearchParams({ query: `modelgate_outcome_clicks_total{namespace="${ns}"}` })}`).then((r) => r.text()).catch((e: unknown) => String(e));
      throw new Error(`${String(err)}\nanalysis: ${JSON.stringify(now.status?.analysis)}\nseries: ${series.slice(0, 1500)}\nload: ${JSON.stringify(load?.stats())}\noperator: ${logs.stdout.slice(-3000)}`);
    });
    assert.equal(v1Done.status?.phase, 'Healthy', JSON.stringify(v1Done.status?.analysis));
    const v1Rollout = await c.cp.kubectl(['-n', ns, 'rollout', 'status', 'deployment/ranker', '--timeout=180s']);
    assert.equal(v1Rollout.code, 0, v1Rollout.stderr);
    await scraped('v1'); // the pods the v1 checkpoint's deploy made: v2's baseline
    // ...once v1's ratio over the baseline window is its steady 0.3, past its pods' replacement.
    const v1Query = cvr('10s').replaceAll('{{namespace}}', ns).replaceAll('{{model}}', 'ranker').replaceAll('{{version}}', 'v1');
    await waitFor('v1\'s conversion rate over 30 s to be steady at 0.3', async () => {
      const r = await fetch(`${prom!.url}/api/v1/query?${new URLSearchParams({ query: `avg_over_time(((${v1Query}) >= -Inf)[30s:])` })}`);
      const body = (await r.json()) as { data: { result: Array<{ value: [number, string] }> } };
      const v = Number(body.data.result[0]?.value[1]);
      return Number.isFinite(v) && Math.abs(v - 0.3) < 0.03 ? true : undefined;
    }, 120_000, 1000);
    await apply(c.cp, ns, checkpointFor('v2', v2, guarded));
    // v2 converts worse in production: the load generator reports 40% fewer conversions from
    // the pods that say they serve v2 (from their first click on, so no v2 series mixes rates).
    const v2Done = await waitForCheckpoint(c.cp, ns, 'v2', phaseIs('RolledBack', 'Healthy'), 240_000);
    assert.equal(v2Done.status?.phase, 'RolledBack', JSON.stringify(v2Done.status?.analysis));
    const failed = [...(v2Done.status?.analysis?.measurements ?? [])].reverse().find((m) => m.phase === 'Failed');
    assert.ok(failed, 'the measurement that decided it is recorded');
    assert.equal(failed.metric, 'conversion-rate');
    assert.ok(failed.value !== undefined && failed.baseline !== undefined && failed.value < failed.baseline * 0.9, `value ${failed.value} vs baseline ${failed.baseline}`);
    // The pods' numbers: v1 converts at 0.3, v2 at 0.18. The deciding value is the first to cross
    // the threshold, so it sits anywhere between 0.18 and 0.9 × the baseline: a 10 s window holds
    // about 75 clicks here, one standard deviation of its ratio is 0.044 (a CI run saw 0.237).
    assert.ok(failed.baseline > 0.25 && failed.baseline < 0.35, `the baseline is v1's pods' rate (0.3): ${failed.baseline}`);
    assert.ok(failed.value > 0.05, `the value is v2's pods' rate (0.18), not an empty series: ${failed.value}`);

    // Back on v1, on real pods that fetched v1 again and report its digest.
    const d = await getJson<{ metadata: { annotations?: Record<string, string> }; spec: { template: { spec: { containers: Array<{ env: Array<{ name: string; value?: string }> }> } } } }>(c.cp, ns, 'deployment', 'ranker');
    assert.equal(d.metadata.annotations?.[ANNOTATIONS.checkpoint], 'v1');
    assert.equal(d.spec.template.spec.containers[0]!.env.find((e) => e.name === 'MODEL_DIGEST')?.value, v1.digest);
    const back = await c.cp.kubectl(['-n', ns, 'rollout', 'status', 'deployment/ranker', '--timeout=180s']);
    assert.equal(back.code, 0, back.stderr);
    const pods = await waitFor('only v1 pods again', async () => {
      const items = (await getJson<{ items: Pod[] }>(c.cp, ns, 'pods', '-l', 'app.kubernetes.io/name=ranker')).items;
      return items.length === 2 && items.every(ready) ? items : undefined;
    }, 120_000, 500);
    const pf = await portForward(c, ns, `pod/${pods[0]!.metadata.name}`, 8080);
    try {
      const meta = await waitFor('model metadata', async () => {
        const r = await fetch(`http://127.0.0.1:${pf.port}/v2/models/ranker`);
        return r.ok ? ((await r.json()) as { parameters?: { digest?: string } }) : undefined;
      }, 30_000, 500);
      assert.equal(meta.parameters?.digest, v1.digest);
    } finally {
      pf.stop();
    }
  });
});
