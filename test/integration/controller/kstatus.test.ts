// What kstatus (sigs.k8s.io/cli-utils, the health rule of Flux `wait: true` and kpt) says of a
// checkpoint at every phase, judged by the library itself (tools/kstatus) on the object as the
// real apiserver serves it. The table is in docs/decisions.md.
import assert from 'node:assert/strict';
import { ANNOTATIONS, type ModelCheckpoint } from '../../../src/api/types.js';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../../harness/controlplane.js';
import { heavyClassifier, slowBenchmark, waitForRevision } from '../../harness/faults.js';
import { apply, checkpoint, getJson, inferenceDeployment } from '../../harness/fixtures.js';
import { ensureKstatusBinary, kstatus, type KstatusStatus } from '../../harness/kstatus.js';
import { classifierModel, renameInput, sha256Digest, tempDir, writeArtifact } from '../../harness/models.js';
import { phaseIs, startTestOperator, waitForCheckpoint, type TestOperator } from '../../harness/operator.js';

async function verdict(obj: ModelCheckpoint): Promise<KstatusStatus> {
  const [v] = await kstatus([obj]);
  assert.ok(v, 'kstatus printed a verdict');
  assert.equal(v.error, undefined, `kstatus could not judge ${obj.metadata.name}: ${v.error}`);
  return v.status;
}

const summary = (c: ModelCheckpoint): string =>
  `phase ${c.status?.phase}, observedGeneration ${c.status?.observedGeneration}/${c.metadata.generation}, ${JSON.stringify(c.status?.conditions?.map((x) => `${x.type}=${x.status}`))}`;

async function expectKstatus(c: ModelCheckpoint, want: KstatusStatus): Promise<void> {
  assert.equal(await verdict(c), want, `${c.metadata.name}: ${summary(c)}`);
}

describe('kstatus reads every phase right (the cli-utils library on objects from the apiserver)', function () {
  this.timeout(300_000);
  let cp: ControlPlane;
  let op: TestOperator | undefined;
  let dir: string;
  let early: string;

  before(async () => {
    ensureKstatusBinary();
    cp = await sharedControlPlane();
    dir = await tempDir('modelgate-kstatus-');
    // A checkpoint created while no operator runs: nobody has looked at it yet.
    early = await freshNamespace(cp, 'kst-early');
    await apply(cp, early, inferenceDeployment('ranker'));
    const a = await writeArtifact(dir, `${early}-v1.onnx`, classifierModel({ features: 4, classes: 3, seed: 1 }));
    await apply(cp, early, checkpoint('v1', a));
  });
  after(async () => {
    await op?.stop();
  });

  it('Pending before the operator has looked: InProgress (the CRD defaults status.observedGeneration to 0), also in a list', async () => {
    const c = await getJson<ModelCheckpoint>(cp, early, 'modelcheckpoint', 'v1');
    assert.equal(c.status?.phase, undefined, 'no operator has written status');
    assert.equal(c.status?.observedGeneration, 0, 'the apiserver applies the status default when it serves the object');
    assert.equal(c.metadata.generation, 1);
    await expectKstatus(c, 'InProgress');
    const list = await getJson<{ items: ModelCheckpoint[] }>(cp, early, 'modelcheckpoints');
    assert.deepEqual((await kstatus([list])).map((v) => `${v.name}:${v.status}`), ['v1:InProgress']);
    // Without the default kstatus would have called it done: the rule it falls back on.
    const { status: _s, ...bare } = c;
    assert.equal(await verdict(bare as ModelCheckpoint), 'Current', 'kstatus reads an object with no status and no conditions as Current');
  });

  it('the operator takes the early checkpoint on from there: Healthy is Current', async () => {
    op = await startTestOperator(cp, { fileRoots: [dir] });
    const done = await waitForCheckpoint(cp, early, 'v1', phaseIs('Healthy'), 120_000);
    await expectKstatus(done, 'Current');
  });

  it('Validating (while the work runs): InProgress', async () => {
    const ns = await freshNamespace(cp, 'kst-val');
    await apply(cp, ns, inferenceDeployment('ranker'));
    const heavy = await writeArtifact(dir, `${ns}-heavy.onnx`, heavyClassifier(3));
    await apply(cp, ns, checkpoint('slow', heavy, { validation: { benchmark: slowBenchmark(400) } }));
    const c = await waitForCheckpoint(cp, ns, 'slow', phaseIs('Validating'), 60_000);
    await expectKstatus(c, 'InProgress');
  });

  it('Healthy and Superseded are Current; Rejected, Failed and RolledBack are Failed; the rolled-back-to checkpoint is Current again', async () => {
    const ns = await freshNamespace(cp, 'kst-life');
    await apply(cp, ns, inferenceDeployment('ranker'));
    await waitForRevision(cp, ns, '1');
    const a1 = await writeArtifact(dir, `${ns}-v1.onnx`, classifierModel({ features: 4, classes: 3, seed: 1 }));
    const a2 = await writeArtifact(dir, `${ns}-v2.onnx`, classifierModel({ features: 4, classes: 3, seed: 2 }));
    await apply(cp, ns, checkpoint('v1', a1));
    await expectKstatus(await waitForCheckpoint(cp, ns, 'v1', phaseIs('Healthy'), 120_000), 'Current');
    await apply(cp, ns, checkpoint('v2', a2));
    await expectKstatus(await waitForCheckpoint(cp, ns, 'v2', phaseIs('Healthy'), 120_000), 'Current');
    const superseded = await waitForCheckpoint(cp, ns, 'v1', phaseIs('Superseded'), 30_000);
    await expectKstatus(superseded, 'Current');
    assert.equal(superseded.status?.conditions?.find((c) => c.type === 'Deployed')?.status, 'False', 'Deployed=False says it no longer serves');

    // Rejected: a gate said no (an input renamed against production).
    const bad = await writeArtifact(dir, `${ns}-v3.onnx`, renameInput(classifierModel({ features: 4, classes: 3, seed: 3 }), 'x', 'features'));
    await apply(cp, ns, checkpoint('v3', bad));
    await expectKstatus(await waitForCheckpoint(cp, ns, 'v3', phaseIs('Rejected', 'Failed'), 120_000), 'Failed');
    assert.equal((await getJson<ModelCheckpoint>(cp, ns, 'modelcheckpoint', 'v3')).status?.phase, 'Rejected');

    // Failed: the work could not be done (the file is not what the digest says).
    const a4 = await writeArtifact(dir, `${ns}-v4.onnx`, classifierModel({ features: 4, classes: 3, seed: 4 }));
    const wrong = checkpoint('v4', a4);
    wrong.spec.artifact.digest = sha256Digest('not this file');
    await apply(cp, ns, wrong);
    const failed = await waitForCheckpoint(cp, ns, 'v4', phaseIs('Failed', 'Rejected'), 60_000);
    assert.equal(failed.status?.phase, 'Failed');
    await expectKstatus(failed, 'Failed');

    // RolledBack: a person took v2 out; v1 runs again.
    const r = await cp.kubectl(['annotate', '-n', ns, 'modelcheckpoint', 'v2', `${ANNOTATIONS.rollbackRequest}=true`]);
    assert.equal(r.code, 0, r.stderr);
    await expectKstatus(await waitForCheckpoint(cp, ns, 'v2', phaseIs('RolledBack'), 60_000), 'Failed');
    await expectKstatus(await waitForCheckpoint(cp, ns, 'v1', phaseIs('Healthy'), 60_000), 'Current');
  });

  it('Monitoring (serving while the live guard watches): InProgress, not Current', async () => {
    const ns = await freshNamespace(cp, 'kst-mon');
    await apply(cp, ns, inferenceDeployment('ranker'));
    await waitForRevision(cp, ns, '1');
    const a = await writeArtifact(dir, `${ns}-v1.onnx`, classifierModel({ features: 4, classes: 3, seed: 5 }));
    // No Prometheus is configured: the guard holds in Monitoring, which is what this test needs.
    await apply(cp, ns, checkpoint('v1', a, {
      analysis: { intervalSeconds: 1, durationSeconds: 600, metrics: [{ name: 'errors', query: 'sum(rate(errors_total[1m]))', direction: 'LowerIsBetter', maxRelativeDegradation: 0.2 }] },
    }));
    const c = await waitForCheckpoint(cp, ns, 'v1', (x) => x.status?.phase === 'Monitoring' && x.status.conditions?.some((k) => k.type === 'AnalysisHealthy') === true, 120_000);
    assert.equal(c.status?.conditions?.find((k) => k.type === 'Ready')?.status, 'True', 'it serves');
    await expectKstatus(c, 'InProgress');
  });
});
