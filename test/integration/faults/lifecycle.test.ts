// Things people do while a checkpoint is in flight: delete its target Deployment, delete the
// checkpoint itself, edit its spec, or name a container that does not exist. Each ends with
// nothing lost and a status that says what happened.
import assert from 'node:assert/strict';
import { ANNOTATIONS, type ModelCheckpoint } from '../../../src/api/types.js';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../../harness/controlplane.js';
import { counterValue, envOf, heavyClassifier, readDeployment, recordCheckpoint, slowBenchmark, startTrickleServer, tempFilesIn, waitForRevision, type TrickleServer } from '../../harness/faults.js';
import { apply, checkpoint, getJson, inferenceDeployment } from '../../harness/fixtures.js';
import { classificationData, classifierModel, holdoutJsonl, randomWeights, sha256Digest, tempDir, writeArtifact } from '../../harness/models.js';
import { phaseIs, startTestOperator, waitForCheckpoint, type TestOperator } from '../../harness/operator.js';
import { waitFor } from '../../harness/process.js';

const condition = (c: ModelCheckpoint, type: string) => c.status?.conditions?.find((x) => x.type === type);
const stalledWith = (reason: string) => (c: ModelCheckpoint): boolean => condition(c, 'Stalled')?.status === 'True' && condition(c, 'Stalled')?.reason === reason;

describe('faults: target deleted, checkpoint deleted, spec edited, container missing', function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let op: TestOperator;
  let dir: string;
  let ns: string;
  let server: TrickleServer | undefined;

  before(async () => {
    cp = await sharedControlPlane();
    dir = await tempDir('modelgate-faults-life-');
    op = await startTestOperator(cp, { fileRoots: [dir] });
  });
  after(async () => {
    await op?.stop();
  });
  beforeEach(async () => {
    ns = await freshNamespace(cp, 'life');
    await apply(cp, ns, inferenceDeployment('ranker'));
    await waitForRevision(cp, ns, '1');
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('target Deployment deleted during validation: Stalled TargetNotFound, never recreated; created again: resumes and deploys', async () => {
    const model = await writeArtifact(dir, `${ns}-heavy.onnx`, heavyClassifier(5));
    const oldUid = (await readDeployment(cp, ns, 'ranker'))!.metadata.uid;
    await apply(cp, ns, checkpoint('v1', model, { validation: { benchmark: slowBenchmark(250) } }));
    await waitForCheckpoint(cp, ns, 'v1', phaseIs('Validating'), 30_000);
    const del = await cp.kubectl(['delete', 'deployment', 'ranker', '-n', ns, '--wait=true']);
    assert.equal(del.code, 0, del.stderr);

    const stalled = await waitForCheckpoint(cp, ns, 'v1', stalledWith('TargetNotFound'), 60_000);
    assert.equal(stalled.status?.phase, 'Validated', 'validated, then stalled before any deploy');
    assert.match(condition(stalled, 'Stalled')?.message ?? '', /ranker/);
    assert.equal(condition(stalled, 'Ready')?.status, 'False');
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(await readDeployment(cp, ns, 'ranker'), undefined, 'the operator never recreates the Deployment');
    assert.equal((await getJson<ModelCheckpoint>(cp, ns, 'modelcheckpoint', 'v1')).status?.phase, 'Validated');

    await apply(cp, ns, inferenceDeployment('ranker'));
    const done = await waitForCheckpoint(cp, ns, 'v1', phaseIs('Healthy'), 60_000);
    const d = (await readDeployment(cp, ns, 'ranker'))!;
    assert.notEqual(d.metadata.uid, oldUid, 'a new Deployment object');
    assert.equal(envOf(d).MODEL_DIGEST, model.digest);
    assert.equal(d.metadata.annotations?.[ANNOTATIONS.checkpointUid], done.metadata.uid);
    assert.equal(condition(done, 'Stalled')?.status, 'False');
    assert.equal(done.status?.deployment?.deployment, 'ranker');
  });

  it('checkpoint deleted during validation: the finalizer cancels the work, removes the partial download, leaves the Deployment alone', async () => {
    const truth = randomWeights(4, 3, 21);
    const holdout = holdoutJsonl(classificationData(truth, 400, 22));
    server = await startTrickleServer({ 'holdout.jsonl': holdout }, { chunkBytes: 64, everyMs: 100 });
    const model = await writeArtifact(dir, `${ns}-v1.onnx`, classifierModel({ features: 4, classes: 3, weights: truth.weights, bias: truth.bias }));
    const before = (await readDeployment(cp, ns, 'ranker'))!;
    const running = op.op.controller!.jobs.running;
    await apply(cp, ns, checkpoint('v1', model, {
      validation: { holdout: { dataset: { uri: server.url('holdout.jsonl'), digest: sha256Digest(holdout), format: 'jsonl' }, task: 'classification' }, benchmark: { batchSizes: [1], warmupRuns: 1, runs: 3 } },
    }));
    await server.waitForRequests('holdout.jsonl', 1);
    await waitFor('the partial download of the holdout', async () => (tempFilesIn(op.cacheDir).length > 0 ? true : undefined), 10_000, 50);
    const validating = await getJson<ModelCheckpoint>(cp, ns, 'modelcheckpoint', 'v1');
    assert.equal(validating.status?.phase, 'Validating');
    assert.ok(validating.metadata.finalizers?.includes('modelgate.io/cleanup'));

    const del = await cp.kubectl(['delete', 'modelcheckpoint', 'v1', '-n', ns, '--wait=true', '--timeout=20s']);
    assert.equal(del.code, 0, del.stderr);
    const gone = await cp.kubectl(['get', 'modelcheckpoint', 'v1', '-n', ns]);
    assert.notEqual(gone.code, 0, 'the checkpoint is gone');
    await waitFor('the download to be cut', async () => (server!.abandoned >= 1 ? true : undefined), 5_000, 50);
    assert.equal(server.completed, 0, 'the work was cancelled, not finished');
    assert.deepEqual(tempFilesIn(op.cacheDir), [], 'no partial file is left');
    assert.equal(op.op.controller!.jobs.running, running, 'no job left running for the deleted checkpoint');
    const after = (await readDeployment(cp, ns, 'ranker'))!;
    assert.equal(after.metadata.resourceVersion, before.metadata.resourceVersion, 'the Deployment is untouched');
    assert.equal(after.metadata.annotations?.[ANNOTATIONS.claim], undefined);
  });

  it('spec edited during validation: results of the old generation never appear; the new generation validates and deploys', async () => {
    const model = await writeArtifact(dir, `${ns}-heavy.onnx`, heavyClassifier(6));
    const recorder = await recordCheckpoint(cp, ns, 'v1');
    const deploysBefore = await counterValue(op.op.metrics.deploysTotal);
    let done: ModelCheckpoint;
    try {
      await apply(cp, ns, checkpoint('v1', model, { validation: { benchmark: slowBenchmark(1500) } }));
      await waitForCheckpoint(cp, ns, 'v1', phaseIs('Validating'), 30_000);
      await new Promise((r) => setTimeout(r, 1000));
      const edit = await cp.kubectl(['patch', 'modelcheckpoint', 'v1', '-n', ns, '--type=merge', '-p', JSON.stringify({ spec: { validation: { benchmark: { runs: 3 } } } })]);
      assert.equal(edit.code, 0, edit.stderr);
      const editedAt = Date.now();
      done = await waitForCheckpoint(cp, ns, 'v1', phaseIs('Healthy'), 60_000);
      assert.ok(Date.now() - editedAt < 8_000, `the old run (1500 runs, ~12 s) was abandoned, not waited for (${Date.now() - editedAt} ms)`);
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      recorder.stop();
    }
    assert.equal(done.metadata.generation, 2);
    assert.equal(done.status?.observedGeneration, 2);
    assert.ok(recorder.versions.length > 3, 'the watch saw the versions');
    for (const v of recorder.versions) {
      const s = v.status;
      if (s?.stages?.length) {
        assert.equal(s.observedGeneration, v.metadata.generation, `stages of generation ${s.observedGeneration} on an object at generation ${v.metadata.generation} (rv ${v.metadata.resourceVersion})`);
        assert.equal(v.metadata.generation, 2, 'only generation 2 ever has stage results');
      }
      if (s?.phase === 'Validated' || s?.phase === 'Deploying') assert.equal(s.observedGeneration, 2, `phase ${s.phase} at generation ${s.observedGeneration}`);
    }
    assert.ok((done.status?.history ?? []).some((h) => h.reason === 'SpecChanged' && h.generation === 2));
    const report = await getJson<{ data: Record<string, string> }>(cp, ns, 'configmap', 'v1-report');
    const full = JSON.parse(report.data['report.json']!) as { generation: number; full?: { benchmark?: { batches: Array<{ runs: number }> } } };
    assert.equal(full.generation, 2);
    assert.equal(full.full?.benchmark?.batches[0]?.runs, 3, 'the report is of the edited spec');
    assert.equal(await counterValue(op.op.metrics.deploysTotal) - deploysBefore, 1);
    assert.equal(envOf((await readDeployment(cp, ns, 'ranker'))!).MODEL_DIGEST, model.digest);
  });

  it('a missing container: Stalled ContainerNotFound while another checkpoint of the namespace deploys; fixed: it resumes', async () => {
    const good = await writeArtifact(dir, `${ns}-good.onnx`, classifierModel({ features: 4, classes: 3, seed: 1 }));
    const bad = await writeArtifact(dir, `${ns}-bad.onnx`, classifierModel({ features: 4, classes: 3, seed: 2 }));
    await apply(cp, ns, checkpoint('bad', bad, { container: 'no-such-container' }), checkpoint('good', good));
    const stalled = await waitForCheckpoint(cp, ns, 'bad', stalledWith('ContainerNotFound'), 30_000);
    const healthy = await waitForCheckpoint(cp, ns, 'good', phaseIs('Healthy'), 60_000);
    assert.match(condition(stalled, 'Stalled')?.message ?? '', /no-such-container/);
    assert.equal(stalled.status?.phase, 'Pending', 'nothing fetched for a checkpoint that cannot be deployed');
    let d = (await readDeployment(cp, ns, 'ranker'))!;
    assert.equal(envOf(d).MODEL_DIGEST, good.digest);
    assert.equal(d.metadata.annotations?.[ANNOTATIONS.checkpointUid], healthy.metadata.uid);
    assert.ok(!d.spec.template.spec.containers.some((c) => c.name === 'no-such-container'), 'the operator never adds a container');
    assert.ok(stalledWith('ContainerNotFound')(await getJson<ModelCheckpoint>(cp, ns, 'modelcheckpoint', 'bad')), 'still stalled after the other deployed');

    const fix = await cp.kubectl(['patch', 'modelcheckpoint', 'bad', '-n', ns, '--type=merge', '-p', JSON.stringify({ spec: { target: { container: 'server' } } })]);
    assert.equal(fix.code, 0, fix.stderr);
    const fixed = await waitForCheckpoint(cp, ns, 'bad', phaseIs('Healthy'), 60_000);
    await waitForCheckpoint(cp, ns, 'good', phaseIs('Superseded'), 30_000);
    assert.equal(fixed.status?.deployment?.rollbackPoint?.checkpoint, 'good');
    d = (await readDeployment(cp, ns, 'ranker'))!;
    assert.equal(envOf(d).MODEL_DIGEST, bad.digest);
  });
});
