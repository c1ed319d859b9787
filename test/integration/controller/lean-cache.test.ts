// The informer caches keep no metadata.managedFields and no kubectl last-applied annotation:
// objects the first list brought and objects watch events brought (added and modified), while
// the apiserver's own objects carry both. The real operator, the real apiserver, kubectl apply.
import assert from 'node:assert/strict';
import { LAST_APPLIED } from '../../../src/kube/informer.js';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../../harness/controlplane.js';
import { waitForRevision } from '../../harness/faults.js';
import { apply, checkpoint, inferenceDeployment } from '../../harness/fixtures.js';
import { classifierModel, tempDir, writeArtifact } from '../../harness/models.js';
import { phaseIs, startTestOperator, waitForCheckpoint, type TestOperator } from '../../harness/operator.js';

interface Meta {
  metadata: { managedFields?: unknown[]; annotations?: Record<string, string>; resourceVersion?: string };
}

function assertLean(obj: Meta | undefined, what: string): void {
  assert.ok(obj, `${what} is in the cache`);
  assert.equal(obj.metadata.managedFields, undefined, `${what}: no managedFields in the cache`);
  assert.equal(obj.metadata.annotations?.[LAST_APPLIED], undefined, `${what}: no last-applied annotation in the cache`);
}

describe('controller: the informer caches drop what the operator never reads', function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let op: TestOperator | undefined;

  before(async () => {
    cp = await sharedControlPlane();
  });
  after(async () => {
    await op?.stop();
  });

  it('no managedFields and no last-applied annotation on cached checkpoints and Deployments, listed or watched', async () => {
    const dir = await tempDir('modelgate-lean-');
    const ns = await freshNamespace(cp, 'lean');
    await apply(cp, ns, inferenceDeployment('ranker'));
    await waitForRevision(cp, ns, '1');
    // Before the operator starts: it comes with the first list.
    await apply(cp, ns, checkpoint('listed', { path: '', uri: 'file:///nowhere.onnx', digest: `sha256:${'a'.repeat(64)}`, sizeBytes: 1 }, { deployment: 'absent' }));
    op = await startTestOperator(cp, { fileRoots: [dir] });
    const controller = op.op.controller!;
    // After: it comes with watch events, added and then modified at every status write.
    const v1 = await writeArtifact(dir, `${ns}-v1.onnx`, classifierModel({ features: 4, classes: 3, seed: 1 }));
    await apply(cp, ns, checkpoint('watched', v1));
    await waitForCheckpoint(cp, ns, 'watched', phaseIs('Healthy'));
    await waitForCheckpoint(cp, ns, 'listed', (c) => c.status?.conditions?.some((x) => x.type === 'Stalled' && x.status === 'True') === true);

    for (const [kind, name] of [['modelcheckpoint', 'listed'], ['modelcheckpoint', 'watched'], ['deployment', 'ranker']] as const) {
      const r = await cp.kubectl(['get', kind, name, '-n', ns, '-o', 'json', '--show-managed-fields']);
      const served = JSON.parse(r.stdout) as Meta;
      assert.ok((served.metadata.managedFields?.length ?? 0) > 0, `the apiserver's ${kind} ${name} has managedFields`);
      assert.ok(served.metadata.annotations?.[LAST_APPLIED], `the apiserver's ${kind} ${name} has the last-applied annotation`);
    }
    const watched = controller.checkpointInformer.get('watched', ns);
    assertLean(watched, 'checkpoint watched');
    assert.equal(watched?.status?.phase, 'Healthy', 'the cache is current (modified events arrived)');
    assert.ok((watched?.status?.history?.length ?? 0) >= 5, 'status is kept whole');
    assertLean(controller.checkpointInformer.get('listed', ns), 'checkpoint listed');
    assertLean(controller.deploymentInformer.get('ranker', ns) as Meta | undefined, 'Deployment ranker');
    for (const c of controller.checkpointInformer.list(ns)) assertLean(c, `checkpoint ${c.metadata.name}`);
  });
});
