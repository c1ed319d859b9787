// The apiserver answers the operator's writes late (a proxy holds each PUT .../status response for
// 400 ms): the write's own watch event reaches the informer before the response does. Deleting or
// editing a checkpoint right after such a write must still be acted on at once, not after the
// reconcile's 30 s requeue.
import assert from 'node:assert/strict';
import type { ModelCheckpoint } from '../../../src/api/types.js';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../../harness/controlplane.js';
import { heavyClassifier, readDeployment, slowBenchmark, tempFilesIn, waitForRevision } from '../../harness/faults.js';
import { apply, checkpoint, getJson, inferenceDeployment } from '../../harness/fixtures.js';
import { tempDir, writeArtifact } from '../../harness/models.js';
import { phaseIs, startTestOperator, waitForCheckpoint, type TestOperator } from '../../harness/operator.js';
import { startSlowProxy, type SlowProxy } from '../../harness/slowproxy.js';
import { waitFor } from '../../harness/process.js';

describe('faults: slow write responses (the watch is ahead of the write\'s reply)', function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let op: TestOperator;
  let proxy: SlowProxy;
  let dir: string;
  let ns: string;

  before(async () => {
    cp = await sharedControlPlane();
    dir = await tempDir('modelgate-faults-slow-');
    proxy = await startSlowProxy(cp, { delayMs: 400, match: (method, url) => method === 'PUT' && /\/modelcheckpoints\/[^/?]+\/status/.test(url) });
    op = await startTestOperator(cp, { fileRoots: [dir], kubeconfig: proxy.kubeconfigPath });
  });
  after(async () => {
    await op?.stop();
    await proxy?.close();
  });
  beforeEach(async () => {
    ns = await freshNamespace(cp, 'slow');
    await apply(cp, ns, inferenceDeployment('ranker'));
    await waitForRevision(cp, ns, '1');
  });

  it('a checkpoint deleted right after a status write is finalized at once', async () => {
    const model = await writeArtifact(dir, `${ns}-heavy.onnx`, heavyClassifier(7));
    const before = (await readDeployment(cp, ns, 'ranker'))!;
    await apply(cp, ns, checkpoint('v1', model, { validation: { benchmark: slowBenchmark(2000) } }));
    await waitForCheckpoint(cp, ns, 'v1', phaseIs('Validating'), 30_000);
    await new Promise((r) => setTimeout(r, 500));
    const started = Date.now();
    const del = await cp.kubectl(['delete', 'modelcheckpoint', 'v1', '-n', ns, '--wait=true', '--timeout=60s']);
    assert.equal(del.code, 0, del.stderr);
    const took = Date.now() - started;
    assert.ok(proxy.delayed > 0, 'the proxy delayed the status writes');
    assert.equal((await readDeployment(cp, ns, 'ranker'))!.metadata.resourceVersion, before.metadata.resourceVersion, 'the Deployment is untouched');
    assert.deepEqual(tempFilesIn(op.cacheDir), []);
    assert.ok(took < 8_000, `the finalizer ran ${took} ms after the delete; the reconcile read its own stale write instead of the cached deletion`);
  });

  it('a spec edit right after a status write restarts the validation at once (the old run is abandoned)', async () => {
    const model = await writeArtifact(dir, `${ns}-heavy.onnx`, heavyClassifier(8));
    await apply(cp, ns, checkpoint('v1', model, { validation: { benchmark: slowBenchmark(2000) } }));
    await waitForCheckpoint(cp, ns, 'v1', phaseIs('Validating'), 30_000);
    await new Promise((r) => setTimeout(r, 500));
    const edit = await cp.kubectl(['patch', 'modelcheckpoint', 'v1', '-n', ns, '--type=merge', '-p', JSON.stringify({ spec: { validation: { benchmark: { runs: 3 } } } })]);
    assert.equal(edit.code, 0, edit.stderr);
    const editedAt = Date.now();
    const restarted = await waitFor('the SpecChanged restart', async () => {
      const c = await getJson<ModelCheckpoint>(cp, ns, 'modelcheckpoint', 'v1');
      return (c.status?.history ?? []).some((h) => h.reason === 'SpecChanged') ? c : undefined;
    }, 60_000, 100);
    const took = Date.now() - editedAt;
    const done = await waitForCheckpoint(cp, ns, 'v1', phaseIs('Healthy'), 60_000);
    assert.equal(done.status?.observedGeneration, 2);
    assert.ok(restarted.status?.observedGeneration === 2);
    assert.ok(took < 5_000, `the restart came ${took} ms after the edit (the 2000-run benchmark of generation 1 ran on meanwhile)`);
  });
});
