// A storm of conflicting writes: another client rewrites an unrelated annotation and label of the
// target Deployment in a tight loop while a checkpoint claims and deploys. Every write of the
// operator is conditional, so it meets 409s; it must still deploy exactly once, leave the other
// client's fields alone and end with a status that says what happened.
import assert from 'node:assert/strict';
import { ANNOTATIONS } from '../../../src/api/types.js';
import { paths } from '../../../src/kube/client.js';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../../harness/controlplane.js';
import { apiClient, counterValue, envOf, readDeployment, revisions, waitForRevision } from '../../harness/faults.js';
import { apply, checkpoint, inferenceDeployment } from '../../harness/fixtures.js';
import { classifierModel, tempDir, writeArtifact } from '../../harness/models.js';
import { phaseIs, startTestOperator, waitForCheckpoint, type TestOperator } from '../../harness/operator.js';

describe('faults: a storm of conflicting writes to the Deployment', function () {
  this.timeout(240_000);
  let cp: ControlPlane;
  let op: TestOperator;
  let dir: string;

  before(async () => {
    cp = await sharedControlPlane();
    dir = await tempDir('modelgate-faults-storm-');
    op = await startTestOperator(cp, { fileRoots: [dir] });
  });
  after(async () => {
    await op?.stop();
  });

  it('deploys exactly once through the 409s; the other writer\'s fields survive; status right', async () => {
    const ns = await freshNamespace(cp, 'storm');
    await apply(cp, ns, inferenceDeployment('ranker'));
    await waitForRevision(cp, ns, '1');
    const v1 = await writeArtifact(dir, `${ns}-v1.onnx`, classifierModel({ features: 4, classes: 3, seed: 1 }));
    const deploysBefore = await counterValue(op.op.metrics.deploysTotal);

    const api = apiClient(cp, 'storm-writer');
    let stop = false;
    let writes = 0;
    let last = '';
    const storm = async (lane: number): Promise<void> => {
      for (let i = 0; !stop; i++) {
        const value = `${lane}-${i}`;
        const body = i % 2 === 0
          ? { metadata: { annotations: { 'storm.example.com/counter': value } } }
          : { metadata: { labels: { 'storm.example.com/lane': value } } };
        await api.patch(paths.deployment(ns, 'ranker'), body, 'merge');
        writes++;
        if (i % 2 === 0) last = value;
      }
    };
    const lanes = [storm(0)];
    let done;
    try {
      await new Promise((r) => setTimeout(r, 300));
      await apply(cp, ns, checkpoint('v1', v1));
      // The storm lasts at most 20 s: a reconcile that keeps losing backs off exponentially (0.5 s
      // doubling), so how long it takes through an endless storm is luck; through this one it is bounded.
      setTimeout(() => (stop = true), 20_000).unref();
      done = await waitForCheckpoint(cp, ns, 'v1', phaseIs('Healthy'), 150_000);
    } finally {
      stop = true;
      await Promise.all(lanes);
    }
    assert.ok(writes > 50, `the storm wrote (${writes} writes)`);

    assert.equal(await counterValue(op.op.metrics.deploysTotal) - deploysBefore, 1, 'the Deployment was patched once');
    const d = (await readDeployment(cp, ns, 'ranker'))!;
    assert.equal(envOf(d).MODEL_DIGEST, v1.digest);
    assert.equal(envOf(d).MODEL_URI, v1.uri);
    assert.equal(envOf(d).LOG_LEVEL, 'info', 'the container\'s own env is untouched');
    assert.equal(d.metadata.annotations?.[ANNOTATIONS.checkpointUid], done.metadata.uid);
    assert.ok(d.metadata.annotations?.['storm.example.com/counter'], 'the other writer\'s annotation survives the server-side apply');
    assert.equal(d.metadata.annotations?.['storm.example.com/counter'], last);
    assert.ok(d.metadata.labels?.['storm.example.com/lane']);
    await waitForRevision(cp, ns, '2');
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(await revisions(cp, ns), ['1', '2'], 'one new ReplicaSet: no double deploy');

    const s = done.status!;
    assert.equal(s.observedGeneration, done.metadata.generation);
    assert.equal((s.history ?? []).filter((h) => h.phase === 'Deployed').length, 1, JSON.stringify(s.history));
    assert.equal(s.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
    assert.equal(s.conditions?.find((c) => c.type === 'Deployed')?.status, 'True');
    assert.equal(s.deployment?.deployment, 'ranker');
    assert.equal(s.deployment?.rollbackPoint, undefined);
    assert.equal(d.metadata.annotations?.[ANNOTATIONS.claim], undefined, `the claim is released once Healthy, storm or not (claimed-by ${d.metadata.annotations?.[ANNOTATIONS.claim]})`);
  });
});
