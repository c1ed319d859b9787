// The validation worker: a child process (forked by worker-pool.ts) that runs onnxruntime, so a
// long evaluation never stalls the operator's event loop and a model that crashes the runtime
// takes down only this process. One job at a time; typed arrays go back over IPC as Buffers.
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { closeSession, openSession, run, signatureOf, tensor } from '../onnx/session.js';
import type { Session, Tensor, TensorInfo, TensorType } from '../onnx/session.js';
import { denominatorFloor, pairedDegradations } from '../math/evidence.js';
import type { PairedMetricSpec } from '../math/evidence.js';
import { isDisplayOnlyMetric, METRICS_BY_TASK, metricDirection, metricEvaluator, perSampleValues } from '../math/metrics.js';
import type { Labels, Predictions } from '../math/metrics.js';
import { latencySummary, mean } from '../math/stats.js';
import { chooseOutput } from './output-choice.js';
import { DatasetError, readHoldout, sliceBatch } from './dataset.js';
import type { HoldoutData, HoldoutInput } from './dataset.js';
import { REASONS } from '../api/reasons.js';
import { encodeArray } from './worker-protocol.js';
import type {
  BenchmarkBatch,
  BenchmarkJob,
  BenchmarkResult,
  CompareRequest,
  CompareResult,
  DatasetJobRef,
  EvaluateJob,
  EvaluateResultWire,
  InspectJob,
  InspectResult,
  ModelRunWire,
  WorkerRelease,
  WorkerReply,
  WorkerRequest,
} from './worker-protocol.js';

class JobError extends Error {
  constructor(readonly reason: string, message: string, readonly terminal = true) {
    super(message);
  }
}

const threads = Number(process.env.MODELGATE_WORKER_THREADS ?? '1') || 1;

async function open(path: string, label: string): Promise<{ session: Session; ms: number }> {
  const t0 = performance.now();
  try {
    // Errors only: onnxruntime's warnings are noise here, and what it does log the pool captures for the report.
    const session = await openSession(path, { intraOpNumThreads: threads, interOpNumThreads: 1, logSeverityLevel: 3 });
    return { session, ms: performance.now() - t0 };
  } catch (err) {
    throw new JobError(
      REASONS.InvalidModel,
      `onnxruntime cannot load the ${label} model (${firstLine(err)}); re-export it with a supported opset and check it with onnxruntime locally.`,
    );
  }
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0]!.slice(0, 300);
}

interface Opened {
  session: Session;
  ms: number;
  /** From the scope's cache: an earlier job loaded it, and the scope closes it. */
  reused: boolean;
}

/**
 * What the jobs of one scope (WorkerPool.scope: one validation) share: the sessions they opened
 * and the datasets they parsed, so a checkpoint's validation loads each model and parses its
 * holdout once. Dropped when the scope is released or a job of another scope comes.
 */
interface ScopeCache {
  id: number;
  sessions: Map<string, { session: Session; ms: number }>;
  datasets: Map<string, HoldoutData | undefined>;
}

let current: ScopeCache | undefined;

async function dropScope(): Promise<void> {
  const c = current;
  current = undefined;
  if (!c) return;
  for (const s of c.sessions.values()) await closeSession(s.session).catch(() => undefined);
}

async function enterScope(id: number | undefined): Promise<ScopeCache | undefined> {
  if (id === undefined) return undefined;
  if (current?.id === id) return current;
  await dropScope();
  current = { id, sessions: new Map(), datasets: new Map() };
  return current;
}

/** The model's session: the scope's when it has one (loaded by an earlier job), else a new one. */
async function openIn(scope: ScopeCache | undefined, path: string, label: string): Promise<Opened> {
  const kept = scope?.sessions.get(path);
  if (kept) return { ...kept, reused: true };
  const o = await open(path, label);
  scope?.sessions.set(path, o);
  return { ...o, reused: false };
}

/** Close a session unless the scope keeps it. */
async function closeUnlessKept(scope: ScopeCache | undefined, o: Opened | { session: Session }): Promise<void> {
  if (scope && [...scope.sessions.values()].some((k) => k.session === o.session)) return;
  await closeSession(o.session).catch(() => undefined);
}

const datasetKey = (ref: DatasetJobRef): string => JSON.stringify([ref.path, ref.format ?? null, ref.labelField ?? null, ref.maxSamples ?? null]);

async function loadDatasetIn(scope: ScopeCache | undefined, ref: DatasetJobRef): Promise<HoldoutData | undefined> {
  const key = datasetKey(ref);
  if (scope?.datasets.has(key)) return scope.datasets.get(key);
  const data = await loadDataset(ref);
  scope?.datasets.set(key, data);
  return data;
}

async function loadDataset(ref: DatasetJobRef): Promise<HoldoutData | undefined> {
  try {
    const opts: { format?: 'jsonl' | 'npz'; labelField?: string; maxSamples?: number } = {};
    if (ref.format) opts.format = ref.format;
    if (ref.labelField) opts.labelField = ref.labelField;
    if (ref.maxSamples !== undefined) opts.maxSamples = ref.maxSamples;
    return await readHoldout(ref.path, opts);
  } catch (err) {
    // Zero samples is a gate verdict (EmptyDataset), not a broken file.
    if (err instanceof DatasetError && /holds no samples/.test(err.message)) return undefined;
    const why = ref.name ? firstLine(err).split(ref.path).join(ref.name) : firstLine(err);
    throw new JobError(REASONS.DatasetInvalid, `The holdout dataset ${ref.name ?? ''} cannot be read: ${why}.`.replace('  ', ' '));
  }
}

const product = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** Copy values into the typed array onnxruntime wants for an element type. */
function cast(type: string, data: ArrayLike<number | bigint>): Tensor['data'] {
  const n = data.length;
  const num = (i: number): number => Number(data[i]);
  // Typed-array constructors convert natively; the per-element callback path is ~10x slower.
  const numeric = !(data instanceof BigInt64Array || data instanceof BigUint64Array) ? (data as ArrayLike<number>) : undefined;
  switch (type) {
    case 'float32':
      return data instanceof Float32Array ? data : numeric ? new Float32Array(numeric) : Float32Array.from({ length: n }, (_, i) => num(i));
    case 'float64':
      return data instanceof Float64Array ? data : numeric ? new Float64Array(numeric) : Float64Array.from({ length: n }, (_, i) => num(i));
    case 'int32':
      return data instanceof Int32Array ? data : Int32Array.from({ length: n }, (_, i) => Math.trunc(num(i)));
    case 'int64':
      return data instanceof BigInt64Array ? data : BigInt64Array.from({ length: n }, (_, i) => BigInt(Math.trunc(num(i))));
    case 'uint8':
    case 'bool':
      return data instanceof Uint8Array ? data : Uint8Array.from({ length: n }, (_, i) => num(i));
    case 'int8':
      return Int8Array.from({ length: n }, (_, i) => num(i));
    case 'int16':
      return Int16Array.from({ length: n }, (_, i) => num(i));
    case 'uint16':
      return Uint16Array.from({ length: n }, (_, i) => num(i));
    case 'uint32':
      return Uint32Array.from({ length: n }, (_, i) => num(i));
    default:
      throw new JobError(REASONS.DatasetInvalid, `Model input element type '${type}' cannot be fed from a holdout dataset; use a numeric input.`);
  }
}

/** Pair each model input with a dataset input: by name, or the only one with the only one. */
function mapInputs(model: TensorInfo[], data: Record<string, HoldoutInput>, label: string): Map<string, string> {
  const names = Object.keys(data);
  const m = new Map<string, string>();
  if (model.length === 1 && names.length === 1) {
    m.set(model[0]!.name, names[0]!);
    return m;
  }
  for (const i of model) {
    if (!(i.name in data)) {
      throw new JobError(
        REASONS.DatasetInvalid,
        `The holdout dataset has no input '${i.name}' that the ${label} model needs (dataset inputs: ${names.join(', ')}); add it to every record's "inputs".`,
      );
    }
    m.set(i.name, i.name);
  }
  return m;
}

function feedsFor(model: TensorInfo[], mapping: Map<string, string>, batch: Record<string, HoldoutInput>): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const i of model) {
    const src = batch[mapping.get(i.name)!]!;
    feeds[i.name] = tensor(i.type as TensorType, cast(i.type, src.data as ArrayLike<number | bigint>), src.dims);
  }
  return feeds;
}

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

function pickOutput(outputs: TensorInfo[], wanted: string | undefined, task: EvaluateJob['task'], label: string): string {
  const choice = chooseOutput(outputs, wanted, task, label, 'holdout.outputName (--output-name)');
  if (!choice.ok) throw new JobError(REASONS[choice.reason], choice.message);
  return choice.name;
}

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

function wire(acc: RunAcc): ModelRunWire {
  const w: ModelRunWire = {
    outputName: acc.info.outputName,
    sessionMs: acc.info.ms,
    ...(acc.info.reused ? { sessionReused: true } : {}),
    predictions: encodeArray(acc.predictions ?? new Float64Array(0)),
    rowSize: acc.rowSize,
    ok: encodeArray(acc.ok),
    latencyMs: encodeArray(acc.latency),
    errors: acc.errors,
  };
  if (acc.firstError !== undefined) w.firstError = acc.firstError;
  return w;
}

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

/**
 * The dataset with each input the model reads cast whole, once, to the model's element type
 * (JSON Lines values are float64, most models read float32): every batch is then a view, cast
 * the same value by value as a per-batch copy would. An input that cannot be cast is left as
 * it is, so each batch fails on it as before (and the samples count as errors).
 */
function castInputs(data: HoldoutData, model: TensorInfo[], mapping: Map<string, string>, memo: Map<string, Tensor['data']>): HoldoutData {
  const inputs: Record<string, HoldoutInput> = { ...data.inputs };
  for (const i of model) {
    const name = mapping.get(i.name);
    const src = name === undefined ? undefined : data.inputs[name];
    if (name === undefined || src === undefined) continue;
    const key = `${name}\u0000${i.type}`;
    let whole = memo.get(key);
    if (whole === undefined) {
      try {
        whole = cast(i.type, src.data as ArrayLike<number | bigint>);
      } catch {
        continue;
      }
      memo.set(key, whole);
    }
    // Any typed array slices as sliceBatch needs; `dtype` is the dataset's, which feedsFor does not read.
    inputs[name] = { data: whole as unknown as HoldoutInput['data'], dims: src.dims, dtype: src.dtype };
  }
  return { count: data.count, inputs, labels: data.labels };
}

async function evaluate(job: EvaluateJob, scope: ScopeCache | undefined): Promise<EvaluateResultWire> {
  const t0 = performance.now();
  const data = await loadDatasetIn(scope, job.dataset);
  const t1 = performance.now();
  let t2 = t1;
  let t3 = t1;
  const models: Array<[string, string]> = [['candidate', job.candidate]];
  if (job.baseline) models.push(['baseline', job.baseline]);
  const accs: RunAcc[] = [];
  const casts = new Map<string, Tensor['data']>();
  try {
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
    t2 = performance.now();
    let batchSize = Math.max(1, job.batchSize ?? 16);
    // A fixed batch dimension wins.
    const d0 = accs[0]!.info.inputs[0]?.shape[0];
    if (typeof d0 === 'number' && d0 > 0) batchSize = d0;
    let labels: Float64Array = new Float64Array(0);
    let labelWidth = 1;
    if (data && data.count > 0) {
      for (let start = 0, b = 0; start < data.count; start += batchSize, b++) {
        const size = Math.min(batchSize, data.count - start);
        // Alternate which model runs first so warm caches favour neither.
        const order = b % 2 === 0 ? accs : [...accs].reverse();
        for (const acc of order) await runBatch(acc, sliceBatch(acc.fed ?? data, start, start + batchSize).inputs, start, size);
      }
      if (data.labels instanceof Float64Array) labels = data.labels;
      else {
        labelWidth = data.labels[0]?.length ?? 1;
        labels = Float64Array.from(data.labels.flat());
      }
    }
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
    result.timingsMs = { dataset: t1 - t0, sessions: t2 - t1, batches: t3 - t2, compare: t4 - t3, total: t4 - t0 };
    return result;
  } finally {
    for (const a of accs) await closeUnlessKept(scope, a.info);
  }
}

/** Peak RSS (MiB) since the last reset; resets it where the kernel allows (clear_refs 5). */
function peakRssMiB(reset = false): number {
  if (reset) {
    try {
      writeFileSync('/proc/self/clear_refs', '5');
    } catch {
      /* not Linux or not allowed: the lifetime peak is reported instead */
    }
  }
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch {
    /* fall through */
  }
  return process.resourceUsage().maxRSS / 1024;
}

/**
 * Made-up inputs: zeros, with every fixed dimension kept, the batch symbol (the first input's
 * leading symbol, or any symbol named like a batch) set to the batch size wherever it appears,
 * and every other symbol set to one size per name, so inputs that share a symbol agree.
 */
function syntheticFeeds(inputs: TensorInfo[], batchSize: number, symbolicDim: number, given: Map<string, { shape: number[]; values?: number[] }>): Record<string, Tensor> {
  const lead = inputs.find((i) => typeof i.shape[0] === 'string')?.shape[0];
  const size = (d: number | string, k: number): number => {
    if (typeof d === 'number' && d > 0) return d;
    if (d === lead || (typeof d === 'string' && /^(n|batch|batch_?size|bs)$/i.test(d)) || (k === 0 && typeof d !== 'string')) return batchSize;
    return symbolicDim;
  };
  const feeds: Record<string, Tensor> = {};
  for (const i of inputs) {
    const spec = given.get(i.name);
    const dims = spec ? spec.shape : i.shape.map(size);
    const n = product(dims);
    const data = new Float64Array(n);
    if (spec?.values && spec.values.length > 0) for (let k = 0; k < n; k++) data[k] = spec.values[k % spec.values.length]!;
    feeds[i.name] = tensor(i.type as TensorType, cast(i.type, data), dims);
  }
  return feeds;
}

function tiledFeeds(inputs: TensorInfo[], mapping: Map<string, string>, data: HoldoutData, batchSize: number): Record<string, Tensor> {
  const tiled: Record<string, HoldoutInput> = {};
  for (const [name, input] of Object.entries(data.inputs)) {
    const per = product(input.dims);
    const out = new Float64Array(batchSize * per);
    for (let s = 0; s < batchSize; s++) {
      const src = s % data.count;
      for (let k = 0; k < per; k++) out[s * per + k] = Number(input.data[src * per + k]);
    }
    tiled[name] = { data: out, dims: [batchSize, ...input.dims], dtype: 'float64' };
  }
  return feedsFor(inputs, mapping, tiled);
}

async function benchmark(job: BenchmarkJob, scope: ScopeCache | undefined): Promise<BenchmarkResult> {
  peakRssMiB(true);
  // The holdout stage of the same validation parsed the dataset and loaded the session: both kept.
  const data = job.dataset ? await loadDatasetIn(scope, job.dataset) : undefined;
  const opened = await openIn(scope, job.model, 'candidate');
  const { session, ms } = opened;
  try {
    const sig = signatureOf(session);
    const useData = data !== undefined && data.count > 0;
    const mapping = useData ? mapInputs(sig.inputs, data.inputs, 'candidate') : new Map<string, string>();
    const given = new Map((job.inputs ?? []).map((i) => [i.name, i]));
    for (const name of given.keys()) {
      if (!sig.inputs.some((i) => i.name === name)) {
        throw new JobError(REASONS.BenchmarkInputsRejected, `spec.validation.benchmark.inputs names '${name}', which the model does not have (inputs: ${sig.inputs.map((i) => i.name).join(', ')}); fix the name.`);
      }
    }
    const d0 = sig.inputs[0]?.shape[0];
    // Inputs from the spec fix their own batch: one batch size, the first given input's leading dimension.
    const firstGiven = sig.inputs.map((i) => given.get(i.name)).find((g) => g !== undefined);
    const sizes = !useData && firstGiven ? [firstGiven.shape[0] ?? 1] : typeof d0 === 'number' && d0 > 0 ? [d0] : [...new Set(job.batchSizes)];
    const batches: BenchmarkBatch[] = [];
    for (const bs of sizes) {
      let feeds: Record<string, Tensor>;
      try {
        feeds = useData ? tiledFeeds(sig.inputs, mapping, data, bs) : syntheticFeeds(sig.inputs, bs, job.symbolicDim ?? 256, given);
      } catch (err) {
        if (err instanceof JobError) throw err;
        throw new JobError(REASONS.BenchmarkInputsRejected, `The benchmark inputs do not fit the model (${firstLine(err)}); fix spec.validation.benchmark.inputs (shape and values per input).`);
      }
      let errors = 0;
      let firstError: string | undefined;
      for (let w = 0; w < job.warmupRuns; w++) {
        try {
          await run(session, feeds);
        } catch (err) {
          errors++;
          firstError ??= firstLine(err);
        }
      }
      const times: number[] = [];
      for (let r = 0; r < job.runs; r++) {
        const t0 = performance.now();
        try {
          await run(session, feeds);
          times.push(performance.now() - t0);
        } catch (err) {
          errors++;
          firstError ??= firstLine(err);
        }
      }
      const s = latencySummary(times);
      const b: BenchmarkBatch = {
        batchSize: bs,
        runs: times.length,
        p50: s.p50,
        p95: s.p95,
        p99: s.p99,
        mean: s.mean,
        max: s.max,
        throughput: times.length > 0 && s.p50 > 0 ? (bs * 1000) / s.p50 : 0,
        errors,
      };
      if (firstError !== undefined) b.firstError = firstError;
      batches.push(b);
    }
    return { sessionMs: ms, peakRssMiB: peakRssMiB(), input: useData ? 'holdout' : given.size > 0 ? 'spec' : 'synthetic', batches };
  } finally {
    await closeUnlessKept(scope, opened);
  }
}

async function inspect(job: InspectJob, scope: ScopeCache | undefined): Promise<InspectResult> {
  const opened = await openIn(scope, job.model, 'candidate');
  try {
    return { ...signatureOf(opened.session), sessionMs: opened.ms };
  } finally {
    await closeUnlessKept(scope, opened);
  }
}

async function handle(req: WorkerRequest): Promise<unknown> {
  const job = req.job;
  const scope = await enterScope(req.scope);
  switch (job.type) {
    case 'inspect':
      return inspect(job, scope);
    case 'evaluate':
      return evaluate(job, scope);
    case 'benchmark':
      return benchmark(job, scope);
    case 'crash':
    case 'hang':
      // FAKE FAULT INJECTION (tests only): stands in for a model that kills or wedges onnxruntime.
      if (process.env.MODELGATE_FAULT_INJECTION !== '1') throw new JobError(REASONS.ValidatorCrashed, `Job type '${job.type}' is disabled.`);
      if (job.type === 'crash') process.kill(process.pid, 'SIGKILL');
      return new Promise(() => setInterval(() => undefined, 1 << 30));
    default:
      throw new JobError(REASONS.ValidatorCrashed, `Unknown job type '${(job as { type: string }).type}'.`, false);
  }
}

let queue = Promise.resolve();
process.on('message', (msg: WorkerRequest | WorkerRelease) => {
  if ('release' in msg) {
    const id = msg.release;
    queue = queue.then(() => (current?.id === id ? dropScope() : undefined));
    return;
  }
  queue = queue.then(async () => {
    let reply: WorkerReply;
    try {
      reply = { id: msg.id, ok: true, result: await handle(msg) };
    } catch (err) {
      const e = err instanceof JobError ? err : new JobError(REASONS.ValidatorCrashed, `The worker failed: ${firstLine(err)}.`, false);
      reply = { id: msg.id, ok: false, error: { reason: e.reason, message: e.message, terminal: e.terminal } };
    }
    process.send?.(reply);
  });
});
process.on('disconnect', () => process.exit(0));
