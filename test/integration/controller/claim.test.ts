// One active checkpoint per Deployment, and a target that appears later.
import assert from 'node:assert/strict';
import type { ModelCheckpoint } from '../../../src/api/types.js';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../../harness/controlplane.js';
import { apply, checkpoint, getJson, inferenceDeployment } from '../../harness/fixtures.js';
import { classifierModel, tempDir, writeArtifact } from '../../harness/models.js';
import { phaseIs, startTestOperator, waitForCheckpoint, type TestOperator } from '../../harness/operator.js';
import { waitFor } from '../../harness/process.js';

interface RsList {
  items: Array<{ metadata: { annotations?: Record<string, string> } }>;
}

// A Prometheus that never answers keeps a deployed checkpoint in Monitoring (errors only Hold),
// so it keeps its claim for as long as the test needs.
const holdingAnalysis = {
  prometheusUrl: 'http://127.0.0.1:9',
  intervalSeconds: 5,
  durationSeconds: 0,
  metrics: [{ name: 'conversion', query: 'vector(1)', direction: 'HigherIsBetter' as const, min: 0 }],
};

describe('controller: one active checkpoint per Deployment', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let op: TestOperator;
  let dir: string;
  let ns: string;

  before(async () => {
    cp = await sharedControlPlane();
    dir = await tempDir('modelgate-claim-');
    // The operator may ask only the Prometheus URLs it is started with: this one is its default.
    op = await startTestOperator(cp, { fileRoots: [dir], prometheusUrl: holdingAnalysis.prometheusUrl });
  });
  after(async () => {
    await op?.stop();
  });
  beforeEach(async () => {
    ns = await freshNamespace(cp, 'claim');
  });

  it('two checkpoints applied together: exactly one deploys, the other waits and says why, then takes over', async () => {
    await apply(cp, ns, inferenceDeployment('ranker'));
    const a = await writeArtifact(dir, `${ns}-a.onnx`, classifierModel({ features: 4, classes: 3, seed: 1 }));
    const b = await writeArtifact(dir, `${ns}-b.onnx`, classifierModel({ features: 4, classes: 3, seed: 2 }));
    await apply(cp, ns, checkpoint('a', a, { analysis: holdingAnalysis }), checkpoint('b', b, { analysis: holdingAnalysis }));

    const both = async (): Promise<ModelCheckpoint[]> => (await getJson<{ items: ModelCheckpoint[] }>(cp, ns, 'modelcheckpoints')).items;
    const settled = await waitFor('one deployed, one waiting', async () => {
      const items = await both();
      const live = items.filter((c) => ['Deployed', 'Monitoring'].includes(c.status?.phase ?? ''));
      const waiting = items.filter((c) => c.status?.phase === 'Validated' && c.status.conditions?.some((x) => x.type === 'Reconciling' && x.reason === 'AwaitingClaim'));
      return live.length === 1 && waiting.length === 1 ? { winner: live[0]!, loser: waiting[0]! } : undefined;
    }, 90_000, 300);
    // Give the loser time to do something wrong, then check nothing changed.
    await new Promise((r) => setTimeout(r, 3000));
    const rs = await getJson<RsList>(cp, ns, 'replicasets');
    const revs = rs.items.map((r) => r.metadata.annotations?.['deployment.kubernetes.io/revision']).sort();
    assert.deepEqual(revs, ['1', '2'], 'exactly one deploy happened');
    const loser = (await both()).find((c) => c.metadata.name === settled.loser.metadata.name)!;
    assert.equal(loser.status?.phase, 'Validated');
    const reconciling = loser.status?.conditions?.find((c) => c.type === 'Reconciling');
    assert.match(reconciling?.message ?? '', /claim/);

    // The winner goes away: its finalizer releases the claim and the loser deploys.
    const del = await cp.kubectl(['delete', 'modelcheckpoint', settled.winner.metadata.name!, '-n', ns, '--wait=true', '--timeout=30s']);
    assert.equal(del.code, 0, del.stderr);
    await waitForCheckpoint(cp, ns, settled.loser.metadata.name!, phaseIs('Deployed', 'Monitoring'), 60_000);
    const after = await getJson<{ spec: { template: { spec: { containers: Array<{ env?: Array<{ name: string; value: string }> }> } } } }>(cp, ns, 'deployment', 'ranker');
    const digest = after.spec.template.spec.containers[0]?.env?.find((e) => e.name === 'MODEL_DIGEST')?.value;
    assert.equal(digest, settled.loser.spec.artifact.digest);
  });

  it('a checkpoint whose Deployment does not exist is Stalled with TargetNotFound and resumes when it appears', async () => {
    const a = await writeArtifact(dir, `${ns}-a.onnx`, classifierModel({ features: 4, classes: 3, seed: 3 }));
    await apply(cp, ns, checkpoint('early', a, { deployment: 'later' }));
    const stalled = await waitForCheckpoint(cp, ns, 'early', (c) => c.status?.conditions?.some((x) => x.type === 'Stalled' && x.status === 'True') ?? false);
    const cond = stalled.status?.conditions?.find((x) => x.type === 'Stalled');
    assert.equal(cond?.reason, 'TargetNotFound');
    assert.match(cond?.message ?? '', /later/);
    const events = await cp.kubectl(['get', 'events', '-n', ns, '--field-selector', 'involvedObject.name=early', '-o', 'jsonpath={.items[*].reason}']);
    assert.match(events.stdout, /TargetNotFound/);
    await apply(cp, ns, inferenceDeployment('later'));
    const done = await waitForCheckpoint(cp, ns, 'early', phaseIs('Healthy'), 60_000);
    assert.equal(done.status?.conditions?.find((x) => x.type === 'Stalled')?.status, 'False');
  });

  it('kubectl get shows the printer columns', async () => {
    await apply(cp, ns, inferenceDeployment('ranker'));
    const a = await writeArtifact(dir, `${ns}-a.onnx`, classifierModel({ features: 4, classes: 3, seed: 4 }));
    await apply(cp, ns, checkpoint('shown', a));
    await waitForCheckpoint(cp, ns, 'shown', phaseIs('Healthy'));
    const r = await cp.kubectl(['get', 'mckpt', '-n', ns]);
    const [header, row] = r.stdout.trim().split('\n');
    assert.match(header ?? '', /NAME\s+MODEL\s+VERSION\s+PHASE\s+SEVERITY.*AGE/);
    // The first checkpoint of a target is compared with nothing: no severity, not "NONE".
    assert.match(row ?? '', /shown\s+ranker\s+shown\s+Healthy\s+True/);
    assert.doesNotMatch(row ?? '', /NONE/);
  });
});
