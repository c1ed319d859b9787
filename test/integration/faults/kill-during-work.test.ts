// The operator killed (SIGKILL) during a fetch and during a validation, then started again on
// the same cache volume: the work reruns from the start, partial downloads are cleaned up, the
// checkpoint is never Validated from the interrupted run, and it ends Healthy.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import type { ModelCheckpoint } from '../../../src/api/types.js';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../../harness/controlplane.js';
import { envOf, heavyClassifier, readDeployment, slowBenchmark, startTrickleServer, tempFilesIn, waitForRevision, type TrickleServer } from '../../harness/faults.js';
import { apply, checkpoint, getJson, inferenceDeployment } from '../../harness/fixtures.js';
import { classifierModel, sha256Digest, tempDir, writeArtifact } from '../../harness/models.js';
import { phaseIs, startOperatorProcess, waitForCheckpoint, type OperatorProcess } from '../../harness/operator.js';
import { waitFor } from '../../harness/process.js';

/** Child processes of a process (the validation workers of an operator). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !/State:\s+Z/.test(readFileSync(`/proc/${pid}/status`, 'utf8'));

describe('faults: operator killed during a fetch or a validation', function () {
  this.timeout(150_000);
  let cp: ControlPlane;
  let dir: string;
  let cacheDir: string;
  let server: TrickleServer | undefined;
  const procs: OperatorProcess[] = [];

  before(async () => {
    cp = await sharedControlPlane();
    dir = await tempDir('modelgate-faults-kill-');
  });
  beforeEach(async () => {
    cacheDir = await tempDir('modelgate-faults-cache-');
  });
  afterEach(async () => {
    for (const p of procs.splice(0)) await p.stop('SIGKILL').catch(() => undefined);
    await server?.close();
    server = undefined;
    rmSync(cacheDir, { recursive: true, force: true });
  });

  it('killed mid-fetch: the restart fetches again, removes the partial download, validates and deploys', async () => {
    const ns = await freshNamespace(cp, 'killfetch');
    await apply(cp, ns, inferenceDeployment('ranker'));
    await waitForRevision(cp, ns, '1');
    const bytes = classifierModel({ features: 64, classes: 8, seed: 2 });
    server = await startTrickleServer({ 'model.onnx': bytes }, { chunkBytes: 128, everyMs: 50 });
    const first = startOperatorProcess(cp, { cacheDir, fileRoots: [dir] });
    procs.push(first);
    await apply(cp, ns, checkpoint('v1', { path: '', uri: server.url('model.onnx'), digest: sha256Digest(bytes), sizeBytes: bytes.byteLength }));
    await server.waitForRequests('model.onnx', 1, 60_000);
    const partial = await waitFor('a partial download in the cache', async () => (tempFilesIn(cacheDir).length > 0 ? tempFilesIn(cacheDir) : undefined), 10_000, 50);
    // A fetch that is not done within --fold-wait is written as Fetching (it starts first, its
    // status follows a moment later): kill once the status says so, the download still trickling.
    await waitForCheckpoint(cp, ns, 'v1', phaseIs('Fetching'), 10_000);
    await first.kill();
    assert.ok(partial.every((f) => f.startsWith('.partial-')), `temp files are named .partial-*: ${partial.join(', ')}`);
    const killed = await getJson<ModelCheckpoint>(cp, ns, 'modelcheckpoint', 'v1');
    assert.equal(killed.status?.phase, 'Fetching');

    const second = startOperatorProcess(cp, { cacheDir, fileRoots: [dir] });
    procs.push(second);
    await server.waitForRequests('model.onnx', 2, 60_000);
    server.release();
    const done = await waitForCheckpoint(cp, ns, 'v1', phaseIs('Healthy'), 60_000);
    const fetchStage = done.status?.stages?.find((s) => s.stage === 'fetch');
    assert.equal(fetchStage?.verdict, 'Passed');
    assert.equal(fetchStage?.summary?.candidateBytes, bytes.byteLength, 'validated the whole file');
    assert.equal((done.status?.history ?? []).filter((h) => h.phase === 'Validated').length, 1);
    assert.equal(envOf((await readDeployment(cp, ns, 'ranker'))!).MODEL_DIGEST, sha256Digest(bytes));
    assert.deepEqual(tempFilesIn(second.cacheDir), [], 'no partial or temp file is left in the cache after the restart');
  });

  it('killed mid-validation: never Validated from the interrupted run; the restart validates from the start and deploys', async () => {
    const ns = await freshNamespace(cp, 'killval');
    await apply(cp, ns, inferenceDeployment('ranker'));
    await waitForRevision(cp, ns, '1');
    const model = await writeArtifact(dir, `${ns}-heavy.onnx`, heavyClassifier(3));
    const first = startOperatorProcess(cp, { cacheDir, fileRoots: [dir] });
    procs.push(first);
    await apply(cp, ns, checkpoint('v1', model, { validation: { benchmark: slowBenchmark(1200) } }));
    await waitForCheckpoint(cp, ns, 'v1', phaseIs('Validating'), 60_000);
    const workers = await waitFor('a validation worker', async () => {
      const c = childrenOf(first.proc.child.pid!);
      return c.length > 0 ? c : undefined;
    }, 10_000, 50);
    await new Promise((r) => setTimeout(r, 800));
    const before = await getJson<ModelCheckpoint>(cp, ns, 'modelcheckpoint', 'v1');
    assert.equal(before.status?.phase, 'Validating', 'still validating when killed (make the benchmark slower if this fails)');
    await first.kill();
    const killedAt = Date.now();
    await waitFor('the killed operator\'s workers to exit', async () => (workers.every((p) => !alive(p)) ? true : undefined), 10_000, 100);
    const killed = await getJson<ModelCheckpoint>(cp, ns, 'modelcheckpoint', 'v1');
    assert.equal(killed.status?.phase, 'Validating');
    assert.equal(killed.status?.stages, undefined, 'no gate results from the interrupted run');

    const second = startOperatorProcess(cp, { cacheDir, fileRoots: [dir] });
    procs.push(second);
    const done = await waitForCheckpoint(cp, ns, 'v1', phaseIs('Healthy'), 90_000);
    const validated = (done.status?.history ?? []).filter((h) => h.phase === 'Validated');
    assert.equal(validated.length, 1);
    assert.ok(Date.parse(validated[0]!.time) >= killedAt - 1000, 'Validated only by the restarted operator');
    assert.deepEqual(done.status?.stages?.map((s) => `${s.stage}:${s.verdict}`), ['fetch:Passed', 'architecture:Passed', 'holdout:Skipped', 'benchmark:Passed', 'regression:Skipped']);
    const report = await getJson<{ data: Record<string, string> }>(cp, ns, 'configmap', 'v1-report');
    const full = JSON.parse(report.data['report.json']!) as { full?: { benchmark?: { batches: Array<{ runs: number }> } } };
    assert.equal(full.full?.benchmark?.batches[0]?.runs, 1200, 'the report is of a complete benchmark');
    assert.equal(envOf((await readDeployment(cp, ns, 'ranker'))!).MODEL_DIGEST, model.digest);
    assert.deepEqual(tempFilesIn(second.cacheDir), []);
  });
});
