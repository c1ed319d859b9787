// Drift: a person changes the model in the Deployment by hand while the checkpoint is being
// analysed. The operator reports it (Ready False, reason Drift, a Warning Event) and leaves the
// Deployment alone: it never re-patches over a person's edit.
import assert from 'node:assert/strict';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../../harness/controlplane.js';
import { apply, checkpoint, getJson, inferenceDeployment } from '../../harness/fixtures.js';
import { classifierModel, tempDir, writeArtifact } from '../../harness/models.js';
import { phaseIs, startTestOperator, waitForCheckpoint, type TestOperator } from '../../harness/operator.js';

interface Deploy {
  metadata: { generation: number; resourceVersion: string };
  spec: { template: { spec: { containers: Array<{ name: string; env?: Array<{ name: string; value: string }> }> } } };
}

// A Prometheus that never answers keeps a deployed checkpoint in Monitoring (errors only Hold).
const holdingAnalysis = {
  prometheusUrl: 'http://127.0.0.1:9',
  intervalSeconds: 1,
  durationSeconds: 0,
  metrics: [{ name: 'conversion', query: 'vector(1)', direction: 'HigherIsBetter' as const, min: 0 }],
};

const envOf = (d: Deploy): Record<string, string> => Object.fromEntries((d.spec.template.spec.containers[0]?.env ?? []).map((e) => [e.name, e.value]));

describe('controller: drift of the model env', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let op: TestOperator;
  let dir: string;
  let ns: string;

  before(async () => {
    cp = await sharedControlPlane();
    dir = await tempDir('modelgate-drift-');
    // The never-answering Prometheus is the operator's own: a checkpoint may name only URLs the operator is started with.
    op = await startTestOperator(cp, { fileRoots: [dir], prometheusUrl: holdingAnalysis.prometheusUrl });
  });
  after(async () => {
    await op?.stop();
  });
  beforeEach(async () => {
    ns = await freshNamespace(cp, 'drift');
    await apply(cp, ns, inferenceDeployment('ranker'));
  });

  it('MODEL_URI edited by hand during analysis (digest untouched) is Drift: Ready False, a Warning Event, and no re-patch', async () => {
    const v1 = await writeArtifact(dir, `${ns}-v1.onnx`, classifierModel({ features: 4, classes: 3, seed: 1 }));
    await apply(cp, ns, checkpoint('v1', v1, { analysis: holdingAnalysis }));
    await waitForCheckpoint(cp, ns, 'v1', phaseIs('Monitoring'), 90_000);
    const deployed = await getJson<Deploy>(cp, ns, 'deployment', 'ranker');
    assert.equal(envOf(deployed).MODEL_URI, v1.uri);

    const byHand = `file://${dir}/by-hand.onnx`;
    const edit = await cp.kubectl(['set', 'env', '-n', ns, 'deployment/ranker', '-c', 'server', `MODEL_URI=${byHand}`]);
    assert.equal(edit.code, 0, edit.stderr);
    const edited = await getJson<Deploy>(cp, ns, 'deployment', 'ranker');
    assert.equal(envOf(edited).MODEL_DIGEST, v1.digest, 'only the URI was edited');

    const drifted = await waitForCheckpoint(cp, ns, 'v1', (c) => c.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'False' && x.reason === 'Drift') ?? false, 30_000);
    const ready = drifted.status?.conditions?.find((x) => x.type === 'Ready');
    assert.match(ready?.message ?? '', /MODEL_URI is .*by-hand\.onnx/);
    assert.equal(drifted.status?.phase, 'Monitoring', 'drift is reported, not acted on: no rollback, no phase change');

    const events = await cp.kubectl(['get', 'events', '-n', ns, '--field-selector', 'involvedObject.name=v1,reason=Drift', '-o', 'jsonpath={.items[*].type}']);
    assert.equal(events.code, 0, events.stderr);
    assert.match(events.stdout, /Warning/);

    // Several analysis intervals later the person's edit still stands: the operator did not fight it.
    await new Promise((r) => setTimeout(r, 5000));
    const later = await getJson<Deploy>(cp, ns, 'deployment', 'ranker');
    assert.equal(envOf(later).MODEL_URI, byHand);
    assert.equal(later.metadata.generation, edited.metadata.generation, 'nothing wrote the Deployment spec after the edit');
    const still = await getJson<{ status?: { conditions?: Array<{ type: string; reason?: string }> } }>(cp, ns, 'modelcheckpoint', 'v1');
    assert.equal(still.status?.conditions?.find((x) => x.type === 'Ready')?.reason, 'Drift');
  });
});
