// Benchmark: the pipeline's holdout evaluation (OnnxValidator, evaluation in a worker process)
// against a bare onnxruntime-node loop over the same samples (src/onnx/session.ts, same session
// options, same batch size, after the stage's one-batch warm-up), and the event-loop delay of the process holding the
// validator while validations run in the worker pool.
//
//   npx tsx bench/holdout.ts [--runs 5] [--samples 10000] [--features 256] [--classes 10]
//                            [--ocr-samples 1000] [--no-ocr] [--batch 16] [--baseline-runs 1]
import { rmSync, existsSync } from 'node:fs';
import path from 'node:path';
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { classificationData, classifierModel, holdoutJsonl, randomWeights, rng, tempDir, weightsOnlyUpdate, writeArtifact, toWeights, type WrittenFile } from '../test/harness/models.js';
import { encodeNpz } from '../test/harness/datasets.js';
import { readFile } from 'node:fs/promises';
import { closeSession, openSession, run, tensor } from '../src/onnx/session.js';
import { parseNpzArrays } from '../src/validation/dataset.js';
import { metricEvaluator } from '../src/math/metrics.js';
import { latencySummary } from '../src/math/stats.js';
import { OnnxValidator } from '../src/validation/pipeline.js';
import type { ValidationReport, ValidationRequest } from '../src/validation/contract.js';
import type { HoldoutGateSpec as HoldoutSpec } from '../src/api/types.js';
import { log, median, numFlag, round, sleep, table, writeResult } from './lib.js';
import { repoRoot } from '../test/harness/binaries.js';

/**
 * Runs fn while sampling the event loop's delay every 10 ms into each histogram, as
 * monitorEventLoopDelay does (a timer, and how late it fires), but started fresh each time:
 * that monitor, disabled and enabled again, records the whole gap between as one delay (Node 20
 * and 24 both: enable, disable, 300 ms idle, enable gives a 320 ms sample), so the bare runs
 * between pipeline runs showed up as stalls of the validator's loop. Its histograms cannot be
 * merged either (RecordableHistogram.add refuses them).
 */
async function withLoopDelay<T>(into: RecordableHistogram[], fn: () => Promise<T>): Promise<T> {
  const everyNs = 10e6;
  let last = process.hrtime.bigint();
  let timer: NodeJS.Timeout | undefined;
  const tick = (): void => {
    const now = process.hrtime.bigint();
    const delay = Math.max(1, Math.round(Number(now - last) - everyNs));
    for (const h of into) h.record(delay);
    last = now;
    timer = setTimeout(tick, everyNs / 1e6);
  };
  timer = setTimeout(tick, everyNs / 1e6);
  try {
    return await fn();
  } finally {
    await sleep(50); // a blocked loop is recorded only once the timer runs again
    clearTimeout(timer);
  }
}

const runs = numFlag('runs', 5);
const samples = numFlag('samples', 10_000);
const features = numFlag('features', 256);
const classes = numFlag('classes', 10);
const batch = numFlag('batch', 16);
const ocrSamples = numFlag('ocr-samples', 1000);
const withOcr = !process.argv.includes('--no-ocr');
const OCR_MODEL = path.join(repoRoot, 'node_modules', '@gutenye', 'ocr-models', 'assets', 'ch_ppocr_mobile_v2.0_cls_infer.onnx');

interface Case {
  name: string;
  model: WrittenFile;
  baseline?: WrittenFile;
  dataset: WrittenFile;
  format: 'jsonl' | 'npz';
  /** Per-sample input dims and the sample-major float32 values the bare loop feeds. */
  dims: number[];
  x: Float32Array;
  count: number;
}

interface PipelineRun {
  totalMs: number;
  stageMs: Record<string, number>;
  /** Mean batch latency inside the worker times the number of batches. */
  workerInferenceMs: number;
  passed: boolean;
  reason: string;
  /** The regression gate's paired bootstrap, timed inside the worker (with a baseline only). */
  bootstrapMs?: number;
  /** The candidate's session load in the architecture stage, and whether the holdout stage reused it. */
  sessionLoadMs: number;
  sessionReused: boolean;
  /** Phases of the holdout stage, where the code reports them (worker: dataset, sessions, batches, compare, total; job round trip; metrics). */
  phasesMs?: Record<string, number>;
}

async function pipelineRun(v: OnnxValidator, c: Case, withBaseline: boolean): Promise<PipelineRun> {
  const ctl = new AbortController();
  const holdout: HoldoutSpec = { dataset: { uri: c.dataset.uri, digest: c.dataset.digest, format: c.format }, task: 'classification', maxLatencyP95Ms: 10_000 };
  const request: ValidationRequest = {
    key: `bench/${c.name}`,
    generation: 1,
    candidate: { uri: c.model.uri, digest: c.model.digest, sizeBytes: c.model.sizeBytes },
    spec: { timeoutSeconds: 1800, holdout, benchmark: { batchSizes: [1, 8], warmupRuns: 3, runs: 20 } },
  };
  if (withBaseline && c.baseline) {
    request.baseline = { checkpoint: 'prod', version: 'prod', artifact: { uri: c.baseline.uri, digest: c.baseline.digest, sizeBytes: c.baseline.sizeBytes } };
  }
  const t0 = performance.now();
  const fetched = await v.fetch(request.candidate, ctl.signal);
  const tf = performance.now() - t0;
  const report: ValidationReport = await v.validate(request, fetched, ctl.signal);
  const totalMs = performance.now() - t0;
  const stageMs: Record<string, number> = { candidateFetch: tf };
  for (const s of report.stages) stageMs[s.stage] = s.durationMs ?? NaN;
  const h = (report.full.holdout ?? {}) as { latencyMs?: { mean?: number }; samples?: number; sessionReused?: boolean; timingsMs?: { worker?: Record<string, number>; metrics?: number; job?: number } };
  const tm = h.timingsMs;
  const phasesMs = tm ? { ...Object.fromEntries(Object.entries(tm.worker ?? {}).map(([k, v]) => [`worker.${k}`, v])), job: tm.job ?? NaN, metrics: tm.metrics ?? NaN } : undefined;
  const batches = Math.ceil((h.samples ?? c.count) / batch);
  return { totalMs, stageMs, workerInferenceMs: (h.latencyMs?.mean ?? NaN) * batches, passed: report.passed, reason: report.reason, sessionLoadMs: Number(report.full.sessionLoadMs ?? 0), sessionReused: h.sessionReused === true, ...(phasesMs ? { phasesMs } : {}), ...(typeof report.full.bootstrapMs === 'number' ? { bootstrapMs: report.full.bootstrapMs } : {}) };
}

/** The bare loop: same session options as the worker (1 intra-op thread, 1 inter-op), same batches, after the same warm-up (one batch). */
async function bareRun(c: Case, modelPath: string): Promise<{ loopMs: number; sessionMs: number }> {
  const t0 = performance.now();
  const session = await openSession(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const sessionMs = performance.now() - t0;
  const per = c.dims.reduce((a, b) => a * b, 1);
  const inputName = session.inputNames[0]!;
  const feedsAt = (start: number): Record<string, ReturnType<typeof tensor>> => {
    const n = Math.min(batch, c.count - start);
    return { [inputName]: tensor('float32', c.x.subarray(start * per, (start + n) * per), [n, ...c.dims]) };
  };
  try {
    // The stage's warm-up: one untimed batch (src/validation/worker/evaluate.ts warmUp).
    await run(session, feedsAt(0));
    const t1 = performance.now();
    for (let start = 0; start < c.count; start += batch) {
      const out = await run(session, feedsAt(start));
      for (const t of Object.values(out)) t.dispose?.();
    }
    return { loopMs: performance.now() - t1, sessionMs };
  } finally {
    await closeSession(session);
  }
}

interface ScriptRun {
  /** The whole script: read + parse, session, every batch, metrics. */
  totalMs: number;
  parseMs: number;
  sessionMs: number;
  loopMs: number;
  metricsMs: number;
}

/**
 * The bare *script doing the same work* as the holdout stage: read and parse the same file
 * (.npz with the project's zip/npy reader, the only one in the process; JSON Lines the obvious
 * way, JSON.parse per line into a Float32Array), create one session, run the first batch once
 * untimed (the stage's warm-up), then every batch once, keep every prediction, and compute the same metrics and
 * latency summary with the same pure functions the holdout gate uses.
 */
async function bareScript(c: Case, modelPath: string): Promise<ScriptRun> {
  const t0 = performance.now();
  const per = c.dims.reduce((a, b) => a * b, 1);
  const bytes = await readFile(c.dataset.path);
  let x: Float32Array;
  let labels: Float64Array;
  if (c.format === 'npz') {
    const arrays = parseNpzArrays(bytes, c.dataset.path);
    const xs = arrays.x!.data;
    x = xs instanceof Float32Array ? xs : new Float32Array(xs as ArrayLike<number>);
    labels = Float64Array.from(arrays.label!.data as ArrayLike<number>);
  } else {
    x = new Float32Array(c.count * per);
    labels = new Float64Array(c.count);
    let i = 0;
    for (const line of bytes.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      const rec = JSON.parse(line) as { inputs: { x: number[] }; label: number };
      x.set(rec.inputs.x, i * per);
      labels[i++] = rec.label;
    }
  }
  const t1 = performance.now();
  const session = await openSession(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 });
  const t2 = performance.now();
  const inputName = session.inputNames[0]!;
  const outputName = session.outputNames[0]!;
  let predictions: Float64Array | undefined;
  let row = 0;
  const latencies: number[] = [];
  try {
    const warm = await run(session, { [inputName]: tensor('float32', x.subarray(0, Math.min(batch, c.count) * per), [Math.min(batch, c.count), ...c.dims]) });
    for (const t of Object.values(warm)) t.dispose?.();
    for (let start = 0; start < c.count; start += batch) {
      const n = Math.min(batch, c.count - start);
      const tb = performance.now();
      const out = await run(session, { [inputName]: tensor('float32', x.subarray(start * per, (start + n) * per), [n, ...c.dims]) });
      latencies.push(performance.now() - tb);
      const values = out[outputName]!.data as Float32Array;
      row ||= values.length / n;
      predictions ??= new Float64Array(c.count * row);
      predictions.set(values, start * row);
      for (const t of Object.values(out)) t.dispose?.();
    }
  } finally {
    await closeSession(session);
  }
  const t3 = performance.now();
  const rows = Array.from({ length: c.count }, (_, i) => predictions!.subarray(i * row, (i + 1) * row));
  const metrics = metricEvaluator('classification', rows, labels)();
  latencySummary(latencies);
  const t4 = performance.now();
  if (!(Object.keys(metrics).length > 0)) throw new Error('bare script: no metrics');
  return { totalMs: t4 - t0, parseMs: t1 - t0, sessionMs: t2 - t1, loopMs: t3 - t2, metricsMs: t4 - t3 };
}

async function makeCases(dir: string): Promise<Case[]> {
  const truth = randomWeights(features, classes, 1);
  const data = classificationData(truth, samples, 11);
  const modelBytes = classifierModel({ features, classes, weights: truth.weights, bias: truth.bias });
  const model = await writeArtifact(dir, 'classifier.onnx', modelBytes);
  const base = toWeights(features, classes, weightsOnlyUpdate(truth, 0.05, 5));
  const baseline = await writeArtifact(dir, 'baseline.onnx', classifierModel({ features, classes, weights: base.weights, bias: base.bias }));
  // JSONL rounds to 6 decimals; both formats and the bare loop use the same rounded values.
  const rounded = Float32Array.from(data.x, (v) => Number(v.toFixed(6)));
  const jsonl = await writeArtifact(dir, 'holdout.jsonl', holdoutJsonl(data));
  const npz = await writeArtifact(dir, 'holdout.npz', encodeNpz({ x: { data: rounded, shape: [samples, features] }, label: { data: Float64Array.from(data.labels), shape: [samples] } }));
  const cases: Case[] = [
    { name: `mlp${features}x${classes}-npz`, model, baseline, dataset: npz, format: 'npz', dims: [features], x: rounded, count: samples },
    { name: `mlp${features}x${classes}-jsonl`, model, baseline, dataset: jsonl, format: 'jsonl', dims: [features], x: rounded, count: samples },
  ];
  if (withOcr && existsSync(OCR_MODEL)) {
    const { readFile } = await import('node:fs/promises');
    const ocr = await writeArtifact(dir, 'ppocr-cls.onnx', await readFile(OCR_MODEL));
    const dims = [3, 48, 192];
    const per = 3 * 48 * 192;
    const next = rng(7);
    const x = new Float32Array(ocrSamples * per);
    for (let i = 0; i < x.length; i++) x[i] = next() * 2 - 1;
    const labels = Float64Array.from({ length: ocrSamples }, (_, i) => i % 2);
    const ds = await writeArtifact(dir, 'ocr-holdout.npz', encodeNpz({ x: { data: x, shape: [ocrSamples, ...dims] }, label: { data: labels, shape: [ocrSamples] } }));
    cases.push({ name: 'ppocr-cls-npz', model: ocr, baseline: ocr, dataset: ds, format: 'npz', dims, x, count: ocrSamples });
  } else if (withOcr) {
    log(`PP-OCR classifier not found at ${OCR_MODEL}: skipped`);
  }
  return cases;
}

async function main(): Promise<void> {
  const dir = await tempDir('modelgate-bench-holdout-');
  const cacheDir = path.join(dir, 'cache');
  const validator = new OnnxValidator({ cacheDir, fileRoots: [dir], workers: 1, evalBatchSize: batch, maxArtifactBytes: 4 * 1024 ** 3, workerMemoryMiB: 4096 });
  await validator.start();
  const results: Array<Record<string, unknown>> = [];
  const eldAll = createHistogram();
  try {
    log(`writing models and datasets (${samples} samples, ${features} features, ${classes} classes${withOcr ? `; PP-OCR cls with ${ocrSamples} samples` : ''})`);
    const cases = await makeCases(dir);
    for (const c of cases) {
      log(`case ${c.name}: warm-up pipeline run (fetch into the cache, worker start)`);
      await pipelineRun(validator, c, false);
      const pipe: PipelineRun[] = [];
      const bare: Array<{ loopMs: number; sessionMs: number }> = [];
      const script: ScriptRun[] = [];
      const eld = createHistogram();
      for (let r = 0; r < runs; r++) {
        // Alternate the order so drift on a noisy machine favours neither side.
        const doPipe = async (): Promise<void> => {
          pipe.push(await withLoopDelay([eld, eldAll], () => pipelineRun(validator, c, false)));
        };
        // The script first: right after the warm loop it would find this process's onnxruntime,
        // caches and JIT warmed for the same model, which the pipeline's worker never is.
        const doBare = async (): Promise<void> => {
          script.push(await bareScript(c, c.model.path));
          bare.push(await bareRun(c, c.model.path));
        };
        if (r % 2 === 0) {
          await doPipe();
          await doBare();
        } else {
          await doBare();
          await doPipe();
        }
      }
      // With a baseline: the evaluation runs both models and the regression gate bootstraps on
      // the validator's (the operator's) event loop: the delay figure that matters most.
      const eldBase = createHistogram();
      const withBase: PipelineRun[] = [];
      for (let r = 0; r < numFlag('baseline-runs', 1); r++) {
        withBase.push(await withLoopDelay([eldBase, eldAll], () => pipelineRun(validator, c, true)));
      }
      const holdoutMs = median(pipe.map((p) => p.stageMs.holdout!));
      const loopMs = median(bare.map((b) => b.loopMs));
      const scriptMs = median(script.map((b) => b.totalMs));
      // The holdout stage no longer loads a session of its own when the architecture stage's is
      // reused: charge it the candidate's session load anyway, so both sides pay for one session.
      const holdoutWithSession = median(pipe.map((p) => p.stageMs.holdout! + (p.sessionReused ? p.sessionLoadMs : 0)));
      const res = {
        case: c.name,
        samples: c.count,
        batchSize: batch,
        runs,
        passed: pipe.every((p) => p.passed),
        reasons: [...new Set(pipe.map((p) => p.reason))],
        pipelineHoldoutMs: round(holdoutMs, 4),
        pipelineWorkerInferenceMs: round(median(pipe.map((p) => p.workerInferenceMs)), 4),
        bareLoopMs: round(loopMs, 4),
        bareSessionMs: round(median(bare.map((b) => b.sessionMs)), 3),
        ratioHoldoutToBare: round(holdoutMs / loopMs, 3),
        ratioWorkerInferenceToBare: round(median(pipe.map((p) => p.workerInferenceMs)) / loopMs, 3),
        bareScriptMs: round(scriptMs, 4),
        bareScriptPhasesMs: Object.fromEntries((['parseMs', 'sessionMs', 'loopMs', 'metricsMs'] as const).map((k) => [k, round(median(script.map((s) => s[k])), 4)])),
        holdoutWithSessionMs: round(holdoutWithSession, 4),
        ratioHoldoutToBareScript: round(holdoutWithSession / scriptMs, 3),
        holdoutPhasesMedianMs: pipe[0]?.phasesMs ? Object.fromEntries(Object.keys(pipe[0].phasesMs).map((k) => [k, round(median(pipe.map((p) => p.phasesMs?.[k] ?? NaN)), 3)])) : undefined,
        stagesMedianMs: Object.fromEntries(['candidateFetch', 'fetch', 'architecture', 'holdout', 'benchmark', 'regression'].map((s) => [s, round(median(pipe.map((p) => p.stageMs[s] ?? NaN)), 4)])),
        pipelineTotalMs: round(median(pipe.map((p) => p.totalMs)), 4),
        eventLoopDelayMs: { p50: round(eld.percentile(50) / 1e6, 3), p99: round(eld.percentile(99) / 1e6, 3), max: round(eld.max / 1e6, 3) },
        withBaseline: {
          holdoutMs: round(median(withBase.map((p) => p.stageMs.holdout!)), 4),
          regressionMs: round(median(withBase.map((p) => p.stageMs.regression!)), 4),
          // Target: the bootstrap (1000 resamples, in the worker) costs at most a quarter of the holdout stage.
          bootstrapMs: round(median(withBase.map((p) => p.bootstrapMs ?? NaN)), 4),
          ratioBootstrapToHoldout: round(median(withBase.map((p) => (p.bootstrapMs ?? NaN) / p.stageMs.holdout!)), 3),
          eventLoopDelayMs: { p50: round(eldBase.percentile(50) / 1e6, 3), p99: round(eldBase.percentile(99) / 1e6, 3), max: round(eldBase.max / 1e6, 3) },
        },
        raw: { pipeline: pipe, bare, script },
      };
      results.push(res);
      log(`case ${c.name}: holdout ${res.pipelineHoldoutMs} ms vs bare ${res.bareLoopMs} ms (ratio ${res.ratioHoldoutToBare}); vs bare script ${res.bareScriptMs} ms (ratio ${res.ratioHoldoutToBareScript}); ELD p99 ${res.eventLoopDelayMs.p99} ms, with baseline ${res.withBaseline.eventLoopDelayMs.p99} ms`);
    }
  } finally {
    await validator.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const eldP99 = eldAll.percentile(99) / 1e6;
  const file = writeResult('holdout', {
    targets: { ratioHoldoutToBare: '<= 1.10', ratioHoldoutToBareScript: '<= 1.10', ratioWorkerInferenceToBare: '<= 1.05', eventLoopDelayP99Ms: '< 20' },
    eventLoopDelayAllRunsMs: { p50: round(eldAll.percentile(50) / 1e6, 3), p99: round(eldP99, 3), max: round(eldAll.max / 1e6, 3) },
    cases: results,
  });
  const rows = results.map((r) => {
    const s = r.stagesMedianMs as Record<string, number>;
    const e = r.eventLoopDelayMs as { p99: number };
    const wb = r.withBaseline as { eventLoopDelayMs: { p99: number }; regressionMs: number };
    return [r.case as string, r.samples as number, r.pipelineHoldoutMs as number, r.pipelineWorkerInferenceMs as number, r.bareLoopMs as number,
      `**${r.ratioHoldoutToBare}**`, r.ratioWorkerInferenceToBare as number, r.bareScriptMs as number, `**${r.ratioHoldoutToBareScript}**`, s.fetch!, s.architecture!, s.benchmark!, e.p99, wb.eventLoopDelayMs.p99, wb.regressionMs];
  });
  const phaseRows = results.map((r) => {
    const ph = (r.holdoutPhasesMedianMs ?? {}) as Record<string, number>;
    const sc = r.bareScriptPhasesMs as Record<string, number>;
    return [r.case as string, r.pipelineHoldoutMs as number, ph['worker.dataset'] ?? '', ph['worker.sessions'] ?? '', ph['worker.warmup'] ?? '', ph['worker.batches'] ?? '', ph['worker.total'] ?? '', ph.job ?? '', ph.metrics ?? '', r.bareScriptMs as number, sc.parseMs!, sc.sessionMs!, sc.loopMs!, sc.metricsMs!];
  });
  process.stdout.write(`\n### holdout stage phases vs the bare script's (medians, ms)\n\n${table(
    ['case', 'holdout stage', 'worker: dataset', 'worker: sessions', 'worker: warm-up', 'worker: batches', 'worker: job', 'job round trip', 'metrics (gate)', 'bare script', 'script: read+parse', 'script: session', 'script: warm-up + batches', 'script: metrics'],
    phaseRows,
  )}\n`);
  process.stdout.write(`\n### holdout (median of ${runs} runs, batch ${batch})\n\n${table(
    ['case', 'samples', 'pipeline holdout ms', 'worker inference ms', 'bare loop ms', 'holdout/bare', 'worker inference/bare', 'bare script ms', 'holdout/bare script', 'fetch ms', 'architecture ms', 'benchmark ms', 'ELD p99 ms', 'ELD p99 ms (with baseline)', 'regression gate ms'],
    rows,
  )}\n\nevent-loop delay over all pipeline runs: p99 ${round(eldP99, 3)} ms (target < 20 ms); results: ${file}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
