// Phases that take no time are written in one status write, keeping the audit trail: every
// version of the checkpoint is watched (a real watch on the real apiserver) and the real ONNX
// validator does the work. With --fold-wait long enough for it, the checkpoint goes from no
// phase straight to Deploying, with Fetching, Validating and Validated in status.history at
// their times, an Event for each, and the rollback point written before the Deployment changed.
// With the default wait, work that takes time is written as running, as before.
import { Watch } from '@kubernetes/client-node';
import assert from 'node:assert/strict';
import type { ModelCheckpoint } from '../../../src/api/types.js';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../../harness/controlplane.js';
import { checkpointEvents, envOf, type DeploymentView, heavyClassifier, readDeployment, recordCheckpoint, slowBenchmark, waitForRevision } from '../../harness/faults.js';
import { apply, checkpoint, inferenceDeployment } from '../../harness/fixtures.js';
import { classifierModel, tempDir, writeArtifact } from '../../harness/models.js';
import { phaseIs, startTestOperator, waitForCheckpoint, type TestOperator } from '../../harness/operator.js';

/** The phases the apiserver stored, one entry per change of phase, in order. */
const phasesWritten = (versions: readonly ModelCheckpoint[]): string[] =>
  versions.map((v) => v.status?.phase ?? '-').filter((p, i, all) => p !== all[i - 1]);

describe('controller: the writes of phases that take no time are folded into one', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let dir: string;
  let op: TestOperator | undefined;

  before(async () => {
    cp = await sharedControlPlane();
    dir = await tempDir('modelgate-fold-');
  });
  afterEach(async () => {
    await op?.stop();
    op = undefined;
  });

  it('work done within --fold-wait: no phase → Deploying in one write, every phase in history and in Events, the rollback point before the patch', async () => {
    op = await startTestOperator(cp, { fileRoots: [dir], extraArgs: ['--fold-wait=30'] });
    const ns = await freshNamespace(cp, 'fold');
    await apply(cp, ns, inferenceDeployment('ranker'));
    await waitForRevision(cp, ns, '1');
    const v1 = await writeArtifact(dir, `${ns}-v1.onnx`, classifierModel({ features: 4, classes: 3, seed: 1 }));
    await apply(cp, ns, checkpoint('v1', v1));
    await waitForCheckpoint(cp, ns, 'v1', phaseIs('Healthy'));

    const v2 = await writeArtifact(dir, `${ns}-v2.onnx`, classifierModel({ features: 4, classes: 3, seed: 2 }));
    const rec = await recordCheckpoint(cp, ns, 'v2');
    const deployments: DeploymentView[] = [];
    const dwatch = await new Watch(cp.kubeConfig()).watch(`/apis/apps/v1/namespaces/${ns}/deployments`, {}, (_type: string, d: DeploymentView) => void deployments.push(d), () => undefined);
    try {
      await apply(cp, ns, checkpoint('v2', v2));
      const done = await waitForCheckpoint(cp, ns, 'v2', phaseIs('Healthy'));
      const written = phasesWritten(rec.versions);
      assert.deepEqual(written.slice(0, 2), ['-', 'Deploying'], `the first phase written is Deploying: ${written.join(' → ')}`);
      for (const p of ['Fetching', 'Validating', 'Validated']) assert.ok(!written.includes(p), `${p} is not a write of its own: ${written.join(' → ')}`);

      const history = done.status?.history ?? [];
      const phases = history.map((h) => h.phase);
      assert.deepEqual(phases.slice(0, 4), ['Fetching', 'Validating', 'Validated', 'Deploying'], `every phase is in the history: ${phases.join(', ')}`);
      const times = history.slice(0, 4).map((h) => Date.parse(h.time));
      assert.ok(times.every((t, i) => i === 0 || t >= times[i - 1]!), `each at the time it was entered: ${history.map((h) => h.time).join(', ')}`);
      assert.equal(done.status?.stages?.length, 5);
      assert.ok(done.status?.stages?.every((s) => s.verdict === 'Passed' || s.verdict === 'Skipped'));

      const firstDeploying = rec.versions.find((v) => v.status?.phase === 'Deploying');
      assert.equal(firstDeploying?.status?.deployment?.rollbackPoint?.checkpoint, 'v1', 'the rollback point is in the status that first says Deploying');
      assert.equal(firstDeploying?.status?.reportConfigMap, 'v2-report');
      // resourceVersions are etcd revisions, one sequence across kinds in this one-etcd control
      // plane: the status with the rollback point was stored before the patched Deployment.
      const patchedAt = deployments.find((d) => envOf(d).MODEL_DIGEST === v2.digest)?.metadata.resourceVersion;
      assert.ok(patchedAt && Number(firstDeploying?.metadata.resourceVersion) < Number(patchedAt), `status ${firstDeploying?.metadata.resourceVersion} before the Deployment patch ${patchedAt}`);
      assert.equal(envOf((await readDeployment(cp, ns, 'ranker'))!).MODEL_DIGEST, v2.digest);

      const reasons = (await checkpointEvents(cp, ns, 'v2')).map((e) => e.reason);
      for (const r of ['Fetching', 'Fetched', 'Validated', 'ClaimAcquired', 'Deploying', 'Deployed', 'Healthy']) assert.ok(reasons.includes(r), `an Event for ${r}: ${reasons.join(', ')}`);
    } finally {
      rec.stop();
      dwatch.abort();
    }
  });

  it('work that takes longer than the default wait is written as running: Validating is its own write while it runs', async () => {
    op = await startTestOperator(cp, { fileRoots: [dir] });
    const ns = await freshNamespace(cp, 'foldslow');
    await apply(cp, ns, inferenceDeployment('ranker'));
    await waitForRevision(cp, ns, '1');
    const model = await writeArtifact(dir, `${ns}-heavy.onnx`, heavyClassifier(4));
    const rec = await recordCheckpoint(cp, ns, 'slow');
    try {
      await apply(cp, ns, checkpoint('slow', model, { validation: { benchmark: slowBenchmark(60) } }));
      const done = await waitForCheckpoint(cp, ns, 'slow', phaseIs('Healthy'), 120_000);
      const written = phasesWritten(rec.versions);
      const validating = written.indexOf('Validating');
      assert.ok(validating > 0 && validating < written.indexOf('Deploying'), `Validating written on its own, before Deploying: ${written.join(' → ')}`);
      const phases = (done.status?.history ?? []).map((h) => h.phase);
      assert.deepEqual(phases.slice(0, 4), ['Fetching', 'Validating', 'Validated', 'Deploying']);
      assert.equal(envOf((await readDeployment(cp, ns, 'ranker'))!).MODEL_DIGEST, model.digest);
    } finally {
      rec.stop();
    }
  });
});
