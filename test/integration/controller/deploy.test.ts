// The gated deploy against a real kube-apiserver and controller manager, with real ONNX files
// validated by real onnxruntime workers.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { ANNOTATIONS } from '../../../src/api/types.js';
import { repoRoot } from '../../harness/binaries.js';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../../harness/controlplane.js';
import { apply, checkpoint, getJson, inferenceDeployment } from '../../harness/fixtures.js';
import { classifierModel, renameInput, tempDir, writeArtifact } from '../../harness/models.js';
import { phaseIs, startTestOperator, waitForCheckpoint, type TestOperator } from '../../harness/operator.js';
import { waitFor } from '../../harness/process.js';

interface Deploy {
  metadata: { generation: number; resourceVersion: string; annotations?: Record<string, string> };
  spec: { template: { metadata: { annotations?: Record<string, string> }; spec: { containers: Array<{ name: string; env?: Array<{ name: string; value: string }> }> } } };
}
interface RsList {
  items: Array<{ metadata: { annotations?: Record<string, string> } }>;
}

const revisions = async (cp: ControlPlane, ns: string): Promise<string[]> =>
  (await getJson<RsList>(cp, ns, 'replicasets')).items.map((rs) => rs.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? '?').sort();

/** The Deployment minus what the operator owns and what the apiserver keeps moving. */
function withoutOwned(d: Deploy): unknown {
  const copy = JSON.parse(JSON.stringify(d)) as Deploy & { metadata: Record<string, unknown>; status?: unknown };
  for (const k of ['resourceVersion', 'generation', 'managedFields']) delete copy.metadata[k];
  delete copy.status;
  const strip = (a?: Record<string, string>): void => {
    if (!a) return;
    for (const k of Object.values(ANNOTATIONS)) delete a[k];
    delete a['deployment.kubernetes.io/revision'];
  };
  strip(copy.metadata.annotations);
  strip(copy.spec.template.metadata.annotations);
  // An annotations map the patch created and left empty is no change.
  if (Object.keys(copy.spec.template.metadata.annotations ?? {}).length === 0) delete copy.spec.template.metadata.annotations;
  for (const c of copy.spec.template.spec.containers) c.env = c.env?.filter((e) => !['MODEL_URI', 'MODEL_DIGEST', 'MODEL_VERSION'].includes(e.name));
  return copy;
}

describe('controller: gated deploy', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let op: TestOperator;
  let dir: string;
  let ns: string;

  before(async () => {
    cp = await sharedControlPlane();
    dir = await tempDir('modelgate-deploy-');
    op = await startTestOperator(cp, { fileRoots: [dir] });
  });
  after(async () => {
    await op?.stop();
  });
  beforeEach(async () => {
    ns = await freshNamespace(cp, 'deploy');
    await apply(cp, ns, inferenceDeployment('ranker'));
    await waitFor('revision 1', async () => ((await revisions(cp, ns)).includes('1') ? true : undefined), 30_000);
  });

  it('deploys a checkpoint whose gates pass: only the owned fields change, the next revision appears, Ready', async () => {
    const before = await getJson<Deploy>(cp, ns, 'deployment', 'ranker');
    const v1 = await writeArtifact(dir, `${ns}-v1.onnx`, classifierModel({ features: 4, classes: 3, seed: 1 }));
    await apply(cp, ns, checkpoint('v1', v1));
    const done = await waitForCheckpoint(cp, ns, 'v1', phaseIs('Healthy'));
    const wait = await cp.kubectl(['wait', '-n', ns, '--for=condition=Ready', 'modelcheckpoint/v1', '--timeout=10s']);
    assert.equal(wait.code, 0, wait.stderr);

    const after = await getJson<Deploy>(cp, ns, 'deployment', 'ranker');
    assert.deepEqual(withoutOwned(after), withoutOwned(before), 'only the owned fields may change');
    const env = Object.fromEntries((after.spec.template.spec.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
    assert.equal(env.MODEL_URI, v1.uri);
    assert.equal(env.MODEL_DIGEST, v1.digest);
    assert.equal(env.MODEL_VERSION, 'v1');
    assert.equal(after.metadata.annotations?.[ANNOTATIONS.checkpointUid], done.metadata.uid);
    await waitFor('revision 2', async () => ((await revisions(cp, ns)).includes('2') ? true : undefined), 30_000);
    assert.equal(done.status?.deployment?.rollbackPoint, undefined, 'the first checkpoint of a target has no rollback point');
    assert.equal(done.status?.observedGeneration, done.metadata.generation);
    const stages = done.status?.stages?.map((s) => `${s.stage}:${s.verdict}`);
    assert.deepEqual(stages, ['fetch:Passed', 'architecture:Passed', 'holdout:Skipped', 'benchmark:Passed', 'regression:Skipped']);
    assert.equal(done.status?.stages?.find((s) => s.stage === 'architecture')?.reason, 'NoBaseline');
  });

  it('holds a checkpoint with autoDeploy: false in Validated until `modelgate promote` approves its generation, then deploys it', async () => {
    const v1 = await writeArtifact(dir, `${ns}-held.onnx`, classifierModel({ features: 4, classes: 3, seed: 3 }));
    await apply(cp, ns, checkpoint('held', v1, { rollout: { autoDeploy: false } }));
    const held = await waitForCheckpoint(cp, ns, 'held', (c) => c.status?.phase === 'Validated' && c.status.conditions?.some((x) => x.reason === 'AutoDeployDisabled') === true);
    assert.match(held.status?.conditions?.find((x) => x.reason === 'AutoDeployDisabled')?.message ?? '', /kubectl modelgate promote/);
    await new Promise((r) => setTimeout(r, 1500));
    const still = await getJson<Deploy>(cp, ns, 'deployment', 'ranker');
    assert.equal(still.metadata.annotations?.[ANNOTATIONS.checkpoint], undefined, 'not deployed before the promote');
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'promote', 'held', '-n', ns, '--kubeconfig', cp.kubeconfigPath], { cwd: repoRoot }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }));
    });
    assert.equal(r.code, 0, r.out);
    const done = await waitForCheckpoint(cp, ns, 'held', phaseIs('Healthy'));
    assert.equal(done.metadata.annotations?.[ANNOTATIONS.promote], String(done.metadata.generation));
    const after = await getJson<Deploy>(cp, ns, 'deployment', 'ranker');
    assert.equal(after.metadata.annotations?.[ANNOTATIONS.checkpoint], 'held');
  });

  it('rejects a checkpoint that renames an input: the Deployment keeps its generation and resourceVersion', async () => {
    const v1 = await writeArtifact(dir, `${ns}-v1.onnx`, classifierModel({ features: 4, classes: 3, seed: 1 }));
    await apply(cp, ns, checkpoint('v1', v1));
    await waitForCheckpoint(cp, ns, 'v1', phaseIs('Healthy'));
    const before = await getJson<Deploy>(cp, ns, 'deployment', 'ranker');
    const v2 = await writeArtifact(dir, `${ns}-v2.onnx`, renameInput(classifierModel({ features: 4, classes: 3, seed: 2 }), 'x', 'features'));
    await apply(cp, ns, checkpoint('v2', v2));
    const rejected = await waitForCheckpoint(cp, ns, 'v2', phaseIs('Rejected', 'Failed'));
    assert.equal(rejected.status?.phase, 'Rejected');
    const arch = rejected.status?.stages?.find((s) => s.stage === 'architecture');
    assert.equal(arch?.verdict, 'Failed');
    assert.match(arch?.message ?? '', /'x'/);
    const stalled = rejected.status?.conditions?.find((c) => c.type === 'Stalled');
    assert.equal(stalled?.status, 'True');
    const after = await getJson<Deploy>(cp, ns, 'deployment', 'ranker');
    assert.equal(after.metadata.generation, before.metadata.generation);
    assert.equal(after.metadata.resourceVersion, before.metadata.resourceVersion);
  });

  it('keeps the chain of rollback points: the third checkpoint knows the second and the first', async () => {
    for (const [i, name] of ['v1', 'v2', 'v3'].entries()) {
      const art = await writeArtifact(dir, `${ns}-${name}.onnx`, classifierModel({ features: 4, classes: 3, seed: 10 + i }));
      await apply(cp, ns, checkpoint(name, art));
      await waitForCheckpoint(cp, ns, name, phaseIs('Healthy'));
    }
    const v3 = await waitForCheckpoint(cp, ns, 'v3', phaseIs('Healthy'));
    assert.equal(v3.status?.deployment?.rollbackPoint?.checkpoint, 'v2');
    assert.deepEqual(v3.status?.deployment?.earlierRollbackPoints?.map((p) => p.checkpoint), ['v1']);
    const v1 = await waitForCheckpoint(cp, ns, 'v1', phaseIs('Superseded'));
    assert.equal(v1.status?.phase, 'Superseded');
    const events = await cp.kubectl(['get', 'events', '-n', ns, '--field-selector', 'involvedObject.name=v3,reason=Deploying', '-o', 'jsonpath={.items[*].message}']);
    assert.match(events.stdout, /rollback points v2 \(v2\), v1 \(v1\)/);
  });
});
