// The evaluate job in a worker: the candidate (and the baseline) run over the holdout in the same
// batches, each sample's prediction, finiteness and latency recorded, and with a baseline the
// paired bootstrap of every metric's degradation run here, off the operator's event loop.
import { performance } from 'node:perf_hooks';
import { run, signatureOf } from '../../onnx/session.js';
import type { Session, Tensor, TensorInfo } from '../../onnx/session.js';
import { denominatorFloor, pairedDegradations } from '../../math/evidence.js';
import type { PairedMetricSpec } from '../../math/evidence.js';
import { isDisplayOnlyMetric, METRICS_BY_TASK, metricDirection, metricEvaluator, perSampleValues } from '../../math/metrics.js';
import type { Labels, Predictions } from '../../math/metrics.js';
import { mean } from '../../math/stats.js';
import { chooseOutput } from '../output-choice.js';
import { sliceBatch } from '../dataset.js';
import type { HoldoutData, HoldoutInput } from '../dataset.js';
import { REASONS } from '../../api/reasons.js';
import { StageError } from '../contract.js';
import { scoreHoldout } from '../holdout-gate.js';
import type { HoldoutScore } from '../holdout-gate.js';
import { encodeArray } from '../worker-protocol.js';
import type { CompareRequest, CompareResult, EvaluateJob, EvaluateResultWire, ModelRun, ModelRunWire } from '../worker-protocol.js';
import { castInputs, feedsFor, mapInputs } from './feeds.js';
import { firstLine, JobError } from './job-error.js';
import { closeUnlessKept, loadDatasetIn, open, openIn } from './scope-cache.js';
import type { ScopeCache } from './scope-cache.js';

interface RunAcc {
  info: { session: Session; ms: number; reused: boolean; inputs: TensorInfo[]; mapping: Map<string, string>; outputName: string };
  /** The dataset's inputs cast whole to this model's element types (batches are views of them). */
  fed?: HoldoutData;
  predictions: Float64Array | undefined;
  rowSize: number;
  ok: Uint8Array;
  latency: Float64Array;
  errors: number;
  firstError?: string;
}

/** The output the holdout gate scores (chooseOutput); none that fits is the job's error. */
function pickOutput(outputs: TensorInfo[], wanted: string | undefined, task: EvaluateJob['task'], label: string): string {
  const choice = chooseOutput(outputs, wanted, task, label, 'holdout.outputName (--output-name)');
  if (!choice.ok) throw new JobError(REASONS[choice.reason], choice.message);
  return choice.name;
}

/** Run one batch and record its predictions, which samples came out finite, and its latency; a failed run counts its samples as errors. */
async function runBatch(acc: RunAcc, inputs: Record<string, HoldoutInput>, start: number, size: number): Promise<void> {
  const t0 = performance.now();
  try {
    const out = await run(acc.info.session, feedsFor(acc.info.inputs, acc.info.mapping, inputs));
    const ms = performance.now() - t0;
    const t = out[acc.info.outputName]!;
    const values = t.data as ArrayLike<number | bigint>;
    const row = size > 0 ? values.length / size : 0;
    if (!Number.isInteger(row) || row === 0) throw new Error(`output '${acc.info.outputName}' has ${values.length} values for ${size} samples`);
    if (acc.predictions === undefined) {
      acc.rowSize = row;
      acc.predictions = new Float64Array(acc.ok.length * row).fill(NaN);
    } else if (row !== acc.rowSize) {
      throw new Error(`output '${acc.info.outputName}' has ${row} values per sample, earlier batches had ${acc.rowSize}`);
    }
    const preds = acc.predictions;
    const at = start * row;
    if (values instanceof BigInt64Array || values instanceof BigUint64Array) {
      for (let j = 0; j < size * row; j++) preds[at + j] = Number(values[j]);
    } else {
      // Converts natively, value by value as Number() did (values.length is size * row, checked above).
      preds.set(values as ArrayLike<number>, at);
    }
    for (let s = 0; s < size; s++) {
      let finite = 1;
      const from = at + s * row;
      for (let k = 0; k < row; k++) {
        const v = preds[from + k]!;
        // v - v is NaN exactly for NaN and ±Infinity: Number.isFinite without the call.
        if (v - v !== 0) finite = 0;
      }
      acc.ok[start + s] = finite;
    }
    acc.latency.fill(ms, start, start + size);
    for (const v of Object.values(out)) v.dispose?.();
  } catch (err) {
    const ms = performance.now() - t0;
    acc.errors += size;
    acc.firstError ??= firstLine(err);
    for (let s = 0; s < size; s++) {
      acc.ok[start + s] = 0;
      acc.latency[start + s] = ms;
    }
  }
}

/** A run as the protocol's ModelRun: what the gate scores, and what goes on the wire encoded. */
function runOf(acc: RunAcc): ModelRun {
  const r: ModelRun = {
    outputName: acc.info.outputName,
    sessionMs: acc.info.ms,
    ...(acc.info.reused ? { sessionReused: true } : {}),
    predictions: acc.predictions ?? new Float64Array(0),
    rowSize: acc.rowSize,
    ok: acc.ok,
    latencyMs: acc.latency,
    errors: acc.errors,
  };
  if (acc.firstError !== undefined) r.firstError = acc.firstError;
  return r;
}

/** A model's run as it travels back to the pool. */
function wire(acc: RunAcc): ModelRunWire {
  const r = runOf(acc);
  return { ...r, predictions: encodeArray(r.predictions), ok: encodeArray(r.ok), latencyMs: encodeArray(r.latencyMs) };
}

/** The rows of the chosen samples: scalars as one array, wider rows as views. */
function rowsOf(values: Float64Array, width: number, idx: readonly number[]): Predictions {
  if (width === 1) return Float64Array.from(idx, (i) => values[i]!);
  return idx.map((i) => values.subarray(i * width, (i + 1) * width));
}

/**
 * The paired bootstrap of every metric's degradation on the samples both models ran cleanly, here
 * in the worker so 1000 resamples of 10,000 samples never hold the operator's event loop.
 */
function compare(req: CompareRequest, cand: RunAcc, base: RunAcc, labels: Float64Array, labelWidth: number): CompareResult {
  const t0 = performance.now();
  const idx: number[] = [];
  for (let i = 0; i < cand.ok.length; i++) if (cand.ok[i] === 1 && base.ok[i] === 1) idx.push(i);
  const done = (r: Omit<CompareResult, 'ms'>): CompareResult => ({ ...r, ms: performance.now() - t0 });
  if (idx.length === 0 || !cand.predictions || !base.predictions) return done({ samples: 0, metrics: [] });
  try {
    const y: Labels = rowsOf(labels, labelWidth, idx);

    const mu = mean(labels);
    let ss = 0;
    for (const v of labels) ss += (v - mu) ** 2;
    const labelStd = labels.length > 1 ? Math.sqrt(ss / (labels.length - 1)) : 0;
    const predC = rowsOf(cand.predictions, cand.rowSize, idx);
    const predB = rowsOf(base.predictions, base.rowSize, idx);
    const evalC = metricEvaluator(req.task, predC, y);
    const evalB = metricEvaluator(req.task, predB, y);
    const metrics: PairedMetricSpec[] = METRICS_BY_TASK[req.task]
      .filter((m) => !isDisplayOnlyMetric(m))
      .map((metric) => {
        const spec: PairedMetricSpec = { metric, direction: metricDirection(metric), floor: denominatorFloor(metric, labelStd) };
        if (!req.metrics.includes(metric)) return { ...spec, pointOnly: true };
        const c = perSampleValues(req.task, predC, y, metric);
        const b = perSampleValues(req.task, predB, y, metric);
        return c && b ? { ...spec, perSample: { candidate: c, baseline: b } } : spec;
      });
    const results = pairedDegradations({ n: idx.length, candidate: evalC, baseline: evalB, metrics, resamples: req.resamples, confidence: req.confidence, seed: req.seed });
    return done({ samples: idx.length, metrics: results });
  } catch (err) {
    return done({ samples: idx.length, metrics: [], error: firstLine(err) });
  }
}

/** The evaluate job: both models run on the same samples in the same batches, then compared. */
export async function evaluate(job: EvaluateJob, scope: ScopeCache | undefined): Promise<EvaluateResultWire> {
  const t0 = performance.now();
  const data = await loadDatasetIn(scope, job.dataset);
  const t1 = performance.now();
  let t2 = t1;
  let t3 = t1;
  const accs: RunAcc[] = [];
  try {
    await openModels(job, scope, data, accs);
    t2 = performance.now();
    let batchSize = Math.max(1, job.batchSize ?? 16);
    // A fixed batch dimension wins.
    const d0 = accs[0]!.info.inputs[0]?.shape[0];
    if (typeof d0 === 'number' && d0 > 0) batchSize = d0;
    const samples = data && data.count > 0 ? data : undefined;
    const warmupMs = samples ? await warmUp(accs, samples, batchSize) : 0;
    const tw = performance.now();
    const { labels, labelWidth } = samples ? await runAll(accs, samples, batchSize) : { labels: new Float64Array(0), labelWidth: 1 };
    t3 = performance.now();
    const result: EvaluateResultWire = {
      count: data?.count ?? 0,
      batchSize,
      labels: encodeArray(labels),
      labelWidth,
      candidate: wire(accs[0]!),
    };
    if (accs[1]) result.baseline = wire(accs[1]);
    if (accs[1] && job.compare && result.count > 0) result.comparison = compare(job.compare, accs[0]!, accs[1], labels, labelWidth);
    const t4 = performance.now();
    if (job.score && job.task && result.count > 0) result.score = score(job.task, accs[0]!, result, labels, labelWidth);
    const t5 = performance.now();
    result.timingsMs = { dataset: t1 - t0, sessions: t2 - t1, warmup: warmupMs, batches: t3 - tw, compare: t4 - t3, ...(result.score ? { metrics: t5 - t4 } : {}), total: t5 - t0 };
    return result;
  } finally {
    for (const a of accs) await closeUnlessKept(scope, a.info);
  }
}

/**
 * Gate 2's score of the candidate, computed here rather than on the operator's event loop (the
 * same pure scoreHoldout). Labels that do not fit the task fail the job with the gate's own
 * terminal reason and message.
 */
function score(task: NonNullable<EvaluateJob['task']>, cand: RunAcc, at: { count: number; batchSize: number }, labels: Float64Array, labelWidth: number): HoldoutScore {
  try {
    return scoreHoldout(task, { count: at.count, batchSize: at.batchSize, labels, labelWidth, candidate: runOf(cand) });
  } catch (err) {
    if (err instanceof StageError) throw new JobError(err.reason, err.message, err.terminal);
    throw err;
  }
}

/**
 * Open the candidate (and the baseline) and prepare each run: its output, its inputs paired with
 * the dataset's and cast. Each run goes into accs as soon as its session is open, so the caller
 * closes what opened even when a later step fails.
 */
async function openModels(job: EvaluateJob, scope: ScopeCache | undefined, data: HoldoutData | undefined, accs: RunAcc[]): Promise<void> {
  const models: Array<[string, string]> = [['candidate', job.candidate]];
  if (job.baseline) models.push(['baseline', job.baseline]);
  const casts = new Map<string, Tensor['data']>();
  for (const [label, path] of models) {
    // The candidate's session is the one the architecture stage loaded (same scope); the
    // baseline's is this job's own.
    const { session, ms, reused } = label === 'candidate' ? await openIn(scope, path, label) : { ...(await open(path, label)), reused: false };
    const sig = signatureOf(session);
    const acc: RunAcc = {
      info: { session, ms, reused, inputs: sig.inputs, mapping: new Map(), outputName: '' },
      predictions: undefined,
      rowSize: 0,
      ok: new Uint8Array(data?.count ?? 0),
      latency: new Float64Array(data?.count ?? 0),
      errors: 0,
    };
    accs.push(acc);
    acc.info.outputName = pickOutput(sig.outputs, job.outputName, job.task ?? job.compare?.task, label);
    if (data) {
      acc.info.mapping = mapInputs(sig.inputs, data.inputs, label);
      acc.fed = castInputs(data, sig.inputs, acc.info.mapping, casts);
    }
  }
}

/**
 * One untimed batch (the first) through each model before the timed ones, so the latencies the
 * holdout gate reads are the steady state, as the benchmark gate's are after its warm-up runs: a
 * session's first run plans and allocates (0.2–18 ms measured on a 256×10 classifier whose later
 * batches take 15 µs), which made one batch the largest part of the summed latency. Its time is
 * reported (timingsMs.warmup) and counts in the stage; its outputs are dropped, and a failure here
 * shows again in the timed batch, which records it.
 */
async function warmUp(accs: RunAcc[], data: HoldoutData, batchSize: number): Promise<number> {
  const t0 = performance.now();
  for (const acc of accs) {
    try {
      const out = await run(acc.info.session, feedsFor(acc.info.inputs, acc.info.mapping, sliceBatch(acc.fed ?? data, 0, batchSize).inputs));
      for (const v of Object.values(out)) v.dispose?.();
    } catch {
      /* recorded by the timed batch */
    }
  }
  return performance.now() - t0;
}

/** Every batch through every model, then the labels flattened for the wire. */
async function runAll(accs: RunAcc[], data: HoldoutData, batchSize: number): Promise<{ labels: Float64Array; labelWidth: number }> {
  for (let start = 0, b = 0; start < data.count; start += batchSize, b++) {
    const size = Math.min(batchSize, data.count - start);
    // Alternate which model runs first so warm caches favour neither.
    const order = b % 2 === 0 ? accs : [...accs].reverse();
    for (const acc of order) await runBatch(acc, sliceBatch(acc.fed ?? data, start, start + batchSize).inputs, start, size);
  }
  if (data.labels instanceof Float64Array) return { labels: data.labels, labelWidth: 1 };
  return { labels: Float64Array.from(data.labels.flat()), labelWidth: data.labels[0]?.length ?? 1 };
}
