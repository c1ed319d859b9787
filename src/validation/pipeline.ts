// The validation pipeline: OnnxValidator implements CheckpointValidator. Fetch (candidate, baseline,
// holdout dataset: same rules, same digests), then four gates: 1 architecture vs the baseline,
// 2 holdout metrics / success rate / latency, 3 benchmark, 4 regression vs the baseline on the same
// samples in the same run (severity bands, paired-bootstrap CIs, training metrics too).
// This module does the I/O: fetches, model inspection, the worker jobs, the clock. What each gate
// concludes from the numbers is decided by the pure *-gate.ts modules beside it.
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { HoldoutGateSpec, StageName, StageResult } from '../api/types.js';
import { DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES } from '../math/evidence.js';
import type { ModelSignature } from './architecture.js';
import { compareSignatures } from './architecture.js';
import { architectureOutcome } from './architecture-gate.js';
import { benchmarkOutcome } from './benchmark-gate.js';
import type {
  CheckpointValidator,
  FetchedArtifact,
  ValidationReport,
  ValidationRequest,
} from './contract.js';
import { StageError } from './contract.js';
import { NOT_RUN_AFTER_ARCHITECTURE, outcome, stageResult, validationReport } from './gate-outcome.js';
import type { GateOutcome } from './gate-outcome.js';
import { EMPTY_HOLDOUT, judgeHoldout } from './holdout-gate.js';
import { ambientCredentials } from '../fetch/ambient.js';
import { ArtifactFetcher, type FetcherOptions, type StoreRef } from '../fetch/index.js';
import { inspectModelFile } from './onnx-model.js';
import { REASONS } from '../api/reasons.js';
import { regressionOutcome } from './regression-gate.js';
import { criticalMetricsFor } from './regression-judge.js';
import { WorkerPool } from './worker-pool.js';
import type { DatasetJobRef, EvaluateResult, WorkerScope } from './worker-pool.js';

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

/** One validation in progress: what it was asked, what it may take, and what it has found. */
interface GateRun {
  request: ValidationRequest;
  candidate: FetchedArtifact;
  signal: AbortSignal;
  deadlineAt: number;
  holds: Array<() => void>;
  jobs: WorkerScope;
  stages: StageResult[];
  full: Record<string, unknown>;
}

/** The baseline and holdout dataset as fetched (each only when the request has one). */
interface Inputs {
  baselineFile?: FetchedArtifact;
  datasetFile?: FetchedArtifact;
}

/** The candidate's signature (safety-checked, and loaded once in the worker) and the baseline's. */
interface Signatures {
  candidate: ModelSignature;
  baseline?: ModelSignature;
}

/** What the holdout gate leaves for the later gates. */
interface HoldoutRun {
  evaluation?: EvaluateResult;
  datasetRef?: DatasetJobRef;
}

/** Where the worker reads the holdout dataset, and how: the user's name for it, format, label field, sample cap. */
function datasetJobRef(holdout: HoldoutGateSpec, datasetFile: FetchedArtifact): DatasetJobRef {
  const uri = holdout.dataset.uri;
  const ref: DatasetJobRef = { path: datasetFile.path, name: uri.startsWith('file://') ? fileURLToPath(uri) : uri };
  if (holdout.dataset.format) ref.format = holdout.dataset.format;
  else ref.format = /\.npz(\?|#|$)/i.test(holdout.dataset.uri) ? 'npz' : 'jsonl';
  if (holdout.labelField) ref.labelField = holdout.labelField;
  if (holdout.maxSamples !== undefined) ref.maxSamples = holdout.maxSamples;
  return ref;
}

/** A gate's outcome recorded as a stage, timed from t0. */
function record(g: GateRun, name: StageName, o: GateOutcome, t0: number): void {
  g.stages.push(stageResult(name, o, Math.round(performance.now() - t0)));
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
    const full: Record<string, unknown> = {
      key: request.key,
      generation: request.generation,
      candidate: { digest: candidate.digest, sizeBytes: candidate.sizeBytes },
    };
    const g: GateRun = { request, candidate, signal, deadlineAt, holds, jobs, stages: [], full };
    const inputs = await this.fetchInputs(g);
    const t0 = performance.now();
    const signatures = await this.inspectModels(g, inputs);
    if (!this.architectureGate(g, signatures, t0)) {
      for (const name of ['holdout', 'benchmark', 'regression'] as const) record(g, name, NOT_RUN_AFTER_ARCHITECTURE, performance.now());
      return validationReport(g.stages, full, undefined);
    }
    const holdout = await this.holdoutGate(g, inputs, signatures);
    await this.benchmarkGate(g, holdout);

    // ---- gate 4: regression
    const t4 = performance.now();
    const reg = regressionOutcome(request, request.spec.holdout?.task, holdout.evaluation);
    Object.assign(full, reg.record);
    record(g, 'regression', reg.outcome, t4);
    return validationReport(g.stages, full, reg.severity);
  }

  /** The baseline and the holdout dataset (the candidate was fetched in phase Fetching). */
  private async fetchInputs(g: GateRun): Promise<Inputs> {
    const { request, signal, holds } = g;
    const t0 = performance.now();
    let baselineFile: FetchedArtifact | undefined;
    let datasetFile: FetchedArtifact | undefined;
    if (request.baseline) {
      baselineFile = await this.fetcher.fetch({ ...request.baseline.artifact, credentials: request.credentials?.baseline }, signal, { key: request.key, label: 'baseline artifact', holds });
    }
    if (request.spec.holdout) {
      const ds = request.spec.holdout.dataset;
      try {
        datasetFile = await this.fetcher.fetch({ uri: ds.uri, digest: ds.digest, s3: ds.s3, oci: ds.oci, credentials: request.credentials?.dataset }, signal, { key: request.key, label: 'holdout dataset', holds });
      } catch (err) {
        if (err instanceof StageError) throw new StageError(err.reason, err.message, err.terminal, 'fetch');
        throw err;
      }
    }
    const fetchSummary: Record<string, number | string | boolean> = { candidateBytes: g.candidate.sizeBytes };
    if (baselineFile) fetchSummary.baselineBytes = baselineFile.sizeBytes;
    if (datasetFile) fetchSummary.datasetBytes = datasetFile.sizeBytes;
    record(g, 'fetch', outcome('Passed', REASONS.Fetched, `Fetched and verified the candidate${baselineFile ? ', the baseline' : ''}${datasetFile ? ' and the holdout dataset' : ''}.`, fetchSummary), t0);
    g.full.fetch = { baseline: baselineFile, dataset: datasetFile };
    return { ...(baselineFile ? { baselineFile } : {}), ...(datasetFile ? { datasetFile } : {}) };
  }

  /** Model safety before onnxruntime sees a file, then a session load in a worker. */
  private async inspectModels(g: GateRun, inputs: Inputs): Promise<Signatures> {
    const { request, full } = g;
    const inspectOpts = { ...(this.options.maxArtifactBytes !== undefined ? { maxBytes: this.options.maxArtifactBytes } : {}), ...(this.options.maxNodes !== undefined ? { maxNodes: this.options.maxNodes } : {}) };
    const cand = await inspectModelFile(g.candidate.path, { ...inspectOpts, allowExternalData: request.candidate.allowExternalData === true, label: 'candidate model' });
    let baseSig: ModelSignature | undefined;
    if (inputs.baselineFile && request.baseline) {
      try {
        baseSig = (await inspectModelFile(inputs.baselineFile.path, { ...inspectOpts, allowExternalData: request.baseline.artifact.allowExternalData === true, label: 'baseline model' })).signature;
      } catch (err) {
        // The baseline is already serving; its own defect is not the candidate's, and may be fixed.
        if (err instanceof StageError) throw new StageError(err.reason, err.message, false, 'architecture');
        throw err;
      }
    }
    const loaded = await g.jobs.run({ type: 'inspect', model: g.candidate.path }, { signal: g.signal, stage: 'architecture', timeoutMs: this.jobTimeout(g.deadlineAt, this.options.timeouts?.inspectMs, 60_000) });
    full.candidateSignature = cand.signature;
    full.sessionLoadMs = loaded.sessionMs;
    if (baseSig) full.baselineSignature = baseSig;
    return { candidate: cand.signature, ...(baseSig ? { baseline: baseSig } : {}) };
  }

  /** Gate 1 (its clock started with the model inspection, as the stage's time includes it). Whether it let the later gates run. */
  private architectureGate(g: GateRun, sigs: Signatures, t0: number): boolean {
    const arch = g.request.spec.architecture ?? {};
    const policy = arch.policy ?? 'Strict';
    const cmp = compareSignatures(sigs.baseline, sigs.candidate, policy, arch);
    g.full.architecture = cmp;
    record(g, 'architecture', architectureOutcome(cmp, sigs.candidate, policy, g.request.baseline?.version), t0);
    return cmp.compatible;
  }

  /** Gate 2: the candidate (and the baseline, paired, for gate 4) on the holdout dataset, in the worker. */
  private async holdoutGate(g: GateRun, inputs: Inputs, sigs: Signatures): Promise<HoldoutRun> {
    const t0 = performance.now();
    const holdout = g.request.spec.holdout;
    const datasetFile = inputs.datasetFile;
    if (!holdout || !datasetFile) {
      record(g, 'holdout', outcome('Skipped', REASONS.NoHoldout, 'No holdout dataset in spec.validation.holdout; quality was not measured.'), t0);
      return {};
    }
    const datasetRef = datasetJobRef(holdout, datasetFile);
    const regressionOn = g.request.baseline !== undefined && inputs.baselineFile !== undefined && sigs.baseline !== undefined;
    const evaluation = await g.jobs.run(this.evaluateJob(g, holdout, datasetRef, regressionOn ? inputs.baselineFile : undefined), { signal: g.signal, stage: 'holdout', timeoutMs: this.jobTimeout(g.deadlineAt, this.options.timeouts?.evaluateMs, 300_000) });
    const roundTripMs = performance.now() - t0;
    this.judgeHoldoutRun(g, holdout, evaluation, t0);
    const timings = (g.full.holdout as { timingsMs?: Record<string, unknown> } | undefined)?.timingsMs;
    if (timings) timings.job = roundTripMs;
    return { evaluation, datasetRef };
  }

  /** The evaluate job: the candidate, and with a baseline the paired run and the bootstrap of every metric. */
  private evaluateJob(g: GateRun, holdout: HoldoutGateSpec, datasetRef: DatasetJobRef, baselineFile: FetchedArtifact | undefined) {
    const regression = g.request.spec.regression;
    return {
      type: 'evaluate' as const,
      candidate: g.candidate.path,
      dataset: datasetRef,
      ...(baselineFile ? { baseline: baselineFile.path } : {}),
      ...(holdout.outputName ? { outputName: holdout.outputName } : {}),
      task: holdout.task,
      score: true,
      ...(baselineFile
        ? { compare: { task: holdout.task, metrics: criticalMetricsFor(holdout.task, regression?.criticalMetrics), resamples: regression?.bootstrapResamples ?? DEFAULT_RESAMPLES, confidence: regression?.confidence ?? DEFAULT_CONFIDENCE, seed: this.options.bootstrapSeed ?? 1 } }
        : {}),
      batchSize: this.options.evalBatchSize ?? 16,
    };
  }

  /** Score the evaluation (timed, for the report) and record gate 2's verdict. */
  private judgeHoldoutRun(g: GateRun, holdout: HoldoutGateSpec, ev: EvaluateResult, t0: number): void {
    if (ev.count === 0) {
      g.full.holdout = { samples: 0 };
      record(g, 'holdout', EMPTY_HOLDOUT, t0);
      return;
    }
    // The worker scored the candidate (off this event loop) since the job asked it to.
    if (!ev.score) throw new StageError(REASONS.ValidatorCrashed, 'The validation worker returned no holdout score; this is a bug in modelgate, please report it.', false, 'holdout');
    const judged = judgeHoldout(holdout, ev, ev.score, ev.timingsMs?.metrics ?? 0);
    g.full.holdout = judged.record;
    record(g, 'holdout', judged.outcome, t0);
  }

  /** Gate 3: timed runs in the worker, on holdout samples when there are some. */
  private async benchmarkGate(g: GateRun, holdout: HoldoutRun): Promise<void> {
    const t0 = performance.now();
    const bench = g.request.spec.benchmark ?? {};
    if (bench.enabled === false) {
      record(g, 'benchmark', outcome('Skipped', REASONS.GateDisabled, 'spec.validation.benchmark.enabled is false.'), t0);
      return;
    }
    const useData = holdout.datasetRef !== undefined && holdout.evaluation !== undefined && holdout.evaluation.count > 0;
    const result = await g.jobs.run(
      {
        type: 'benchmark',
        model: g.candidate.path,
        batchSizes: bench.batchSizes ?? [1, 8],
        warmupRuns: bench.warmupRuns ?? 3,
        runs: bench.runs ?? 20,
        ...(useData ? { dataset: holdout.datasetRef! } : {}),
        ...(bench.inputs ? { inputs: bench.inputs } : {}),
        ...(bench.symbolicDimSize !== undefined ? { symbolicDim: bench.symbolicDimSize } : {}),
      },
      { signal: g.signal, stage: 'benchmark', timeoutMs: this.jobTimeout(g.deadlineAt, this.options.timeouts?.benchmarkMs, 120_000) },
    );
    g.full.benchmark = result;
    record(g, 'benchmark', benchmarkOutcome(bench, result), t0);
  }
}
