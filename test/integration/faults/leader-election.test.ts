// Two operator processes with leader election: only the Lease holder acts, the standby waits;
// the leader is SIGKILLed while a checkpoint is in progress (mid-fetch) or dies right after its
// Deployment patch, and the standby takes over and finishes, patching the Deployment once.
import assert from 'node:assert/strict';
import { ANNOTATIONS, type ModelCheckpoint } from '../../../src/api/types.js';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../../harness/controlplane.js';
import { envOf, logLines, readDeployment, revisions, startTrickleServer, stepsLogged, waitForLog, waitForRevision, type TrickleServer } from '../../harness/faults.js';
import { apply, checkpoint, getJson, inferenceDeployment } from '../../harness/fixtures.js';
import { classifierModel, sha256Digest, tempDir, writeArtifact } from '../../harness/models.js';
import { phaseIs, startOperatorProcess, waitForCheckpoint, type OperatorProcess } from '../../harness/operator.js';

interface Lease {
  spec: { holderIdentity?: string; leaseTransitions?: number };
}

const leaseOf = (cp: ControlPlane, leaseNs: string): Promise<Lease> => getJson<Lease>(cp, leaseNs, 'lease', 'modelgate-operator');
const acted = (logPath: string): boolean => logLines(logPath).some((l) => l.message === 'controller started' || l.message === 'reconcile step' || String(l.message).startsWith('phase '));

describe('faults: two replicas with leader election', function () {
  this.timeout(150_000);
  let cp: ControlPlane;
  let dir: string;
  let server: TrickleServer | undefined;
  const procs: OperatorProcess[] = [];

  before(async () => {
    cp = await sharedControlPlane();
    dir = await tempDir('modelgate-faults-leader-');
  });
  afterEach(async () => {
    for (const p of procs.splice(0)) await p.stop('SIGKILL').catch(() => undefined);
    await server?.close();
    server = undefined;
  });

  async function pair(tag: string, leaderEnv: NodeJS.ProcessEnv = {}): Promise<{ leaseNs: string; a: OperatorProcess; b: OperatorProcess; idA: string; idB: string }> {
    const leaseNs = await freshNamespace(cp, `lease-${tag}`);
    const idA = `${leaseNs}-a`;
    const idB = `${leaseNs}-b`;
    const a = startOperatorProcess(cp, { fileRoots: [dir], identity: idA, leaderElect: true, leaseNamespace: leaseNs, logLevel: 'debug', env: leaderEnv });
    procs.push(a);
    await waitForLog(a.logPath, (l) => l.message === 'became leader', 'a becomes leader');
    const b = startOperatorProcess(cp, { fileRoots: [dir], identity: idB, leaderElect: true, leaseNamespace: leaseNs, logLevel: 'debug' });
    procs.push(b);
    await waitForLog(b.logPath, (l) => l.message === 'waiting for leadership', 'b waits for leadership');
    return { leaseNs, a, b, idA, idB };
  }

  it('only the leader acts; the leader SIGKILLed mid-fetch: the standby takes over, fetches again and deploys once', async () => {
    const ns = await freshNamespace(cp, 'leader');
    await apply(cp, ns, inferenceDeployment('ranker'));
    await waitForRevision(cp, ns, '1');
    const bytes = classifierModel({ features: 16, classes: 3, seed: 4 });
    server = await startTrickleServer({ 'model.onnx': bytes }, { chunkBytes: 64, everyMs: 100 });
    const { leaseNs, a, b, idA, idB } = await pair('kill');

    await apply(cp, ns, checkpoint('v1', { path: '', uri: server.url('model.onnx'), digest: sha256Digest(bytes), sizeBytes: bytes.byteLength }));
    await server.waitForRequests('model.onnx', 1);
    const fetching = await waitForCheckpoint(cp, ns, 'v1', phaseIs('Fetching'), 10_000);
    assert.equal((await leaseOf(cp, leaseNs)).spec.holderIdentity, idA, 'a holds the Lease');
    assert.ok(acted(a.logPath), 'the leader reconciles');
    assert.ok(!acted(b.logPath), `the standby does nothing while a leads (${b.logPath})`);
    assert.ok(!logLines(b.logPath).some((l) => l.message === 'became leader'));

    await a.kill();
    await waitForLog(b.logPath, (l) => l.message === 'became leader', 'b becomes leader', 30_000);
    server.release();
    const done = await waitForCheckpoint(cp, ns, 'v1', phaseIs('Healthy'), 60_000);

    const lease = await leaseOf(cp, leaseNs);
    assert.equal(lease.spec.holderIdentity, idB);
    assert.ok((lease.spec.leaseTransitions ?? 0) >= 1, 'the Lease records the takeover');
    assert.ok(server.requests('model.onnx') >= 2, 'the new leader fetched again');
    assert.ok(server.abandoned >= 1, 'the killed leader\'s download was cut');
    assert.deepEqual(stepsLogged(a.logPath, ns, 'v1').filter((s) => s === 'PatchDeployment'), [], 'the killed leader never patched');
    assert.ok(stepsLogged(b.logPath, ns, 'v1').includes('PatchDeployment'), 'the new leader patched');
    const d = (await readDeployment(cp, ns, 'ranker'))!;
    assert.equal(envOf(d).MODEL_DIGEST, sha256Digest(bytes));
    assert.equal(d.metadata.annotations?.[ANNOTATIONS.checkpointUid], fetching.metadata.uid);
    await waitForRevision(cp, ns, '2');
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(await revisions(cp, ns), ['1', '2'], 'one new ReplicaSet: the Deployment was patched once');
    const history = done.status?.history ?? [];
    assert.equal(history.filter((h) => h.phase === 'Deployed').length, 1, JSON.stringify(history));
    assert.equal(history.filter((h) => h.phase === 'Validated').length, 1, 'validated once, by the new leader');
    assert.equal(done.status?.observedGeneration, done.metadata.generation);
    await b.stop();
  });

  it('the leader dies right after its Deployment patch: the standby finishes from the Deployment\'s record, no second patch', async () => {
    const ns = await freshNamespace(cp, 'leader');
    await apply(cp, ns, inferenceDeployment('ranker'));
    await waitForRevision(cp, ns, '1');
    const v1 = await writeArtifact(dir, `${ns}-v1.onnx`, classifierModel({ features: 4, classes: 3, seed: 1 }));
    const { leaseNs, a, b, idB } = await pair('patch', { MODELGATE_TEST_EXIT_AFTER_PATCH: '1' });

    await apply(cp, ns, checkpoint('v1', v1));
    const code = await Promise.race([a.proc.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 60_000).unref())]);
    assert.equal(code, 137, 'the leader exits right after the patch');
    assert.ok(!acted(b.logPath), 'the standby did nothing while a led');
    const mid = (await readDeployment(cp, ns, 'ranker'))!;
    const cpMid = await getJson<ModelCheckpoint>(cp, ns, 'modelcheckpoint', 'v1');
    assert.equal(cpMid.status?.phase, 'Deploying');
    assert.equal(envOf(mid).MODEL_DIGEST, v1.digest);

    await waitForLog(b.logPath, (l) => l.message === 'became leader', 'b becomes leader', 30_000);
    const done = await waitForCheckpoint(cp, ns, 'v1', phaseIs('Healthy'), 60_000);
    assert.equal((await leaseOf(cp, leaseNs)).spec.holderIdentity, idB);
    const steps = stepsLogged(b.logPath, ns, 'v1');
    assert.ok(steps.length > 0);
    assert.ok(!steps.includes('PatchDeployment'), `the new leader must not patch again: ${steps.join(', ')}`);
    const after = (await readDeployment(cp, ns, 'ranker'))!;
    assert.deepEqual(after.spec.template, mid.spec.template, 'the pod template is as the dead leader left it');
    await waitForRevision(cp, ns, '2');
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(await revisions(cp, ns), ['1', '2']);
    const deployed = (done.status?.history ?? []).filter((h) => h.phase === 'Deployed');
    assert.equal(deployed.length, 1);
    assert.match(deployed[0]!.message, /runs this checkpoint/);
    await b.stop();
  });
});
