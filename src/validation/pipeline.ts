// The validation pipeline: OnnxValidator implements CheckpointValidator. Fetch (candidate, baseline,
// holdout dataset: same rules, same digests), then four gates: 1 architecture vs the baseline,
// 2 holdout metrics / success rate / latency, 3 benchmark, 4 regression vs the baseline on the same
// samples in the same run (severity bands, paired-bootstrap CIs, training metrics too).
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { HoldoutTask, Severity, StageName, StageResult, StageVerdict } from '../api/types.js';
import { DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, degradationOf, denominatorFloor } from '../math/evidence.js';
import { isDisplayOnlyMetric, metricDirection, metricEvaluator } from '../math/metrics.js';
import type { Labels, Predictions } from '../math/metrics.js';
import { DEFAULT_BANDS } from '../math/severity.js';
import { latencySummary } from '../math/stats.js';
import { checkThresholds } from '../math/thresholds.js';
import { compareSignatures } from './architecture.js';
import type { ModelSignature } from './architecture.js';
import type {
  CheckpointValidator,
  FetchedArtifact,
  ValidationReport,
  ValidationRequest,
} from './contract.js';
import { StageError } from './contract.js';
import { ambientCredentials } from '../fetch/ambient.js';
import { ArtifactFetcher, type FetcherOptions, type StoreRef } from '../fetch/index.js';
import { inspectModelFile } from './onnx-model.js';
import { REASONS } from '../api/reasons.js';
import { criticalMetricsFor, judgeRegression } from './regression-judge.js';
import type { RegressionMetric } from './regression-judge.js';
import { WorkerPool } from './worker-pool.js';
import type { BenchmarkResult, DatasetJobRef, EvaluateResult, ModelRun, WorkerScope } from './worker-pool.js';

export interface ValidatorTimeouts {
  /** TCP connect timeout per fetch attempt (ms, default 10 s). */
  connectMs?: number;
  /** Deadline per fetch attempt, body included (ms, default 300 s). */
  fetchMs?: number;
  /** Session load check (ms, default 60 s). */
  inspectMs?: number;
  /** Holdout evaluation (ms, default 300 s). */
  evaluateMs?: number;
  /** Benchmark (ms, default 120 s). */
  benchmarkMs?: number;
}

export interface ValidatorOptions {
  /** Download cache (an emptyDir with a size limit); artifacts land in <cacheDir>/sha256/<hex>. */
  cacheDir: string;
  /** Largest artifact or dataset in bytes (an artifact's sizeBytes lowers it). Default 2 GiB. */
  maxArtifactBytes?: number;
  /** Hosts allowed over http and on private/loopback addresses ("host", "host:port", "*.domain"). */
  trustedHosts?: string[];
  /** The operator's own AWS credentials for s3:// artifacts without a secretRef (--allow-ambient-credentials). */
  allowAmbientCredentials?: boolean;
  /** Folders file:// URIs may read. */
  fileRoots?: string[];
  /** Worker processes (default 1). */
  workers?: number;
  /** Memory cap per worker in MiB (default 2048). */
  workerMemoryMiB?: number;
  timeouts?: ValidatorTimeouts;
  /** Largest ONNX node count (default 100000). */
  maxNodes?: number;
  /** Fetch retries after the first attempt (default 3) and the first backoff (ms, default 500). */
  fetchRetries?: number;
  fetchBackoffMs?: number;
  /** Samples per holdout run (default 16). */
  evalBatchSize?: number;
  /** Seed of the paired bootstrap (default 1). */
  bootstrapSeed?: number;
  /** Byte budget of the download cache (least recently used artifacts go first); default none. */
  maxCacheBytes?: number;
  /** Digests the cache must keep (rollback points' artifacts). */
  keepDigests?: () => Iterable<string> | undefined;
  /** Told what an eviction deleted. */
  onEvict?: FetcherOptions['onEvict'];
}

export interface ValidatorDeps {
  /** Share a pool (tests, or several validators in one process). Not closed by close(). */
  pool?: WorkerPool;
  fetcher?: ArtifactFetcher;
}

const DEFAULT_TIMEOUT_S = 600;
const MAX_MESSAGE = 600;

function clip(s: string, n = MAX_MESSAGE): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

/** Six significant digits for messages and summaries. */
function num(v: number): number {
  return Number.isFinite(v) ? Number(v.toPrecision(6)) : v;
}

function fmt(v: number): string {
  return String(num(v));
}

function summaryNumber(v: number): number | string {
  return Number.isFinite(v) ? num(v) : String(v);
}

function stage(name: StageName, verdict: StageVerdict, reason: string, message: string, started: number, extra: Partial<StageResult> = {}): StageResult {
  return { stage: name, verdict, reason, message: clip(message), ...extra, durationMs: Math.round(performance.now() - started) };
}

const passedVerdict = (s: StageResult): boolean => s.verdict === 'Passed' || s.verdict === 'Skipped';

/** Rows (or a flat array when one value per sample) of the selected samples. */
function selectPredictions(run: ModelRun, idx: number[]): Predictions {
  const w = run.rowSize;
  if (w === 1) return Float64Array.from(idx, (i) => run.predictions[i]!);
  return idx.map((i) => run.predictions.subarray(i * w, (i + 1) * w));
}

function selectLabels(ev: EvaluateResult, idx: number[]): Labels {
  const w = ev.labelWidth;
  if (w === 1) return Float64Array.from(idx, (i) => ev.labels[i]!);
  return idx.map((i) => ev.labels.subarray(i * w, (i + 1) * w));
}

export class OnnxValidator implements CheckpointValidator {
  readonly fetcher: ArtifactFetcher;
  readonly pool: WorkerPool;
  private readonly ownsPool: boolean;
  private readonly options: ValidatorOptions;

  constructor(options: ValidatorOptions, deps: ValidatorDeps = {}) {
    this.options = options;
    const t = options.timeouts ?? {};
    this.fetcher =
      deps.fetcher ??
      new ArtifactFetcher({
        cacheDir: options.cacheDir,
        ...(options.maxArtifactBytes !== undefined ? { maxBytes: options.maxArtifactBytes } : {}),
        trustedHosts: options.trustedHosts ?? [],
        fileRoots: options.fileRoots ?? [],
        ...(t.connectMs !== undefined ? { connectTimeoutMs: t.connectMs } : {}),
        ...(t.fetchMs !== undefined ? { deadlineMs: t.fetchMs } : {}),
        ...(options.fetchRetries !== undefined ? { retries: options.fetchRetries } : {}),
        ...(options.fetchBackoffMs !== undefined ? { backoffMs: options.fetchBackoffMs } : {}),
        ...(options.maxCacheBytes !== undefined ? { maxCacheBytes: options.maxCacheBytes } : {}),
        ...(options.keepDigests ? { keep: options.keepDigests } : {}),
        ...(options.onEvict ? { onEvict: options.onEvict } : {}),
        ...(options.allowAmbientCredentials ? { ambient: ambientCredentials() } : {}),
      });
    this.ownsPool = deps.pool === undefined;
    this.pool = deps.pool ?? new WorkerPool({ size: options.workers ?? 1, memoryMiB: options.workerMemoryMiB ?? 2048 });
  }

  /** Start-up: remove partial downloads an earlier run left behind. */
  async start(): Promise<void> {
    // No eviction here: which artifacts rollback points need is known once the informers synced;
    // the budget applies from the first download on.
    await this.fetcher.sweepPartials();
  }

  /** Stop the worker processes (when this validator created them). */
  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.close();
  }

  fetch(candidate: StoreRef, signal: AbortSignal): Promise<FetchedArtifact> {
    return this.fetcher.fetch(candidate, signal, { label: 'artifact' });
  }

  async cleanup(key: string): Promise<void> {
    await this.fetcher.cleanup(key);
  }

  async validate(request: ValidationRequest, candidate: FetchedArtifact, signal: AbortSignal): Promise<ValidationReport> {
    const timeoutS = request.spec.timeoutSeconds ?? DEFAULT_TIMEOUT_S;
    const deadlineAt = performance.now() + timeoutS * 1000;
    const deadline = AbortSignal.timeout(timeoutS * 1000);
    const sig = AbortSignal.any([signal, deadline]);
    // Every file this validation reads stays pinned until it ends: the candidate from here (it
    // was fetched before; if an eviction took it in between, it is fetched again), the baseline
    // and dataset as they are fetched.
    const holds: Array<() => void> = [this.fetcher.pin(candidate.digest)];
    try {
      if (!(await stat(candidate.path).catch(() => undefined))) candidate = await this.fetcher.fetch({ ...request.candidate, credentials: request.credentials?.candidate }, sig, { key: request.key, label: 'artifact', holds });
      return await this.run(request, candidate, sig, deadlineAt, holds);
    } catch (err) {
      if (deadline.aborted && !signal.aborted) {
        throw new StageError(
          REASONS.ValidationTimeout,
          `Validation of ${request.key} did not finish within spec.validation.timeoutSeconds (${timeoutS} s); raise it or use a smaller holdout dataset.`,
          true,
          err instanceof StageError ? err.stage : 'holdout',
        );
      }
      throw err;
    } finally {
      for (const release of holds) release();
    }
  }

  private jobTimeout(deadlineAt: number, optionMs: number | undefined, defaultMs: number): number {
    return Math.max(1, Math.min(optionMs ?? defaultMs, deadlineAt - performance.now()));
  }

  private async run(request: ValidationRequest, candidate: FetchedArtifact, signal: AbortSignal, deadlineAt: number, holds: Array<() => void>): Promise<ValidationReport> {
    // One worker for the whole validation: the candidate's session is loaded once (architecture)
    // and the holdout dataset parsed once (holdout), and the later gates reuse both.
    const jobs = this.pool.scope();
    try {
      return await this.gates(request, candidate, signal, deadlineAt, holds, jobs);
    } finally {
      jobs.release();
    }
  }

  private async gates(request: ValidationRequest, candidate: FetchedArtifact, signal: AbortSignal, deadlineAt: number, holds: Array<() => void>, jobs: WorkerScope): Promise<ValidationReport> {
    const spec = request.spec;
    const t = this.options.timeouts ?? {};
    const stages: StageResult[] = [];
    const full: Record<string, unknown> = {
      key: request.key,
      generation: request.generation,
      candidate: { digest: candidate.digest, sizeBytes: candidate.sizeBytes },
    };

    // ---- fetch: the baseline and the holdout dataset (the candidate was fetched in phase Fetching).
    let t0 = performance.now();
    let baselineFile: FetchedArtifact | undefined;
    let datasetFile: FetchedArtifact | undefined;
    if (request.baseline) {
      baselineFile = await this.fetcher.fetch({ ...request.baseline.artifact, credentials: request.credentials?.baseline }, signal, { key: request.key, label: 'baseline artifact', holds });
    }
    if (spec.holdout) {
      const ds = spec.holdout.dataset;
      try {
        datasetFile = await this.fetcher.fetch({ uri: ds.uri, digest: ds.digest, s3: ds.s3, oci: ds.oci, credentials: request.credentials?.dataset }, signal, { key: request.key, label: 'holdout dataset', holds });
      } catch (err) {
        if (err instanceof StageError) throw new StageError(err.reason, err.message, err.terminal, 'fetch');
        throw err;
      }
    }
    const fetchSummary: Record<string, number | string | boolean> = { candidateBytes: candidate.sizeBytes };
    if (baselineFile) fetchSummary.baselineBytes = baselineFile.sizeBytes;
    if (datasetFile) fetchSummary.datasetBytes = datasetFile.sizeBytes;
    stages.push(
      stage('fetch', 'Passed', REASONS.Fetched, `Fetched and verified the candidate${baselineFile ? ', the baseline' : ''}${datasetFile ? ' and the holdout dataset' : ''}.`, t0, {
        summary: fetchSummary,
      }),
    );
    full.fetch = { baseline: baselineFile, dataset: datasetFile };

    // ---- model safety before onnxruntime sees a file, then a session load in a worker.
    t0 = performance.now();
    const inspectOpts = { ...(this.options.maxArtifactBytes !== undefined ? { maxBytes: this.options.maxArtifactBytes } : {}), ...(this.options.maxNodes !== undefined ? { maxNodes: this.options.maxNodes } : {}) };
    const cand = await inspectModelFile(candidate.path, { ...inspectOpts, allowExternalData: request.candidate.allowExternalData === true, label: 'candidate model' });
    let baseSig: ModelSignature | undefined;
    if (baselineFile && request.baseline) {
      try {
        baseSig = (await inspectModelFile(baselineFile.path, { ...inspectOpts, allowExternalData: request.baseline.artifact.allowExternalData === true, label: 'baseline model' })).signature;
      } catch (err) {
        // The baseline is already serving; its own defect is not the candidate's, and may be fixed.
        if (err instanceof StageError) throw new StageError(err.reason, err.message, false, 'architecture');
        throw err;
      }
    }
    const loaded = await jobs.run({ type: 'inspect', model: candidate.path }, { signal, stage: 'architecture', timeoutMs: this.jobTimeout(deadlineAt, t.inspectMs, 60_000) });
    full.candidateSignature = cand.signature;
    full.sessionLoadMs = loaded.sessionMs;
    if (baseSig) full.baselineSignature = baseSig;

    // ---- gate 1: architecture
    const arch = spec.architecture ?? {};
    const cmp = compareSignatures(baseSig, cand.signature, arch.policy ?? 'Strict', arch);
    full.architecture = cmp;
    const archSummary: Record<string, number | string | boolean> = {
      policy: arch.policy ?? 'Strict',
      inputs: cand.signature.inputs.length,
      outputs: cand.signature.outputs.length,
      parameters: cand.signature.parameterCount,
      nodes: cand.signature.nodeCount,
    };
    if (cmp.parameterChange) {
      archSummary.baselineParameters = cmp.parameterChange.baseline;
      archSummary.parameterChangeRatio = summaryNumber(cmp.parameterChange.ratio);
    }
    if (!cmp.compatible) {
      archSummary.differences = cmp.differences.length;
      stages.push(stage('architecture', 'Failed', cmp.reason, `The candidate's signature is incompatible with the baseline ${request.baseline?.version ?? ''}: ${cmp.differences.join('; ')}.`, t0, { summary: archSummary }));
    } else if (cmp.reason === REASONS.NoBaseline) {
      // The first checkpoint of a target passes this gate: there is nothing it could break.
      stages.push(stage('architecture', 'Passed', cmp.reason, `No checkpoint serves the target yet; nothing to compare the signature with (${cand.signature.inputs.length} input(s), ${cand.signature.outputs.length} output(s)).`, t0, { summary: archSummary }));
    } else if (cmp.reason === REASONS.GateDisabled) {
      stages.push(stage('architecture', 'Skipped', cmp.reason, 'Architecture policy is Skip.', t0, { summary: archSummary }));
    } else {
      const note = cmp.parameterChange?.exceeded ? ` Parameter count changed ${Number.isFinite(cmp.parameterChange.ratio) ? `${fmt(cmp.parameterChange.ratio * 100)}%` : 'from none'} (${cmp.parameterChange.baseline} -> ${cmp.parameterChange.candidate}), over maxParameterChangeRatio; reported, not blocking.` : '';
      stages.push(stage('architecture', 'Passed', REASONS.Compatible, `Signature compatible with the baseline ${request.baseline?.version ?? ''} (${cand.signature.inputs.length} input(s), ${cand.signature.outputs.length} output(s)).${note}`, t0, { summary: archSummary }));
    }

    if (!cmp.compatible) {
      for (const name of ['holdout', 'benchmark', 'regression'] as const) {
        stages.push(stage(name, 'Skipped', REASONS.PreviousGateFailed, 'Not run: the architecture gate failed.', performance.now()));
      }
      return this.report(stages, full, undefined);
    }

    // ---- gate 2: holdout
    t0 = performance.now();
    const holdout = spec.holdout;
    let evaluation: EvaluateResult | undefined;
    const regressionOn = request.baseline !== undefined && baselineFile !== undefined && baseSig !== undefined;
    let datasetRef: DatasetJobRef | undefined;
    if (!holdout || !datasetFile) {
      stages.push(stage('holdout', 'Skipped', REASONS.NoHoldout, 'No holdout dataset in spec.validation.holdout; quality was not measured.', t0));
    } else {
      const uri = holdout.dataset.uri;
      datasetRef = { path: datasetFile.path, name: uri.startsWith('file://') ? fileURLToPath(uri) : uri };
      if (holdout.dataset.format) datasetRef.format = holdout.dataset.format;
      else datasetRef.format = /\.npz(\?|#|$)/i.test(holdout.dataset.uri) ? 'npz' : 'jsonl';
      if (holdout.labelField) datasetRef.labelField = holdout.labelField;
      if (holdout.maxSamples !== undefined) datasetRef.maxSamples = holdout.maxSamples;
      const job = {
        type: 'evaluate' as const,
        candidate: candidate.path,
        dataset: datasetRef,
        ...(regressionOn ? { baseline: baselineFile!.path } : {}),
        ...(holdout.outputName ? { outputName: holdout.outputName } : {}),
        task: holdout.task,
        ...(regressionOn
          ? { compare: { task: holdout.task, metrics: criticalMetricsFor(holdout.task, spec.regression?.criticalMetrics), resamples: spec.regression?.bootstrapResamples ?? DEFAULT_RESAMPLES, confidence: spec.regression?.confidence ?? DEFAULT_CONFIDENCE, seed: this.options.bootstrapSeed ?? 1 } }
          : {}),
        batchSize: this.options.evalBatchSize ?? 16,
      };
      evaluation = await jobs.run(job, { signal, stage: 'holdout', timeoutMs: this.jobTimeout(deadlineAt, t.evaluateMs, 300_000) });
      const roundTripMs = performance.now() - t0;
      stages.push(this.holdoutGate(holdout.task, holdout, evaluation, full, t0));
      const timings = (full.holdout as { timingsMs?: Record<string, unknown> } | undefined)?.timingsMs;
      if (timings) timings.job = roundTripMs;
    }

    // ---- gate 3: benchmark
    t0 = performance.now();
    const bench = spec.benchmark ?? {};
    if (bench.enabled === false) {
      stages.push(stage('benchmark', 'Skipped', REASONS.GateDisabled, 'spec.validation.benchmark.enabled is false.', t0));
    } else {
      const useData = datasetRef !== undefined && evaluation !== undefined && evaluation.count > 0;
      const result = await jobs.run(
        {
          type: 'benchmark',
          model: candidate.path,
          batchSizes: bench.batchSizes ?? [1, 8],
          warmupRuns: bench.warmupRuns ?? 3,
          runs: bench.runs ?? 20,
          ...(useData ? { dataset: datasetRef! } : {}),
          ...(bench.inputs ? { inputs: bench.inputs } : {}),
          ...(bench.symbolicDimSize !== undefined ? { symbolicDim: bench.symbolicDimSize } : {}),
        },
        { signal, stage: 'benchmark', timeoutMs: this.jobTimeout(deadlineAt, t.benchmarkMs, 120_000) },
      );
      stages.push(this.benchmarkGate(bench, result, full, t0));
    }

    // ---- gate 4: regression
    t0 = performance.now();
    const reg = this.regressionGate(request, holdout?.task, evaluation, full, t0);
    stages.push(reg.stage);
    return this.report(stages, full, reg.severity);
  }

  private holdoutGate(task: HoldoutTask, holdout: NonNullable<ValidationRequest['spec']['holdout']>, ev: EvaluateResult, full: Record<string, unknown>, t0: number): StageResult {
    const minSuccess = holdout.minSuccessRate ?? 0.95;
    const maxP95 = holdout.maxLatencyP95Ms ?? 100;
    if (ev.count === 0) {
      full.holdout = { samples: 0 };
      return stage('holdout', 'Failed', REASONS.EmptyDataset, 'The holdout dataset holds zero samples; a model is never validated on nothing: publish a dataset with samples.', t0, { summary: { samples: 0 } });
    }
    const c = ev.candidate;
    const okIdx: number[] = [];
    for (let i = 0; i < ev.count; i++) if (c.ok[i] === 1) okIdx.push(i);
    const successRate = okIdx.length / ev.count;
    let metrics: Record<string, number>;
    const tm = performance.now();
    try {
      metrics = metricEvaluator(task, selectPredictions(c, okIdx), selectLabels(ev, okIdx))();
    } catch (err) {
      throw new StageError(
        REASONS.DatasetInvalid,
        `The holdout labels or the model output '${c.outputName}' do not fit task ${task}: ${(err as Error).message}; fix holdout.task, holdout.outputName or the labels.`,
        true,
        'holdout',
      );
    }
    const latency = latencySummary(c.latencyMs);
    const metricsMs = performance.now() - tm;
    const thresholds = checkThresholds(metrics, holdout.thresholds ?? []);
    full.holdout = { task, samples: ev.count, batchSize: ev.batchSize, successRate, errors: c.errors, firstError: c.firstError, metrics, latencyMs: latency, thresholds, outputName: c.outputName, sessionReused: c.sessionReused === true, ...(ev.timingsMs ? { timingsMs: { worker: ev.timingsMs, metrics: metricsMs } } : {}), ...(ev.runtimeLog ? { runtimeLog: ev.runtimeLog } : {}) };
    const summary: Record<string, number | string | boolean> = { samples: ev.count, successRate: summaryNumber(successRate), latencyP95Ms: summaryNumber(latency.p95) };
    for (const [k, v] of Object.entries(metrics)) summary[k] = summaryNumber(v);
    const metricText = Object.entries(metrics).map(([k, v]) => `${k} ${fmt(v)}`).join(', ');

    if (!(successRate >= minSuccess)) {
      return stage('holdout', 'Failed', REASONS.LowSuccessRate, `Only ${fmt(successRate * 100)}% of ${ev.count} holdout samples gave finite outputs without error (minimum ${fmt(minSuccess * 100)}%)${c.firstError ? `; first error: ${c.firstError}` : ''}.`, t0, { summary });
    }
    if (!(latency.p95 <= maxP95)) {
      return stage('holdout', 'Failed', REASONS.LatencyTooHigh, `Holdout latency p95 ${fmt(latency.p95)} ms is above the maximum ${fmt(maxP95)} ms (p50 ${fmt(latency.p50)} ms, batches of ${ev.batchSize}).`, t0, { summary });
    }
    const failed = thresholds.filter((r) => !r.passed);
    if (failed.length > 0) {
      return stage('holdout', 'Failed', REASONS.HoldoutBelowThreshold, `Holdout thresholds failed: ${failed.map((f) => f.message).join('; ')}.`, t0, { summary });
    }
    const values = Object.values(metrics);
    if (values.length === 0 || values.every((v) => Number.isNaN(v))) {
      return stage('holdout', 'Failed', REASONS.MetricNotFinite, `No holdout metric could be computed (all NaN) for task ${task}; check the labels and the model output.`, t0, { summary });
    }
    return stage('holdout', 'Passed', REASONS.Passed, `${ev.count} samples, success ${fmt(successRate * 100)}%, p95 ${fmt(latency.p95)} ms; ${metricText}.`, t0, { summary });
  }

  private benchmarkGate(bench: NonNullable<ValidationRequest['spec']['benchmark']>, r: BenchmarkResult, full: Record<string, unknown>, t0: number): StageResult {
    full.benchmark = r;
    const worstP95 = Math.max(...r.batches.map((b) => b.p95));
    const bestThroughput = Math.max(...r.batches.map((b) => b.throughput));
    const summary: Record<string, number | string | boolean> = {
      batchSizes: r.batches.map((b) => b.batchSize).join(','),
      p95Ms: summaryNumber(worstP95),
      throughput: summaryNumber(bestThroughput),
      peakRssMiB: summaryNumber(r.peakRssMiB),
      sessionMs: summaryNumber(r.sessionMs),
      input: r.input,
    };
    if (r.input !== 'holdout' && r.batches.length > 0 && r.batches.every((b) => b.runs === 0)) {
      // Not a slow model: the inputs made up for it do not fit it (a too-short sequence, a bad scalar).
      const what = r.input === 'spec' ? 'the inputs in spec.validation.benchmark.inputs' : `made-up inputs (zeros; symbolic dimensions ${String(bench.symbolicDimSize ?? 256)})`;
      return stage('benchmark', 'Failed', REASONS.BenchmarkInputsRejected, `The model failed on ${what}: ${r.batches[0]!.firstError ?? 'unknown error'}. Supply spec.validation.benchmark.inputs (name, shape, values) that the model accepts, or a holdout dataset.`, t0, { summary });
    }
    const problems: string[] = [];
    for (const b of r.batches) {
      if (b.errors > 0) problems.push(`batch size ${b.batchSize}: ${b.errors} run(s) failed (${b.firstError ?? 'unknown error'})`);
      if (b.runs === 0) problems.push(`batch size ${b.batchSize}: no timed run succeeded`);
      if (bench.maxLatencyP95Ms !== undefined && !(b.p95 <= bench.maxLatencyP95Ms)) problems.push(`batch size ${b.batchSize}: p95 ${fmt(b.p95)} ms above the maximum ${fmt(bench.maxLatencyP95Ms)} ms`);
    }
    if (bench.minThroughput !== undefined && !(bestThroughput >= bench.minThroughput)) problems.push(`best throughput ${fmt(bestThroughput)} samples/s below the minimum ${fmt(bench.minThroughput)}`);
    if (bench.maxMemoryMiB !== undefined && !(r.peakRssMiB <= bench.maxMemoryMiB)) problems.push(`peak memory ${fmt(r.peakRssMiB)} MiB above the maximum ${fmt(bench.maxMemoryMiB)} MiB`);
    const text = r.batches.map((b) => `batch ${b.batchSize}: p50 ${fmt(b.p50)} ms, p95 ${fmt(b.p95)} ms, ${fmt(b.throughput)} samples/s`).join('; ');
    if (problems.length > 0) return stage('benchmark', 'Failed', REASONS.BenchmarkBelowThreshold, `Benchmark failed: ${problems.join('; ')}.`, t0, { summary });
    return stage('benchmark', 'Passed', REASONS.Passed, `${text}; peak ${fmt(r.peakRssMiB)} MiB (${r.input} input).`, t0, { summary });
  }

  private regressionGate(request: ValidationRequest, task: HoldoutTask | undefined, ev: EvaluateResult | undefined, full: Record<string, unknown>, t0: number): { stage: StageResult; severity?: Severity } {
    const spec = request.spec.regression ?? {};
    const bands = spec.bands ?? DEFAULT_BANDS;
    const blockAt = spec.blockAt ?? 'SEVERE';
    const confidence = spec.confidence ?? DEFAULT_CONFIDENCE;
    const policy = spec.insufficientEvidence ?? 'Block';
    if (!request.baseline) {
      return { stage: stage('regression', 'Skipped', REASONS.NoBaseline, 'No baseline checkpoint serves the target; nothing to compare against.', t0) };
    }
    const problems: string[] = [];
    const holdout: RegressionMetric[] = [];
    if (ev && ev.count > 0 && task !== undefined) {
      const cmp = ev.comparison;
      if (!ev.baseline) problems.push('the baseline did not run on the holdout');
      else if (!cmp || cmp.samples === 0) problems.push(`no holdout sample ran cleanly on both models${ev.baseline.firstError ? ` (baseline error: ${ev.baseline.firstError})` : ''}`);
      else if (cmp.error) problems.push(`the metrics could not be compared: ${cmp.error}`);
      else {
        holdout.push(...cmp.metrics.map((m) => ({ ...m, source: 'holdout' as const })));
        full.regressionSamples = cmp.samples;
        full.bootstrapMs = Math.round(cmp.ms);
      }
    }
    const training: RegressionMetric[] = [];
    const candTrain = request.training?.metrics ?? {};
    const baseTrain = request.baseline.training?.metrics ?? {};
    for (const [metric, candidate] of Object.entries(candTrain)) {
      const baseline = baseTrain[metric];
      if (baseline === undefined || isDisplayOnlyMetric(metric)) continue;
      const direction = metricDirection(metric);
      const floor = denominatorFloor(metric);
      const degradation = degradationOf(candidate, baseline, direction, floor);
      training.push({ metric, source: 'training', direction, candidate, baseline, floor, degradation, lower: degradation, upper: degradation, confidence, samples: 0, resamples: 0 });
    }
    const judged = judgeRegression({ task, holdout, training, criticalMetrics: spec.criticalMetrics, bands, blockAt, policy, problems, measured: ev !== undefined && ev.count > 0 });
    full.regression = { bands, blockAt, confidence, insufficientEvidence: policy, resamples: spec.bootstrapResamples ?? DEFAULT_RESAMPLES, ...judged };
    if (judged.comparisons.length === 0 && problems.length === 0) {
      return { stage: stage('regression', 'Skipped', REASONS.NoHoldout, 'No holdout dataset and no training metrics shared with the baseline; nothing to compare.', t0) };
    }
    const summary: Record<string, number | string | boolean> = { severity: judged.severity, decision: judged.decision, blockAt, confidence, metrics: judged.comparisons.length, critical: judged.critical.join(',') };
    const w = judged.deciding;
    if (w) {
      summary.metric = w.metric;
      summary.candidate = summaryNumber(w.candidate);
      summary.baseline = summaryNumber(w.baseline);
      summary.degradation = summaryNumber(w.degradation);
      if (w.source === 'holdout') {
        summary.lowerBound = summaryNumber(w.lower);
        summary.upperBound = summaryNumber(w.upper);
      }
      if (w.samplesNeeded !== undefined) summary.samplesNeeded = w.samplesNeeded;
    }
    const vs = `vs baseline ${request.baseline.version}`;
    const text = `${judged.message} ${vs} (blocks at ${blockAt}, ${Math.round(confidence * 100)}% one-sided)`;
    if (judged.decision === 'Regression') {
      return { stage: stage('regression', 'Failed', REASONS.Regression, `Regression ${judged.severity} ${text}.`, t0, { summary, severity: judged.severity }), severity: judged.severity };
    }
    if (judged.decision === 'InsufficientEvidence') {
      const verdict = policy === 'Block' ? 'Failed' : 'Passed';
      const tail = policy === 'Block' ? ' Publish a larger holdout, or set spec.validation.regression.insufficientEvidence to Warn to accept the risk.' : ' Passed because spec.validation.regression.insufficientEvidence is Warn.';
      return { stage: stage('regression', verdict, REASONS.InsufficientEvidence, `Insufficient evidence ${text}.${tail}`, t0, { summary, severity: judged.severity }), severity: judged.severity };
    }
    return { stage: stage('regression', 'Passed', REASONS.NoRegression, `No regression beyond the allowed bands ${text}.`, t0, { summary, severity: judged.severity }), severity: judged.severity };
  }

  private report(stages: StageResult[], full: Record<string, unknown>, severity: Severity | undefined): ValidationReport {
    full.stages = stages;
    const failed = stages.find((s) => !passedVerdict(s));
    if (failed) {
      return { passed: false, reason: failed.reason, message: clip(`${failed.stage}: ${failed.message}`), ...(severity ? { severity } : {}), stages, full };
    }
    const ran = stages.filter((s) => s.verdict === 'Passed').map((s) => s.stage);
    return {
      passed: true,
      reason: REASONS.Validated,
      message: clip(`Validated: ${ran.join(', ')} passed; ${stages.filter((s) => s.verdict === 'Skipped').map((s) => `${s.stage} skipped (${s.reason})`).join(', ') || 'nothing skipped'}.`),
      ...(severity ? { severity } : {}),
      stages,
      full,
    };
  }
}
