// A silent watch: the checkpoint watch stops delivering without closing (a FAKE network fault: a
// proxy in front of the real apiserver keeps the connection open and drops every byte). The
// operator must notice by itself (the watch's inactivity timeout; the periodic re-list is set far
// out here so it cannot be what saves it), watch again from where it was, and act on what it missed.
import assert from 'node:assert/strict';
import type { ModelCheckpoint } from '../../../src/api/types.js';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../../harness/controlplane.js';
import { waitForRevision } from '../../harness/faults.js';
import { apply, checkpoint, getJson, inferenceDeployment } from '../../harness/fixtures.js';
import { classifierModel, tempDir, writeArtifact } from '../../harness/models.js';
import { phaseIs, startTestOperator, waitForCheckpoint, type TestOperator } from '../../harness/operator.js';
import { waitFor } from '../../harness/process.js';
import { startSlowProxy, type SlowProxy } from '../../harness/slowproxy.js';

const checkpointWatch = (entry: string): boolean => /^GET \/apis\/modelgate\.io\/v1alpha1\/modelcheckpoints\?.*watch=true/.test(entry);

describe('faults: a silent watch', function () {
  this.timeout(150_000);
  let cp: ControlPlane;
  let op: TestOperator;
  let proxy: SlowProxy;
  let dir: string;

  before(async () => {
    cp = await sharedControlPlane();
    dir = await tempDir('modelgate-faults-silent-');
    proxy = await startSlowProxy(cp, {});
    op = await startTestOperator(cp, { fileRoots: [dir], kubeconfig: proxy.kubeconfigPath, extraArgs: ['--resync=86400'] });
  });
  after(async () => {
    await op?.stop();
    await proxy?.close();
  });

  it('the checkpoint watch goes silent without closing: the operator watches again by itself and deploys the checkpoint it missed', async () => {
    const ns = await freshNamespace(cp, 'silent');
    await apply(cp, ns, inferenceDeployment('ranker'));
    await waitForRevision(cp, ns, '1');
    await waitFor('the checkpoint watch is open', async () => (proxy.seen.some(checkpointWatch) ? true : undefined), 20_000, 100);
    const watchesBefore = proxy.seen.filter(checkpointWatch).length;
    const muted = proxy.silence((url) => url.startsWith('/apis/modelgate.io/v1alpha1/modelcheckpoints?'));
    assert.ok(muted >= 1, 'an open checkpoint watch was muted');
    const silencedAt = Date.now();

    const v1 = await writeArtifact(dir, `${ns}-v1.onnx`, classifierModel({ features: 4, classes: 3, seed: 3 }));
    await apply(cp, ns, checkpoint('v1', v1));
    // The watch is silent: for a while the operator does not know the checkpoint exists.
    await new Promise((r) => setTimeout(r, 3000));
    const unseen = await getJson<ModelCheckpoint>(cp, ns, 'modelcheckpoint', 'v1');
    assert.equal(unseen.status?.phase, undefined, 'nothing acted on the checkpoint while the watch was silent');
    assert.deepEqual(unseen.metadata.finalizers ?? [], []);

    const done = await waitForCheckpoint(cp, ns, 'v1', phaseIs('Healthy'), 90_000);
    const recoveredIn = Date.now() - silencedAt;
    assert.ok(proxy.seen.filter(checkpointWatch).length > watchesBefore, 'the operator opened a new checkpoint watch');
    assert.equal(done.status?.observedGeneration, done.metadata.generation);
    assert.ok(recoveredIn < 75_000, `recovered ${recoveredIn} ms after the watch went silent`);
    assert.ok(op.op.controller?.synced, 'the informers are up again');
  });
});
