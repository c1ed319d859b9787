// WorkerPool.scope(): the jobs of one validation share one worker's session and parsed dataset
// (REAL onnxruntime in REAL worker processes), and give the same results as jobs run alone.
import assert from 'node:assert/strict';
import { rename } from 'node:fs/promises';
import path from 'node:path';
import { StageError } from '../../../src/validation/contract.js';
import { WorkerPool } from '../../../src/validation/worker-pool.js';
import { scoreHoldout } from '../../../src/validation/holdout-gate.js';
import type { EvaluateJob } from '../../../src/validation/worker-pool.js';
import { classificationData, classifierModel, holdoutJsonl, randomWeights, tempDir, weightsOnlyUpdate, writeArtifact } from '../../harness/models.js';
import type { WrittenFile } from '../../harness/models.js';

describe('WorkerPool.scope (real onnxruntime workers)', function () {
  this.timeout(60_000);
  let root: string;
  let pool: WorkerPool;
  let model: WrittenFile;
  let baseline: WrittenFile;
  let dataset: WrittenFile;
  const truth = randomWeights(8, 3, 1);

  before(async () => {
    root = await tempDir('modelgate-scope-');
    pool = new WorkerPool({ size: 1, memoryMiB: 1024, faultInjection: true });
    model = await writeArtifact(root, 'model.onnx', classifierModel({ ...truth }));
    baseline = await writeArtifact(root, 'baseline.onnx', classifierModel({ ...weightsOnlyUpdate(truth, 0.05, 3) }));
    dataset = await writeArtifact(root, 'holdout.jsonl', holdoutJsonl(classificationData(truth, 300, 5)));
  });

  after(async () => {
    await pool.close();
  });

  const evaluateJob = (file = dataset.path): EvaluateJob => ({ type: 'evaluate', candidate: model.path, baseline: baseline.path, dataset: { path: file, format: 'jsonl' }, task: 'classification', batchSize: 16 });
  const benchmarkJob = (file: string) => ({ type: 'benchmark' as const, model: model.path, batchSizes: [1, 8], warmupRuns: 1, runs: 3, dataset: { path: file, format: 'jsonl' as const } });

  it('the session of the first job and the dataset of the evaluation are reused, with the same results as jobs run alone', async () => {
    const alone = await pool.run(evaluateJob());
    assert.equal(alone.candidate.sessionReused, undefined);
    const scope = pool.scope();
    try {
      await scope.run({ type: 'inspect', model: model.path });
      const ev = await scope.run(evaluateJob());
      assert.equal(ev.candidate.sessionReused, true, 'the candidate session is the one inspect loaded');
      assert.equal(ev.baseline?.sessionReused, undefined, 'the baseline has its own session');
      assert.deepEqual(ev.candidate.predictions, alone.candidate.predictions);
      assert.deepEqual(ev.candidate.ok, alone.candidate.ok);
      assert.deepEqual(ev.baseline?.predictions, alone.baseline?.predictions);
      assert.deepEqual(ev.labels, alone.labels);
      assert.deepEqual(ev.comparison?.metrics, alone.comparison?.metrics);
      // The file goes away: the benchmark of the same scope still tiles the holdout it parsed.
      const moved = path.join(root, 'moved.jsonl');
      await rename(dataset.path, moved);
      try {
        const bench = await scope.run(benchmarkJob(dataset.path));
        assert.equal(bench.input, 'holdout');
        assert.deepEqual(bench.batches.map((b) => [b.batchSize, b.errors]), [[1, 0], [8, 0]]);
      } finally {
        await rename(moved, dataset.path);
      }
    } finally {
      scope.release();
    }
  });

  it('scores the candidate in the worker when asked (off the operator\'s event loop): the same score as scoreHoldout on what it returned', async () => {
    const plain = await pool.run(evaluateJob());
    assert.equal(plain.score, undefined, 'no score unless the job asks for it');
    assert.equal(plain.timingsMs?.metrics, undefined);
    const ev = await pool.run({ ...evaluateJob(), score: true });
    assert.ok(ev.score, 'the worker returned a score');
    assert.deepEqual(ev.score, scoreHoldout('classification', ev));
    assert.ok(ev.score.metrics.accuracy! > 0.5, `accuracy ${ev.score.metrics.accuracy}`);
    assert.ok(typeof ev.timingsMs?.metrics === 'number' && ev.timingsMs.metrics >= 0);
    // Labels that do not fit the task fail the job with the gate's own terminal reason.
    await assert.rejects(pool.run({ ...evaluateJob(), baseline: undefined, compare: undefined, task: 'regression', score: true }), (err: unknown) => err instanceof StageError && err.reason === 'DatasetInvalid' && err.terminal && /do not fit task regression/.test(err.message));
  });

  it('warms each model up with one untimed batch before the timed ones: its time is reported apart, every sample keeps a timed latency', async () => {
    const ev = await pool.run(evaluateJob());
    const t = ev.timingsMs;
    assert.ok(t, 'the worker reports its timings');
    assert.ok(typeof t.warmup === 'number' && t.warmup > 0, `warm-up time ${t.warmup}`);
    assert.ok(t.total >= t.dataset + t.sessions + t.warmup + t.batches, `the warm-up is inside the job's total: ${JSON.stringify(t)}`);
    for (const run of [ev.candidate, ev.baseline!]) {
      assert.equal(run.latencyMs.length, 300, 'one latency per sample, the warm-up batch not among them');
      assert.ok([...run.latencyMs].every((ms) => ms > 0), 'every sample was timed');
    }
  });

  it('a released scope keeps nothing: the next scope reads the dataset again', async () => {
    const first = pool.scope();
    await first.run(evaluateJob());
    first.release();
    const moved = path.join(root, 'moved2.jsonl');
    await rename(dataset.path, moved);
    const second = pool.scope();
    try {
      await assert.rejects(second.run(benchmarkJob(dataset.path)), (err: unknown) => err instanceof StageError && err.reason === 'DatasetInvalid');
      second.release();
      // Nor does a job outside any scope (the pool has one worker: the scope had to let it go first).
      await assert.rejects(pool.run(benchmarkJob(dataset.path)), (err: unknown) => err instanceof StageError && err.reason === 'DatasetInvalid');
    } finally {
      second.release();
      await rename(moved, dataset.path);
    }
  });

  it('a worker that dies during a scope is replaced for its next job (FAKE FAULT INJECTION)', async () => {
    const scope = pool.scope();
    try {
      await scope.run({ type: 'inspect', model: model.path });
      await assert.rejects(scope.run({ type: 'crash' }), (err: unknown) => err instanceof StageError && err.reason === 'ValidatorCrashed');
      const ev = await scope.run(evaluateJob());
      assert.equal(ev.count, 300);
      assert.equal(ev.candidate.sessionReused, undefined, 'the new worker loaded its own session');
    } finally {
      scope.release();
    }
    // The pool still serves jobs from other callers.
    const again = await pool.run({ type: 'inspect', model: model.path });
    assert.equal(again.inputs[0]!.name, 'x');
  });
});
