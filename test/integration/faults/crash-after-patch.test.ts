// The operator dies between the Deployment patch and the status write (a real process that
// exits right after the patch, MODELGATE_TEST_EXIT_AFTER_PATCH=1), then starts again: the
// Deployment's own record says the step is done, so status is written and nothing is patched twice.
import assert from 'node:assert/strict';
import { ANNOTATIONS } from '../../../src/api/types.js';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../../harness/controlplane.js';
import { envOf, readDeployment, revisions, stepsLogged, waitForRevision } from '../../harness/faults.js';
import { apply, checkpoint, getJson, inferenceDeployment } from '../../harness/fixtures.js';
import { classifierModel, tempDir, writeArtifact } from '../../harness/models.js';
import { phaseIs, startOperatorProcess, waitForCheckpoint, type OperatorProcess } from '../../harness/operator.js';
import type { ModelCheckpoint } from '../../../src/api/types.js';

describe('faults: operator killed between the Deployment patch and the status write', function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let dir: string;
  const procs: OperatorProcess[] = [];
  let crashedNs: string | undefined;

  before(async () => {
    cp = await sharedControlPlane();
    dir = await tempDir('modelgate-faults-crash-');
  });
  after(async () => {
    for (const p of procs) await p.stop('SIGKILL').catch(() => undefined);
  });

  it('restarts without a second patch: the pod template changes once, one new ReplicaSet, status Deployed then Healthy', async () => {
    const ns = await freshNamespace(cp, 'crash');
    crashedNs = ns;
    await apply(cp, ns, inferenceDeployment('ranker'));
    await waitForRevision(cp, ns, '1');
    const v1 = await writeArtifact(dir, `${ns}-v1.onnx`, classifierModel({ features: 4, classes: 3, seed: 1 }));

    const first = startOperatorProcess(cp, { fileRoots: [dir], logLevel: 'debug', env: { MODELGATE_TEST_EXIT_AFTER_PATCH: '1' } });
    procs.push(first);
    await apply(cp, ns, checkpoint('v1', v1));
    const code = await Promise.race([first.proc.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 60_000).unref())]);
    assert.equal(code, 137, `the first operator should exit right after the patch (log ${first.logPath})`);
    assert.ok(stepsLogged(first.logPath, ns, 'v1').includes('PatchDeployment'), 'the first operator reached the patch');

    // The patch landed; the status write did not.
    const mid = (await readDeployment(cp, ns, 'ranker'))!;
    const cpMid = await getJson<ModelCheckpoint>(cp, ns, 'modelcheckpoint', 'v1');
    assert.equal(mid.metadata.annotations?.[ANNOTATIONS.checkpointUid], cpMid.metadata.uid);
    assert.equal(envOf(mid).MODEL_DIGEST, v1.digest);
    assert.equal(cpMid.status?.phase, 'Deploying', 'status still says Deploying: the process died before writing it');

    const second = startOperatorProcess(cp, { fileRoots: [dir], logLevel: 'debug' });
    procs.push(second);
    const done = await waitForCheckpoint(cp, ns, 'v1', phaseIs('Healthy'), 60_000);

    const steps = stepsLogged(second.logPath, ns, 'v1');
    assert.ok(steps.length > 0, `the second operator logged its steps (${second.logPath})`);
    assert.ok(!steps.includes('PatchDeployment'), `the second operator must not patch again; steps: ${steps.join(', ')}`);
    const after = (await readDeployment(cp, ns, 'ranker'))!;
    // Deployment annotations bump its generation too (the claim and its release), so the pod
    // template is what tells patches apart: unchanged since the crash, one new ReplicaSet.
    assert.deepEqual(after.spec.template, mid.spec.template, 'the pod template did not change after the crash');
    assert.ok(after.metadata.generation - mid.metadata.generation <= 1, `after the crash only the claim release may touch the Deployment (generation ${mid.metadata.generation} -> ${after.metadata.generation})`);
    assert.equal(after.metadata.annotations?.[ANNOTATIONS.claim], undefined, 'the claim is released once Healthy');
    assert.equal(envOf(after).MODEL_DIGEST, v1.digest);
    await waitForRevision(cp, ns, '2');
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(await revisions(cp, ns), ['1', '2'], 'exactly one new ReplicaSet revision');

    const s = done.status!;
    assert.equal(s.observedGeneration, done.metadata.generation);
    const deployed = (s.history ?? []).filter((h) => h.phase === 'Deployed');
    assert.equal(deployed.length, 1, `one Deployed entry in the history: ${JSON.stringify(s.history)}`);
    assert.match(deployed[0]!.message, /runs this checkpoint/, 'the restart read the Deployment\'s record instead of patching');
    assert.ok((s.deployment?.generation ?? 0) >= mid.metadata.generation, 'status records the generation that carries the patch');
    assert.equal(s.deployment?.revision, '2');
    assert.equal(s.conditions?.find((c) => c.type === 'Deployed')?.status, 'True');
    await second.stop();
  });

  it('the audit trail of the target still records the deploy the crash interrupted', async () => {
    assert.ok(crashedNs, 'runs after the crash test above, on its namespace');
    const ns = crashedNs;
    const audit = await getJson<{ data?: Record<string, string> }>(cp, ns, 'configmap', 'modelgate-audit-ranker').catch((): { data?: Record<string, string> } => ({ data: {} }));
    const deploys = Object.values(audit.data ?? {}).map((v) => JSON.parse(v) as { action?: string; checkpoint?: string }).filter((e) => e.action === 'deploy' && e.checkpoint === 'v1');
    assert.equal(deploys.length, 1, `one audit entry for the deploy of v1 in ConfigMap modelgate-audit-ranker: ${JSON.stringify(audit.data ?? {})}`);
  });
});
