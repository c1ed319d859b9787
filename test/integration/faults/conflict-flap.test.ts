// Every status write of a checkpoint deployed through a storm of 409s. Another client bumps the
// target Deployment's resourceVersion in a tight loop (merge patches of its own annotation), so
// the operator's conditional deploy patch meets conflicts and retries with fresh reads. A watch
// on each checkpoint records every version the apiserver holds: the new checkpoint's phase never
// goes backwards and never shows Superseded, RolledBack or the reason RolledBackTo; the one it
// replaces goes Superseded once and stays there. The conflict retries are counted and bounded,
// and the Deployment is patched exactly once.
import assert from 'node:assert/strict';
import type { ModelCheckpoint, Phase } from '../../../src/api/types.js';
import { paths } from '../../../src/kube/client.js';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../../harness/controlplane.js';
import { apiClient, counterValue, envOf, readDeployment, recordCheckpoint, revisions, waitForRevision, type CheckpointRecorder } from '../../harness/faults.js';
import { apply, checkpoint, inferenceDeployment } from '../../harness/fixtures.js';
import { classifierModel, tempDir, writeArtifact } from '../../harness/models.js';
import { startSlowProxy, type SlowProxy } from '../../harness/slowproxy.js';
import { phaseIs, startTestOperator, waitForCheckpoint, type TestOperator } from '../../harness/operator.js';

const ORDER: Phase[] = ['Pending', 'Fetching', 'Validating', 'Validated', 'Deploying', 'Deployed', 'Monitoring', 'Healthy'];

/** Consecutive distinct phases as the watch saw them (status writes that kept the phase collapse). */
function phasesOf(rec: CheckpointRecorder): string[] {
  const out: string[] = [];
  for (const v of rec.versions) {
    const p = v.status?.phase ?? '(none)';
    if (out.at(-1) !== p) out.push(p);
  }
  return out;
}

const reasonsOf = (v: ModelCheckpoint): string[] => [...(v.status?.conditions ?? []).map((c) => c.reason), ...(v.status?.history ?? []).map((h) => h.reason)];

describe('faults: the phase never flaps back through a storm of 409s on the deploy patch', function () {
  this.timeout(300_000);
  let cp: ControlPlane;
  let dir: string;
  let proxy: SlowProxy | undefined;

  before(async () => {
    cp = await sharedControlPlane();
    dir = await tempDir('modelgate-flap-');
  });
  after(async () => {
    await proxy?.close();
  });

  it('every status write moves forward: no Superseded, no RolledBackTo; conflict retries bounded; one deploy patch', async () => {
    const op = await startTestOperator(cp, { fileRoots: [dir] });
    try {
      await scenario(op, 1);
    } finally {
      await op.stop();
    }
  });

  it('the same when the watch runs ahead of the operator\'s Deployment writes (their responses come 300 ms late, three writers)', async () => {
    proxy = await startSlowProxy(cp, { delayMs: 300, match: (method, url) => method === 'PATCH' && /\/deployments\/[^/?]+/.test(url) });
    const op = await startTestOperator(cp, { fileRoots: [dir], kubeconfig: proxy.kubeconfigPath });
    try {
      await scenario(op, 3);
    } finally {
      await op.stop();
    }
  });

  async function scenario(op: TestOperator, lanes: number): Promise<void> {
    const ns = await freshNamespace(cp, 'flap');
    await apply(cp, ns, inferenceDeployment('ranker'));
    await waitForRevision(cp, ns, '1');
    const a0 = await writeArtifact(dir, `${ns}-v0.onnx`, classifierModel({ features: 4, classes: 3, seed: 30 }));
    const a1 = await writeArtifact(dir, `${ns}-v1.onnx`, classifierModel({ features: 4, classes: 3, seed: 31 }));
    await apply(cp, ns, checkpoint('v0', a0));
    await waitForCheckpoint(cp, ns, 'v0', phaseIs('Healthy'), 120_000);
    await waitForRevision(cp, ns, '2');

    const rec1 = await recordCheckpoint(cp, ns, 'v1');
    const rec0 = await recordCheckpoint(cp, ns, 'v0');
    const deploysBefore = await counterValue(op.op.metrics.deploysTotal);
    const conflictsBefore = await counterValue(op.op.metrics.conflictRetriesTotal);
    const errorsBefore = await counterValue(op.op.metrics.reconcileErrorsTotal);

    const api = apiClient(cp, 'flap-writer');
    let stop = false;
    let writes = 0;
    const storm = async (): Promise<void> => {
      for (let i = 0; !stop; i++) {
        await api.patch(paths.deployment(ns, 'ranker'), { metadata: { annotations: { 'storm.example.com/counter': String(i) } } }, 'merge');
        writes++;
      }
    };
    let lane: Promise<void> | undefined;
    let done: ModelCheckpoint;
    try {
      // The storm runs from before v1 exists until it is Healthy (20 s at most, so a reconcile's
      // exponential backoff through it stays bounded): the claim and the deploy patch meet it.
      lane = Promise.all(Array.from({ length: lanes }, () => storm())).then(() => undefined);
      setTimeout(() => (stop = true), 20_000).unref();
      await new Promise((r) => setTimeout(r, 300));
      await apply(cp, ns, checkpoint('v1', a1));
      done = await waitForCheckpoint(cp, ns, 'v1', phaseIs('Healthy'), 150_000);
      stop = true;
      await lane;
      // Let the last reconciles the storm queued run and their writes reach the watch.
      await new Promise((r) => setTimeout(r, 3000));
    } finally {
      stop = true;
      await lane;
      rec1.stop();
      rec0.stop();
    }
    assert.ok(writes > 20, `the storm wrote (${writes} writes)`);

    const seen1 = phasesOf(rec1);
    for (let i = 1; i < seen1.length; i++) {
      assert.ok(ORDER.indexOf(seen1[i] as Phase) > ORDER.indexOf(seen1[i - 1] as Phase), `v1's phase went from ${seen1[i - 1]} to ${seen1[i]}: ${seen1.join(' → ')}`);
    }
    assert.equal(seen1.at(-1), 'Healthy', seen1.join(' → '));
    assert.ok(rec1.versions.every((v) => !['Superseded', 'RolledBack'].includes(v.status?.phase ?? '')), seen1.join(' → '));
    assert.ok(rec1.versions.every((v) => !reasonsOf(v).includes('RolledBackTo')), 'no status of v1 says RolledBackTo');
    assert.equal((done.status?.history ?? []).filter((h) => h.phase === 'Deployed').length, 1, JSON.stringify(done.status?.history));

    const seen0 = phasesOf(rec0);
    assert.deepEqual(seen0.filter((p) => p !== 'Healthy'), ['Superseded'], `v0 went Superseded once and stayed: ${seen0.join(' → ')}`);
    assert.ok(rec0.versions.every((v) => !reasonsOf(v).includes('RolledBackTo')), 'no status of v0 says RolledBackTo');

    assert.equal(await counterValue(op.op.metrics.deploysTotal) - deploysBefore, 1, 'the Deployment was patched once');
    const conflicts = await counterValue(op.op.metrics.conflictRetriesTotal) - conflictsBefore;
    const errors = await counterValue(op.op.metrics.reconcileErrorsTotal) - errorsBefore;
    assert.ok(conflicts >= 1, 'the storm caused conflicts the reconciler retried');
    // Each reconcile retries a conflict at most CONFLICT_RETRIES - 1 times, then the queue backs
    // off; a storm must not turn that into a retry per Deployment event.
    assert.ok(conflicts <= 40, `${conflicts} conflict retries (${errors} reconciles gave up) through ${writes} storm writes`);
    const d = (await readDeployment(cp, ns, 'ranker'))!;
    assert.equal(envOf(d).MODEL_DIGEST, a1.digest);
    await waitForRevision(cp, ns, '3');
    assert.deepEqual(await revisions(cp, ns), ['1', '2', '3'], 'one new ReplicaSet for v1');
  }
});
