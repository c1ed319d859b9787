// The apiserver goes away in the middle of reconciles, and etcd is compacted under the
// operator's watches: informers re-list and recover, readiness says so meanwhile, and every
// checkpoint settles where it should.
import assert from 'node:assert/strict';
import { ANNOTATIONS, type ModelCheckpoint } from '../../../src/api/types.js';
import { paths } from '../../../src/kube/client.js';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../../harness/controlplane.js';
import { apiClient, counterValue, envOf, heavyClassifier, readDeployment, sampleReadiness, slowBenchmark, waitForRevision } from '../../harness/faults.js';
import { apply, checkpoint, getJson, inferenceDeployment } from '../../harness/fixtures.js';
import { classifierModel, tempDir, writeArtifact } from '../../harness/models.js';
import { phaseIs, startTestOperator, waitForCheckpoint, type TestOperator } from '../../harness/operator.js';
import { waitFor } from '../../harness/process.js';

describe('faults: apiserver restarts and etcd compaction', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let op: TestOperator;
  let dir: string;

  before(async () => {
    cp = await sharedControlPlane();
    dir = await tempDir('modelgate-faults-apiserver-');
    op = await startTestOperator(cp, { fileRoots: [dir] });
  });
  after(async () => {
    await op?.stop();
  });

  it('apiserver down for 2 s while checkpoints validate: readiness false meanwhile, informers recover, all deploy', async () => {
    const ns = await freshNamespace(cp, 'apisrv');
    const names = ['a', 'b', 'c'];
    await apply(cp, ns, ...names.map((n) => inferenceDeployment(`ranker-${n}`)));
    await waitFor('three ReplicaSets', async () => ((await getJson<{ items: unknown[] }>(cp, ns, 'replicasets')).items.length === 3 ? true : undefined), 30_000);
    const models = await Promise.all(names.map((n, i) => writeArtifact(dir, `${ns}-${n}.onnx`, heavyClassifier(10 + i))));
    await apply(cp, ns, ...names.map((n, i) => checkpoint(`v-${n}`, models[i]!, { deployment: `ranker-${n}`, validation: { benchmark: slowBenchmark(250) } })));
    await waitForCheckpoint(cp, ns, 'v-a', phaseIs('Validating'), 30_000);

    const deploysBefore = await counterValue(op.op.metrics.deploysTotal);
    const readiness = sampleReadiness(op.op.health.url, 100);
    await new Promise((r) => setTimeout(r, 300));
    const stopAt = Date.now();
    await cp.stopApiserver('SIGKILL');
    const downAt = Date.now();
    await new Promise((r) => setTimeout(r, 2000));
    const restartAt = Date.now();
    await cp.startApiserverAgain();
    const upAt = Date.now();

    const done = await Promise.all(names.map((n) => waitForCheckpoint(cp, ns, `v-${n}`, phaseIs('Healthy'), 90_000)));
    await waitFor('readiness back', async () => (readiness.samples.some((s) => s.at > upAt && s.ok) ? true : undefined), 30_000);
    await readiness.stop();

    assert.equal(await counterValue(op.op.metrics.deploysTotal) - deploysBefore, 3, 'each Deployment patched once');
    assert.ok(op.op.controller?.synced, 'informers synced again');
    for (const [i, n] of names.entries()) {
      const c = done[i]!;
      const d = (await readDeployment(cp, ns, `ranker-${n}`))!;
      assert.equal(envOf(d).MODEL_DIGEST, models[i]!.digest);
      assert.equal(d.metadata.annotations?.[ANNOTATIONS.checkpointUid], c.metadata.uid);
      assert.equal(c.status?.observedGeneration, c.metadata.generation);
      const trail = (c.status?.history ?? []).map((h) => `${h.phase}(${h.reason}: ${h.message})`).join(' → ');
      assert.equal((c.status?.history ?? []).filter((h) => h.phase === 'Deployed').length, 1, `v-${n} entered Deployed once: ${trail}`);
    }
    // Last, as it fails today: readiness must stay false for as long as the informers cannot reach the apiserver.
    const before = readiness.samples.filter((s) => s.at < stopAt);
    const down = readiness.samples.filter((s) => s.at >= downAt + 1000 && s.at < restartAt);
    assert.ok(before.length > 0 && before.every((s) => s.ok), `ready before the outage: ${JSON.stringify(readiness.samples.map((s) => [s.at - downAt, s.ok]))}`);
    assert.ok(down.length >= 5, 'sampled during the outage');
    const seen = readiness.samples.map((s) => `${s.at - downAt}:${s.ok ? 'T' : 'F'}`).join(' ');
    assert.ok(readiness.samples.some((s) => s.at >= stopAt && s.at < upAt && !s.ok), `/readyz turns false during the outage: ${seen}`);
    assert.ok(down.every((s) => !s.ok), `/readyz must be false while the apiserver is down (informers not connected); ms since the stop:readiness, the apiserver back from ${restartAt - downAt} ms (ready at ${upAt - downAt} ms): ${seen}`);
  });

  it('watches expire (etcd compacted past them, 410 Gone on re-watch): the operator re-lists and a new checkpoint deploys', async () => {
    const ns = await freshNamespace(cp, 'compact');
    await apply(cp, ns, inferenceDeployment('ranker'));
    await waitForRevision(cp, ns, '1');
    const v1 = await writeArtifact(dir, `${ns}-v1.onnx`, classifierModel({ features: 4, classes: 3, seed: 1 }));
    await apply(cp, ns, checkpoint('v1', v1));
    const healthy = await waitForCheckpoint(cp, ns, 'v1', phaseIs('Healthy'));
    const oldRv = healthy.metadata.resourceVersion!;

    // Many writes the operator's watches do not see (ConfigMaps), then compaction past all of them.
    const api = apiClient(cp);
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(Array.from({ length: 30 }, (_, i) => api.post(paths.configMaps(ns), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `noise-${batch}-${i}` }, data: { i: String(i) } })));
    }
    await cp.compactEtcd();
    const expired = await fetch(`${cp.etcdUrl}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('/').toString('base64'), revision: oldRv }) });
    const text = await expired.text();
    assert.match(text, /compacted/, `etcd no longer has revision ${oldRv}: ${text.slice(0, 200)}`);
    // A restart makes every watch reconnect from its last (now compacted) resourceVersion.
    await cp.stopApiserver('SIGKILL');
    await cp.startApiserverAgain();

    const deploysBefore = await counterValue(op.op.metrics.deploysTotal);
    const v2 = await writeArtifact(dir, `${ns}-v2.onnx`, classifierModel({ features: 4, classes: 3, seed: 2 }));
    await apply(cp, ns, checkpoint('v2', v2));
    const done = await waitForCheckpoint(cp, ns, 'v2', phaseIs('Healthy'), 60_000);
    const old = await waitForCheckpoint(cp, ns, 'v1', phaseIs('Superseded'), 30_000);
    assert.equal(await counterValue(op.op.metrics.deploysTotal) - deploysBefore, 1, 'one patch for v2');
    assert.ok(op.op.controller?.synced, 'informers synced again');
    assert.equal(old.status?.conditions?.find((c) => c.type === 'Deployed')?.status, 'False');
    const d = (await readDeployment(cp, ns, 'ranker'))!;
    assert.equal(envOf(d).MODEL_DIGEST, v2.digest);
    assert.equal(done.status?.deployment?.rollbackPoint?.checkpoint, 'v1', 'the rollback point is the checkpoint before');
    assert.equal(done.status?.validatedAgainst?.checkpoint, 'v1');
    await waitForRevision(cp, ns, '3');
    const cps = await getJson<{ items: ModelCheckpoint[] }>(cp, ns, 'modelcheckpoints');
    assert.deepEqual(cps.items.map((c) => `${c.metadata.name}:${c.status?.phase}`).sort(), ['v1:Superseded', 'v2:Healthy']);
  });
});
