// The worker protocol: what the pool (worker-pool.ts) and its worker processes (worker.ts) send each
// other over IPC, in one module both sides import: the jobs, their results as they travel (typed
// arrays as Buffers) and as the pool hands them on, the request, reply and release messages, and
// the encoding of the arrays. Pure: types and byte copies only.
import type { BenchmarkInputSpec, HoldoutTask } from '../api/types.js';
import type { PairedMetricResult } from '../math/evidence.js';
import type { TensorInfo } from '../onnx/session.js';
import type { HoldoutScore } from './holdout-gate.js';


export interface EncodedArray {
  dtype: 'float64' | 'float32' | 'uint8';
  bytes: Uint8Array;
}

export interface DatasetJobRef {
  path: string;
  /** What the user calls it (the URI, or their file): errors name this, never the cache path. */
  name?: string;
  format?: 'jsonl' | 'npz';
  labelField?: string;
  maxSamples?: number;
}

export interface InspectJob {
  type: 'inspect';
  model: string;
}

export interface EvaluateJob {
  type: 'evaluate';
  candidate: string;
  /** Run on the same samples in the same batches (paired). */
  baseline?: string;
  dataset: DatasetJobRef;
  /** Output holding the prediction (default: the first output). */
  outputName?: string;
  /** Samples per run (default 16; a fixed batch dimension wins). */
  batchSize?: number;
  /** With a baseline: the paired bootstrap of every metric's degradation, run here (off the operator's thread). */
  compare?: CompareRequest;
  /** Holdout task: picks the output by what it holds (probabilities for classification). */
  task?: HoldoutTask;
  /**
   * Score the candidate here (gate 2's metrics, success rate and latency; needs task): the AUC
   * sweeps and sorts of 10,000 samples take tens of milliseconds, off the operator's thread.
   */
  score?: boolean;
}

export interface CompareRequest {
  task: HoldoutTask;
  /** Metrics resampled for the decision (the critical ones); the rest get point estimates. */
  metrics: string[];
  resamples: number;
  confidence: number;
  seed: number;
}

export interface CompareResult {
  /** Samples both models ran cleanly on. */
  samples: number;
  metrics: PairedMetricResult[];
  /** Time the bootstrap took in the worker (ms). */
  ms: number;
  /** Set when the metrics could not be computed (labels or outputs that do not fit the task). */
  error?: string;
}

export interface BenchmarkJob {
  type: 'benchmark';
  model: string;
  batchSizes: number[];
  warmupRuns: number;
  runs: number;
  /** Feed holdout samples (tiled to the batch size) instead of synthetic zeros. */
  dataset?: DatasetJobRef;
  /** Size used for symbolic dimensions other than the batch (default 256). */
  symbolicDim?: number;
  /** Inputs given in the spec (shape and values); the rest are made up. */
  inputs?: BenchmarkInputSpec[];
}

/** FAKE FAULT INJECTION for tests only: the child exits (crash) or never answers (hang). Needs `faultInjection: true`. */
export interface FaultJob {
  type: 'crash' | 'hang';
}

export type WorkerJob = InspectJob | EvaluateJob | BenchmarkJob | FaultJob;

export interface InspectResult {
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  sessionMs: number;
}

export interface ModelRunWire {
  outputName: string;
  sessionMs: number;
  /** The session was the one an earlier job of the same scope loaded (sessionMs is that load). */
  sessionReused?: boolean;
  /** n * rowSize values, sample-major. */
  predictions: EncodedArray;
  rowSize: number;
  /** 1 = the sample ran and every output value is finite. */
  ok: EncodedArray;
  /** Wall time of the run that held the sample (ms), per sample. */
  latencyMs: EncodedArray;
  errors: number;
  firstError?: string;
}

/** Where an evaluate job's time went in the worker (ms). */
export interface EvaluateTimings {
  dataset: number;
  sessions: number;
  /** The untimed first batch through each model (evaluate.ts warmUp), before the timed ones. */
  warmup: number;
  batches: number;
  compare: number;
  /** Scoring the candidate (when the job asked for it). */
  metrics?: number;
  total: number;
}

export interface EvaluateResultWire {
  timingsMs?: EvaluateTimings;
  count: number;
  batchSize: number;
  labels: EncodedArray;
  labelWidth: number;
  candidate: ModelRunWire;
  baseline?: ModelRunWire;
  comparison?: CompareResult;
  /** The candidate's holdout score, when the job asked for it and a sample ran. */
  score?: HoldoutScore;
}

export interface BenchmarkBatch {
  batchSize: number;
  runs: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  max: number;
  /** Samples per second at the median latency. */
  throughput: number;
  errors: number;
  firstError?: string;
}

export interface BenchmarkResult {
  sessionMs: number;
  /** Peak resident memory of the worker during the job (MiB). */
  peakRssMiB: number;
  input: 'holdout' | 'spec' | 'synthetic';
  /** onnxruntime's own log lines from this job (its stderr), for the report. */
  runtimeLog?: string[];
  batches: BenchmarkBatch[];
}

export interface ModelRun {
  outputName: string;
  sessionMs: number;
  sessionReused?: boolean;
  predictions: Float64Array;
  rowSize: number;
  ok: Uint8Array;
  latencyMs: Float64Array;
  errors: number;
  firstError?: string;
}

export interface EvaluateResult {
  timingsMs?: EvaluateTimings;
  count: number;
  batchSize: number;
  labels: Float64Array;
  labelWidth: number;
  candidate: ModelRun;
  baseline?: ModelRun;
  comparison?: CompareResult;
  /** The candidate's holdout score, when the job asked for it and a sample ran. */
  score?: HoldoutScore;
  /** onnxruntime's own log lines from this job (its stderr), for the report. */
  runtimeLog?: string[];
}

export type JobResult<J extends WorkerJob> = J extends InspectJob
  ? InspectResult
  : J extends EvaluateJob
    ? EvaluateResult
    : J extends BenchmarkJob
      ? BenchmarkResult
      : never;

/** Worker -> pool. */
export type WorkerReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { reason: string; message: string; terminal: boolean } };

/** Pool -> worker. */
export interface WorkerRequest {
  id: number;
  job: WorkerJob;
  /**
   * The scope (see WorkerPool.scope) the job belongs to: jobs of one scope share the worker's
   * parsed datasets and onnxruntime sessions. Without one, a job opens and frees its own.
   */
  scope?: number;
}

/** Pool -> worker, no reply: the scope is over, free what its jobs kept. */
export interface WorkerRelease {
  release: number;
}

/**
 * Jobs that run one after the other in one worker and share what it loaded for them (the
 * validation of one checkpoint: the session the architecture stage loads is the holdout's and
 * the benchmark's; the dataset the holdout parses is the benchmark's). The worker is held from
 * the first run() until release(); a worker that died in between is replaced, its cache lost.
 */
export interface WorkerScope {
  run<J extends WorkerJob>(job: J, options?: RunOptions): Promise<JobResult<J>>;
  /** Free the worker and what it kept for this scope. Idempotent. */
  release(): void;
}

export function encodeArray(a: Float64Array | Float32Array | Uint8Array): EncodedArray {
  const dtype = a instanceof Float64Array ? 'float64' : a instanceof Float32Array ? 'float32' : 'uint8';
  return { dtype, bytes: Buffer.from(a.buffer, a.byteOffset, a.byteLength) };
}

export function decodeArray(e: EncodedArray): Float64Array | Float32Array | Uint8Array {
  // Copy into a fresh, aligned buffer (the received view may start at any offset).
  const copy = new Uint8Array(e.bytes.byteLength);
  copy.set(e.bytes);
  if (e.dtype === 'float64') return new Float64Array(copy.buffer);
  if (e.dtype === 'float32') return new Float32Array(copy.buffer);
  return copy;
}

/** A model run as the pool hands it on: the wire arrays decoded into fresh, aligned ones. */
export function decodeRun(r: ModelRunWire): ModelRun {
  const out: ModelRun = {
    outputName: r.outputName,
    sessionMs: r.sessionMs,
    predictions: Float64Array.from(decodeArray(r.predictions)),
    rowSize: r.rowSize,
    ok: decodeArray(r.ok) as Uint8Array,
    latencyMs: Float64Array.from(decodeArray(r.latencyMs)),
    errors: r.errors,
  };
  if (r.firstError !== undefined) out.firstError = r.firstError;
  if (r.sessionReused) out.sessionReused = true;
  return out;
}

/** A job's result as received, decoded (only evaluate results carry arrays). */
export function decodeResult(job: WorkerJob, result: unknown): unknown {
  if (job.type !== 'evaluate') return result;
  const w = result as EvaluateResultWire;
  const out: EvaluateResult = {
    count: w.count,
    batchSize: w.batchSize,
    labels: Float64Array.from(decodeArray(w.labels)),
    labelWidth: w.labelWidth,
    candidate: decodeRun(w.candidate),
  };
  if (w.baseline) out.baseline = decodeRun(w.baseline);
  if (w.comparison) out.comparison = w.comparison;
  if (w.score) out.score = w.score;
  if (w.timingsMs) out.timingsMs = w.timingsMs;
  return out;
}

export interface RunOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Stage reported on errors (default 'holdout'). */
  stage?: 'fetch' | 'architecture' | 'holdout' | 'benchmark' | 'regression';
}
