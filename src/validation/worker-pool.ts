// A pool of child processes that run onnxruntime away from the operator's event loop. Each job has
// a deadline (the child is killed: ValidationTimeout) and a memory cap (--max-old-space-size for
// the V8 heap and the child's RSS, polled from /proc: ValidatorMemoryExceeded); a child that dies
// fails only its own job (ValidatorCrashed) and the pool starts a fresh one for the next job.
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BenchmarkInputSpec, HoldoutTask } from '../api/types.js';
import type { PairedMetricResult } from '../math/evidence.js';
import type { TensorInfo } from '../onnx/session.js';
import { StageError } from './contract.js';
import { REASONS } from '../api/reasons.js';

// ---------------------------------------------------------------------------------------------
// The IPC protocol (typed arrays travel as Buffers).

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
  batches: number;
  compare: number;
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

function decodeRun(r: ModelRunWire): ModelRun {
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

function decodeResult(job: WorkerJob, result: unknown): unknown {
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
  if (w.timingsMs) out.timingsMs = w.timingsMs;
  return out;
}

// ---------------------------------------------------------------------------------------------

export interface WorkerPoolOptions {
  /** Child processes at most (default 1). */
  size?: number;
  /** Memory cap per child in MiB: V8 heap limit and RSS limit (default 2048). */
  memoryMiB?: number;
  /** Default deadline per job (ms) when run() gets none (default 300 s). */
  jobTimeoutMs?: number;
  /** How often the child's RSS is read (ms, default 250). */
  memoryPollMs?: number;
  /** Accept the test-only 'crash' / 'hang' jobs (FAKE FAULT INJECTION). Default false. */
  faultInjection?: boolean;
  /** Threads onnxruntime may use per child (default 1). */
  threads?: number;
}

export interface RunOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Stage reported on errors (default 'holdout'). */
  stage?: 'fetch' | 'architecture' | 'holdout' | 'benchmark' | 'regression';
}

/**
 * The parent's variables a worker keeps: where to find programs and libraries, where to write
 * temp files, the locale and time zone, Node's own options. Nothing else: no KUBERNETES_* (the
 * in-cluster API address), no cloud or store credentials (AWS_*, *_TOKEN, *_SECRET*), no
 * MODELGATE_* settings. A model runs arbitrary code through a runtime bug, so what it can read
 * from its environment is only this.
 */
export const WORKER_ENV_KEEP: readonly string[] = ['PATH', 'HOME', 'TMPDIR', 'TMP', 'TEMP', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'LD_LIBRARY_PATH', 'NODE_OPTIONS'];

/** The environment of a worker process: WORKER_ENV_KEEP from the parent, plus the worker's own settings. */
export function workerEnvironment(parent: NodeJS.ProcessEnv, o: { threads: number; faultInjection: boolean }): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const k of WORKER_ENV_KEEP) if (parent[k] !== undefined) env[k] = parent[k];
  env.OMP_NUM_THREADS = String(o.threads);
  env.MODELGATE_WORKER_THREADS = String(o.threads);
  if (o.faultInjection) env.MODELGATE_FAULT_INJECTION = '1';
  return env;
}

interface Slot {
  child: ChildProcess;
  busy: boolean;
  /** Peak RSS seen by the poller during the current job (KiB). */
  peakKiB: number;
  /** What the child wrote to stderr during the current job (onnxruntime's native log), capped. */
  log: string[];
}

/** Lines of a worker's stderr kept per job, and their length: enough to see why, never a flood. */
const LOG_LINES = 40;
const LOG_LINE_CHARS = 300;
// ANSI colour codes onnxruntime puts around its lines.
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

interface Waiter {
  resolve: (slot: Slot) => void;
  reject: (err: Error) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

const here = fileURLToPath(import.meta.url);
const fromTypeScript = here.endsWith('.ts');
const workerFile = fileURLToPath(new URL(fromTypeScript ? './worker.ts' : './worker.js', import.meta.url));

/** VmRSS and VmHWM of a process in KiB from /proc (Linux); undefined elsewhere or once it exited. */
export function readProcMemory(pid: number): { rssKiB: number; hwmKiB: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /VmRSS:\s+(\d+)\s+kB/.exec(text);
    const hwm = /VmHWM:\s+(\d+)\s+kB/.exec(text);
    if (!rss) return undefined;
    return { rssKiB: Number(rss[1]), hwmKiB: hwm ? Number(hwm[1]) : Number(rss[1]) };
  } catch {
    return undefined;
  }
}

export class WorkerPool {
  private readonly size: number;
  private readonly memoryMiB: number;
  private readonly jobTimeoutMs: number;
  private readonly memoryPollMs: number;
  private readonly faultInjection: boolean;
  private readonly threads: number;
  private readonly slots = new Set<Slot>();
  private readonly waiters: Waiter[] = [];
  private nextId = 1;
  private nextScope = 1;
  private closed = false;
  /** Children started so far (a crash or timeout replaces one). */
  started = 0;

  constructor(options: WorkerPoolOptions = {}) {
    this.size = Math.max(1, options.size ?? 1);
    this.memoryMiB = options.memoryMiB ?? 2048;
    this.jobTimeoutMs = options.jobTimeoutMs ?? 300_000;
    this.memoryPollMs = options.memoryPollMs ?? 250;
    this.faultInjection = options.faultInjection ?? false;
    this.threads = options.threads ?? 1;
  }

  /** Live child processes. */
  get workers(): number {
    return this.slots.size;
  }

  /** Process ids of the live children (tests read their /proc entries). */
  get pids(): number[] {
    return [...this.slots].map((s) => s.child.pid).filter((p): p is number => p !== undefined);
  }

  /** Run one job in a child; rejects with StageError (ValidatorCrashed, ValidationTimeout, ...). */
  async run<J extends WorkerJob>(job: J, options: RunOptions = {}): Promise<JobResult<J>> {
    if (this.closed) throw new StageError(REASONS.ValidatorCrashed, 'The validation worker pool is closed; restart the operator.', false, options.stage ?? 'holdout');
    if ((job.type === 'crash' || job.type === 'hang') && !this.faultInjection) {
      throw new Error(`Job type '${job.type}' is a test-only fault injection; create the pool with faultInjection: true.`);
    }
    options.signal?.throwIfAborted();
    const slot = await this.acquire(options.signal);
    try {
      return (await this.dispatch(slot, job, options)) as JobResult<J>;
    } finally {
      this.release(slot);
    }
  }

  /** A scope: jobs that share one worker and its cache (see WorkerScope). */
  scope(): WorkerScope {
    const id = this.nextScope++;
    let slot: Slot | undefined;
    let released = false;
    let chain: Promise<unknown> = Promise.resolve();
    const alive = (s: Slot): boolean => s.child.exitCode === null && s.child.signalCode === null && this.slots.has(s);
    const runOne = async <J extends WorkerJob>(job: J, options: RunOptions): Promise<JobResult<J>> => {
      if (released) throw new Error('This worker scope was released.');
      if (this.closed) throw new StageError(REASONS.ValidatorCrashed, 'The validation worker pool is closed; restart the operator.', false, options.stage ?? 'holdout');
      if ((job.type === 'crash' || job.type === 'hang') && !this.faultInjection) {
        throw new Error(`Job type '${job.type}' is a test-only fault injection; create the pool with faultInjection: true.`);
      }
      options.signal?.throwIfAborted();
      if (slot && !alive(slot)) {
        // Killed or crashed during an earlier job of the scope: give its place back, take another.
        const dead = slot;
        slot = undefined;
        this.release(dead);
      }
      slot ??= await this.acquire(options.signal);
      return (await this.dispatch(slot, job, options, id)) as JobResult<J>;
    };
    return {
      run: <J extends WorkerJob>(job: J, options: RunOptions = {}): Promise<JobResult<J>> => {
        const next = chain.then(() => runOne(job, options));
        chain = next.catch(() => undefined);
        return next;
      },
      release: () => {
        if (released) return;
        released = true;
        const s = slot;
        slot = undefined;
        if (!s) return;
        if (alive(s)) {
          try {
            const msg: WorkerRelease = { release: id };
            s.child.send(msg, () => undefined);
          } catch {
            /* the channel closed: the child is going away with its cache */
          }
        }
        this.release(s);
      },
    };
  }

  /** Kill every child; pending and later jobs fail. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(new StageError(REASONS.ValidatorCrashed, 'The validation worker pool was closed.', false, 'holdout'));
    const exits = [...this.slots].map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.child.exitCode !== null || s.child.signalCode !== null) return resolve();
          s.child.once('exit', () => resolve());
          s.child.kill('SIGKILL');
        }),
    );
    this.slots.clear();
    await Promise.all(exits);
  }

  private spawn(): Slot {
    const execArgv = [`--max-old-space-size=${this.memoryMiB}`];
    if (fromTypeScript) execArgv.unshift('--import', 'tsx');
    const env = workerEnvironment(process.env, { threads: this.threads, faultInjection: this.faultInjection });
    // stderr is piped, not inherited: onnxruntime's native log goes into the report, not the operator's log.
    const child = fork(workerFile, [], { execArgv, env, serialization: 'advanced', stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
    const slot: Slot = { child, busy: false, peakKiB: 0, log: [] };
    let partial = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const clean = line.replace(ANSI, '').trim();
        if (clean === '') continue;
        if (slot.log.length < LOG_LINES) slot.log.push(clean.slice(0, LOG_LINE_CHARS));
        else if (slot.log.length === LOG_LINES) slot.log.push('… (more lines cut)');
      }
    });
    child.once('exit', () => this.slots.delete(slot));
    child.on('error', () => undefined);
    this.slots.add(slot);
    this.started++;
    return slot;
  }

  private acquire(signal?: AbortSignal): Promise<Slot> {
    for (const s of this.slots) {
      if (!s.busy && s.child.exitCode === null && s.child.signalCode === null) {
        s.busy = true;
        return Promise.resolve(s);
      }
    }
    if (this.slots.size < this.size) {
      const s = this.spawn();
      s.busy = true;
      return Promise.resolve(s);
    }
    return new Promise((resolve, reject) => {
      const w: Waiter = { resolve, reject };
      if (signal) {
        w.signal = signal;
        w.onAbort = () => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.waiters.push(w);
    });
  }

  private release(slot: Slot): void {
    slot.busy = false;
    const alive = slot.child.exitCode === null && slot.child.signalCode === null && this.slots.has(slot);
    const w = this.waiters.shift();
    if (!w) return;
    if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
    if (alive) {
      slot.busy = true;
      w.resolve(slot);
    } else if (this.closed) {
      w.reject(new StageError(REASONS.ValidatorCrashed, 'The validation worker pool was closed.', false, 'holdout'));
    } else {
      const s = this.spawn();
      s.busy = true;
      w.resolve(s);
    }
  }

  private dispatch(slot: Slot, job: WorkerJob, options: RunOptions, scope?: number): Promise<unknown> {
    const id = this.nextId++;
    const stage = options.stage ?? 'holdout';
    const timeoutMs = options.timeoutMs ?? this.jobTimeoutMs;
    const child = slot.child;
    slot.peakKiB = 0;
    slot.log = [];
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearInterval(poll);
        child.off('message', onMessage);
        child.off('exit', onExit);
        options.signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const kill = (): void => {
        this.slots.delete(slot);
        child.kill('SIGKILL');
      };
      const onMessage = (msg: WorkerReply): void => {
        if (msg.id !== id) return;
        if (msg.ok) {
          const result = decodeResult(job, msg.result);
          if (job.type === 'benchmark') {
            // The pool's own /proc reading covers memory the child could not see itself.
            const r = result as BenchmarkResult;
            r.peakRssMiB = Math.max(r.peakRssMiB, slot.peakKiB / 1024);
          }
          if (slot.log.length > 0 && (job.type === 'benchmark' || job.type === 'evaluate')) (result as { runtimeLog?: string[] }).runtimeLog = [...slot.log];
          finish(() => resolve(result));
        } else {
          finish(() => reject(new StageError(msg.error.reason, msg.error.message, msg.error.terminal, stage)));
        }
      };
      const onExit = (code: number | null, sig: NodeJS.Signals | null): void => {
        this.slots.delete(slot);
        finish(() =>
          reject(
            new StageError(
              REASONS.ValidatorCrashed,
              `The validation worker died during the '${job.type}' job (${sig ? `signal ${sig}` : `exit code ${code}`}); the model likely crashes onnxruntime or exhausts memory: check the model with onnxruntime locally.`,
              true,
              stage,
            ),
          ),
        );
      };
      const onAbort = (): void => {
        kill();
        finish(() => reject(options.signal?.reason instanceof Error ? options.signal.reason : new Error('aborted')));
      };
      const timer = setTimeout(() => {
        kill();
        finish(() =>
          reject(
            new StageError(
              REASONS.ValidationTimeout,
              `The '${job.type}' job did not finish within ${Math.round(timeoutMs / 1000)} s and its worker was killed; raise spec.validation.timeoutSeconds or use a smaller dataset or model.`,
              true,
              stage,
            ),
          ),
        );
      }, timeoutMs);
      const capKiB = this.memoryMiB * 1024;
      const poll = setInterval(() => {
        const pid = child.pid;
        if (pid === undefined) return;
        const mem = readProcMemory(pid);
        if (!mem) return;
        slot.peakKiB = Math.max(slot.peakKiB, mem.rssKiB);
        if (mem.rssKiB > capKiB) {
          kill();
          finish(() =>
            reject(
              new StageError(
                REASONS.ValidatorMemoryExceeded,
                `The validation worker used ${Math.round(mem.rssKiB / 1024)} MiB during the '${job.type}' job, over the cap of ${this.memoryMiB} MiB, and was killed; use a smaller model or batch, or raise the worker memory cap.`,
                true,
                stage,
              ),
            ),
          );
        }
      }, this.memoryPollMs);
      poll.unref();
      child.on('message', onMessage);
      child.once('exit', onExit);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const request: WorkerRequest = scope === undefined ? { id, job } : { id, job, scope };
      child.send(request, (err) => {
        if (err) {
          kill();
          finish(() => reject(new StageError(REASONS.ValidatorCrashed, `The validation worker could not take the '${job.type}' job (${err.message}).`, false, stage)));
        }
      });
    });
  }
}
