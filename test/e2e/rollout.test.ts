// Rollout truth on the real node: a checkpoint is Deployed only once its pods are all available,
// and a rollout whose pods never come up goes back to the rollback point by itself, with the
// pods' own reasons in status and in the audit trail, while other checkpoints go on. The operator
// runs in the cluster as a platform team installs it (deploy/ plus scripts/local); the sample
// inference Deployment's real pods fetch their model from the pod network's store.
//
// The faults are real ones: the bytes behind a validated URI replaced before the pods fetch them
// (a moved tag, a corrupted upload: the pods' digest check fails, exit 3, a crash loop), and a
// store that sends headers and then nothing (the pods stay live and never Ready).
import assert from 'node:assert/strict';
import path from 'node:path';
import { CONDITION, getCondition } from '../../src/api/conditions.js';
import { REASON } from '../../src/api/reasons.js';
import { ANNOTATIONS, type ModelCheckpoint } from '../../src/api/types.js';
import { freshNamespace } from '../harness/controlplane.js';
import { apply, checkpoint, getJson } from '../harness/fixtures.js';
import { ensureProjectImage } from '../harness/image.js';
import { classifierModel, randomWeights, tempDir, weightsOnlyUpdate, writeArtifact, type WrittenFile } from '../harness/models.js';
import { sharedNodeCluster, type NodeCluster } from '../harness/nodecluster.js';
import { phaseIs, waitForCheckpoint } from '../harness/operator.js';
import { ensureInClusterOperator, operatorLogs, outcomesSecret, ready, rolloutStatus, sampleDeployment, type Pod } from '../harness/pods.js';
import { waitFor } from '../harness/process.js';
import { startModelStore, type ModelStore } from '../harness/store.js';

interface Deploy {
  spec: { template: { spec: { containers: Array<{ name: string; env?: Array<{ name: string; value?: string }> }> } } };
}
interface EventList {
  items: Array<{ reason?: string; type?: string; note?: string; regarding?: { name?: string; kind?: string } }>;
}

const SELECTOR = 'app.kubernetes.io/name=ranker';
const envOf = (d: Deploy): Record<string, string | undefined> =>
  Object.fromEntries((d.spec.template.spec.containers.find((c) => c.name === 'server')?.env ?? []).map((e) => [e.name, e.value]));

describe('e2e: rollout truth, on real pods', function () {
  this.timeout(900_000);
  let c: NodeCluster;
  let store: ModelStore;
  let dir: string;
  let v1Bytes: Uint8Array;
  let v2Bytes: Uint8Array;
  const namespaces: string[] = [];

  before(async function () {
    this.timeout(1_800_000);
    c = await sharedNodeCluster();
    c.node.importImage(ensureProjectImage());
    dir = await tempDir('modelgate-rollout-');
    store = await startModelStore(c.node, path.join(dir, 'store'));
    await ensureInClusterOperator(c);
    const base = randomWeights(4, 3, 1);
    v1Bytes = classifierModel({ features: 4, classes: 3, weights: base.weights, bias: base.bias });
    const next = weightsOnlyUpdate(base, 0.01, 5);
    v2Bytes = classifierModel({ features: 4, classes: 3, weights: next.weights, bias: next.bias });
  });

  after(async function () {
    this.timeout(180_000);
    // The inference pods go, so they do not load the node for the suites after this one.
    for (const ns of namespaces) await c.cp.kubectl(['-n', ns, 'delete', 'deployment/ranker', '--ignore-not-found', '--wait=true', '--timeout=90s']);
    await store?.stop();
  });

  async function inStore(name: string, bytes: Uint8Array): Promise<WrittenFile> {
    const w = await writeArtifact(dir, name, bytes);
    return { ...w, uri: store.put(w.path) };
  }

  /** A namespace whose sample Deployment serves v1 with the v1 checkpoint Healthy; v2 in the store. */
  async function setup(prefix: string): Promise<{ ns: string; a1: WrittenFile; a2: WrittenFile; storeName: string }> {
    const ns = await freshNamespace(c.cp, prefix);
    namespaces.push(ns);
    const storeName = `${ns}-v2.onnx`;
    const [a1, a2] = await Promise.all([inStore(`${ns}-v1.onnx`, v1Bytes), inStore(storeName, v2Bytes)]);
    await apply(c.cp, ns, outcomesSecret(), sampleDeployment('ranker', a1.uri, a1.digest, 'v1'));
    await rolloutStatus(c, ns, 'ranker');
    await apply(c.cp, ns, checkpoint('v1', a1));
    await when(ns, 'v1', phaseIs('Healthy'), 240_000);
    return { ns, a1, a2, storeName };
  }

  async function why(ns: string, name: string): Promise<string> {
    const now = await getJson<ModelCheckpoint>(c.cp, ns, 'modelcheckpoint', name).catch(() => undefined);
    const pods = (await c.cp.kubectl(['-n', ns, 'get', 'pods', '-o', 'wide'])).stdout;
    return `\n${name}: ${now?.status?.phase} rollout ${JSON.stringify(now?.status?.rollout)}\nconditions: ${JSON.stringify(now?.status?.conditions)}\npods:\n${pods}\noperator:\n${(await operatorLogs(c)).slice(-3000)}`;
  }
  const when = (ns: string, name: string, ok: (cp: ModelCheckpoint) => boolean, timeoutMs: number): Promise<ModelCheckpoint> =>
    waitForCheckpoint(c.cp, ns, name, ok, timeoutMs).catch(async (err: unknown) => {
      throw new Error(`${(err as Error).message}${await why(ns, name)}`);
    });

  /** v2, validated and held (autoDeploy false) so the test can break its store before the pods fetch. */
  async function heldV2(ns: string, a2: WrittenFile, rollout: Record<string, unknown>): Promise<ModelCheckpoint> {
    await apply(c.cp, ns, checkpoint('v2', a2, { rollout: { autoDeploy: false, ...rollout } }));
    const held = await when(ns, 'v2', (x) => x.status?.phase === 'Validated' && getCondition(x.status.conditions, CONDITION.reconciling)?.reason === REASON.AutoDeployDisabled, 240_000);
    return held;
  }
  const promote = async (ns: string, cp: ModelCheckpoint): Promise<void> => {
    const r = await c.cp.kubectl(['-n', ns, 'annotate', 'modelcheckpoint/v2', `${ANNOTATIONS.promote}=${cp.metadata.generation}`, '--overwrite']);
    assert.equal(r.code, 0, r.stderr);
  };

  /** What a rollout failure must leave: RolledBack for RolloutFailed, never Deployed, v1 back and serving, the audit and an Event. */
  async function assertRolledBack(ns: string, a1: WrittenFile, v2: ModelCheckpoint): Promise<void> {
    assert.equal(getCondition(v2.status?.conditions, CONDITION.ready)?.reason, REASON.RolloutFailed);
    assert.equal(getCondition(v2.status?.conditions, CONDITION.stalled)?.status, 'True');
    assert.ok(!(v2.status?.history ?? []).some((h) => h.phase === 'Deployed'), `never Deployed: ${JSON.stringify(v2.status?.history?.map((h) => h.phase))}`);
    assert.equal(v2.status?.rolledBackGeneration, v2.metadata.generation);
    const d = await getJson<Deploy>(c.cp, ns, 'deployment', 'ranker');
    assert.equal(envOf(d).MODEL_DIGEST, a1.digest);
    assert.equal(envOf(d).MODEL_VERSION, 'v1');
    // v1 is back in production once its pods are, and they serve.
    await when(ns, 'v1', phaseIs('Healthy'), 240_000);
    await rolloutStatus(c, ns, 'ranker', 240);
    const pods = (await getJson<{ items: Pod[] }>(c.cp, ns, 'pods', '-l', SELECTOR)).items.filter((p) => !p.metadata.deletionTimestamp);
    assert.ok(pods.length === 2 && pods.every((p) => ready(p) && p.metadata.annotations?.[ANNOTATIONS.version] === 'v1'), JSON.stringify(pods.map((p) => p.metadata.annotations?.[ANNOTATIONS.version])));
    const audit = await getJson<{ data?: Record<string, string> }>(c.cp, ns, 'configmap', 'modelgate-audit-ranker');
    const rollback = Object.values(audit.data ?? {}).map((v) => JSON.parse(v) as Record<string, unknown>).find((e) => e.action === 'rollback');
    assert.ok(rollback, `an audit entry for the rollback: ${JSON.stringify(audit.data)}`);
    assert.equal(rollback.reason, REASON.RolloutFailed);
    assert.equal(rollback.from, 'v2');
    assert.equal(rollback.to, 'v1');
    assert.deepEqual((rollback.rollout as { problems: unknown[] }).problems, v2.status?.rollout?.problems);
    const events = (await getJson<EventList>(c.cp, ns, 'events.v1.events.k8s.io')).items.filter((e) => e.regarding?.kind === 'ModelCheckpoint' && e.regarding.name === 'v2');
    assert.ok(events.some((e) => e.type === 'Warning' && e.reason === REASON.RolloutFailed && /rollout failed/.test(e.note ?? '')), JSON.stringify(events.map((e) => [e.reason, e.note])));
  }

  it('a checkpoint is Deployed only after every new pod is Ready and available', async () => {
    const { ns, a2 } = await setup('avail');
    await apply(c.cp, ns, checkpoint('v2', a2));
    const v2 = await when(ns, 'v2', phaseIs('Healthy', 'RolledBack', 'Failed', 'Rejected'), 300_000);
    assert.equal(v2.status?.phase, 'Healthy');
    assert.equal(v2.status?.rollout?.state, 'Available');
    assert.deepEqual([v2.status?.rollout?.desired, v2.status?.rollout?.updated, v2.status?.rollout?.available], [2, 2, 2]);
    // The Deployed entry comes after the last new pod turned Ready (times in whole seconds).
    const deployedAt = Date.parse(v2.status?.history?.find((h) => h.phase === 'Deployed')?.time ?? '');
    const pods = (await getJson<{ items: Pod[] }>(c.cp, ns, 'pods', '-l', SELECTOR)).items
      .filter((p) => !p.metadata.deletionTimestamp && p.metadata.annotations?.[ANNOTATIONS.version] === 'v2');
    assert.equal(pods.length, 2);
    const lastReady = Math.max(...pods.map((p) => Date.parse(p.status.conditions?.find((x) => x.type === 'Ready' && x.status === 'True')?.lastTransitionTime ?? 'x')));
    assert.ok(Number.isFinite(lastReady) && Number.isFinite(deployedAt), `${lastReady} ${deployedAt}`);
    assert.ok(deployedAt >= lastReady - 999, `Deployed at ${new Date(deployedAt).toISOString()}, last pod Ready at ${new Date(lastReady).toISOString()}`);
    // Deploying said how far the rollout was while it waited.
    const deploying = v2.status?.history?.find((h) => h.phase === 'Deploying');
    assert.ok(deploying, JSON.stringify(v2.status?.history));
  });

  it('rolls back by itself a rollout whose pods crash-loop (the bytes behind the URI changed after validation), quoting the pods, while another checkpoint goes on', async () => {
    const [bad, good] = await Promise.all([setup('crash'), setup('steady')]);
    const held = await heldV2(bad.ns, bad.a2, { maxRestarts: 2 });
    // Other bytes under the validated URI: the pods' fetch fails its digest check and exits 3.
    const corrupt = Uint8Array.from(v2Bytes);
    corrupt[corrupt.length - 1] = corrupt[corrupt.length - 1]! ^ 0xff;
    store.overwrite(bad.storeName, corrupt);
    await promote(bad.ns, held);
    // Meanwhile a good checkpoint in another namespace goes all the way.
    await apply(c.cp, good.ns, checkpoint('v2', good.a2));

    const v2 = await when(bad.ns, 'v2', phaseIs('RolledBack', 'Healthy', 'Failed'), 400_000);
    assert.equal(v2.status?.phase, 'RolledBack', await why(bad.ns, 'v2'));
    assert.equal(v2.status?.rollout?.state, 'Failed');
    assert.equal(v2.status?.rollout?.reason, 'CrashLoopBackOff');
    const p = v2.status?.rollout?.problems[0];
    assert.equal(p?.reason, 'CrashLoopBackOff');
    assert.equal(p?.container, 'server');
    assert.equal(p?.exitCode, 3);
    assert.ok((p?.restarts ?? 0) >= 2, JSON.stringify(p));
    // The pod's own words (its termination message: the server's last log line).
    assert.match(p?.message ?? '', /DigestMismatch/);
    assert.match(getCondition(v2.status?.conditions, CONDITION.ready)?.message ?? '', /rollout failed \(CrashLoopBackOff\).*exit code 3.*back on v1/);
    await assertRolledBack(bad.ns, bad.a1, v2);
    const other = await when(good.ns, 'v2', phaseIs('Healthy', 'RolledBack', 'Failed', 'Rejected'), 300_000);
    assert.equal(other.status?.phase, 'Healthy');
  });

  it('rolls back by itself a rollout whose pods never become Ready (a store that stalls), at spec.rollout.progressDeadlineSeconds', async () => {
    const bad = await setup('stuck');
    const held = await heldV2(bad.ns, bad.a2, { progressDeadlineSeconds: 30 });
    store.hang(bad.storeName);
    await promote(bad.ns, held);
    const deploying = await when(bad.ns, 'v2', (x) => x.status?.phase === 'Deploying' && x.status.rollout !== undefined, 120_000);
    assert.equal(deploying.status?.rollout?.state, 'Progressing');
    const v2 = await when(bad.ns, 'v2', phaseIs('RolledBack', 'Healthy', 'Failed'), 240_000);
    assert.equal(v2.status?.phase, 'RolledBack', await why(bad.ns, 'v2'));
    assert.equal(v2.status?.rollout?.reason, 'ProgressDeadlineExceeded');
    assert.match(v2.status?.rollout?.message ?? '', /progressDeadlineSeconds \(30 s\) passed with 0\/2 pods available/);
    assert.equal(v2.status?.rollout?.problems[0]?.reason, 'NotReady');
    // It failed at the deadline, not before: from the patch to the rollback took at least 30 s.
    const started = Date.parse(v2.status?.deployment?.deployedAt ?? '');
    const rolled = Date.parse(v2.status?.history?.find((h) => h.phase === 'RolledBack')?.time ?? '');
    assert.ok(rolled - started >= 29_000, `${rolled - started} ms`);
    await assertRolledBack(bad.ns, bad.a1, v2);
    // The stalled store still holds the connections of pods that are gone; nothing waits on them.
    await waitFor('the v2 pods to be gone', async () => {
      const pods = (await getJson<{ items: Pod[] }>(c.cp, bad.ns, 'pods', '-l', SELECTOR)).items;
      return pods.every((x) => x.metadata.annotations?.[ANNOTATIONS.version] === 'v1') ? true : undefined;
    }, 120_000, 1000);
  });
});
