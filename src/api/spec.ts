// The parts of a ModelCheckpoint's spec (artifact, training, target, validation gates, rollout)
// and the enums they share. The analysis parts are in analysis.ts; types.ts assembles them into
// ModelCheckpointSpec. Pure: types and constants only.

export type Severity = 'NONE' | 'MINOR' | 'MODERATE' | 'SEVERE' | 'CRITICAL';
export const SEVERITIES: readonly Severity[] = ['NONE', 'MINOR', 'MODERATE', 'SEVERE', 'CRITICAL'];

export type ArchitecturePolicy = 'Strict' | 'Compatible' | 'Skip';
export type HoldoutTask = 'classification' | 'regression' | 'conversion';
export type Direction = 'HigherIsBetter' | 'LowerIsBetter';

/** A Secret in the checkpoint's own namespace; there is no namespace field, by design. */
export interface SecretRef {
  name: string;
}

/** Where an s3:// object lives. */
export interface S3StoreSpec {
  region?: string;
  /** Base URL of an S3-compatible store (https, or http for trusted hosts). */
  endpoint?: string;
  forcePathStyle?: boolean;
}

/** How an oci:// registry is reached. */
export interface OciStoreSpec {
  /** Plain http (trusted hosts only). */
  plainHttp?: boolean;
}

/** What a store needs besides the URI: credentials and how to reach it. */
export interface StoreAccess {
  secretRef?: SecretRef;
  s3?: S3StoreSpec;
  oci?: OciStoreSpec;
}

export interface ArtifactSpec extends StoreAccess {
  /** https://, http:// (trusted hosts only), s3://bucket/key, oci://registry/repo:tag|@sha256:… or file:// (a mounted volume). */
  uri: string;
  /** `sha256:` followed by 64 lowercase hex digits. */
  digest: string;
  sizeBytes?: number;
  /** Allow ONNX external-data tensors, resolved only inside the artifact's own folder. */
  allowExternalData?: boolean;
}

export interface TrainingSpec {
  step?: number;
  episode?: number;
  runId?: string;
  /** Free-form training configuration, kept for the audit trail. */
  config?: Record<string, unknown>;
  /** Numbers the training run reported (roas, ctr, conversionRate, accuracy, ...). */
  metrics?: Record<string, number>;
}

export interface TargetSpec {
  /** A Deployment in the checkpoint's namespace. */
  deployment: string;
  /** The container in that Deployment's pod template that serves the model. */
  container: string;
  /** The env var that carries the model URI; default MODEL_URI. */
  modelEnv?: string;
}

export interface DatasetRef extends StoreAccess {
  uri: string;
  digest: string;
  /** jsonl (a record a line) or npz (NumPy arrays); default from the URI's extension. */
  format?: 'jsonl' | 'npz';
}

export interface MetricThreshold {
  metric: string;
  min?: number;
  max?: number;
}

export interface ArchitectureGateSpec {
  policy?: ArchitecturePolicy; // default Strict
  /** Largest relative change of the parameter count that passes unreported (default 0.5). */
  maxParameterChangeRatio?: number;
  /** Block (not only report) a parameter change beyond the ratio (default false). */
  blockOnParameterChange?: boolean;
}

export interface HoldoutGateSpec {
  dataset: DatasetRef;
  task: HoldoutTask;
  /** Field in each record holding the label (default "label"). */
  labelField?: string;
  /**
   * Model output holding the prediction. Default: chosen by what the outputs are (the only
   * floating-point tensor: probabilities over a classifier's int64 label); refused when ambiguous.
   */
  outputName?: string;
  thresholds?: MetricThreshold[];
  minSuccessRate?: number; // default 0.95
  maxLatencyP95Ms?: number; // default 100
  maxSamples?: number;
}

/** One benchmark input given in the spec, for models whose inputs cannot be made up. */
export interface BenchmarkInputSpec {
  name: string;
  /** Full shape, batch axis included ([] for a scalar). */
  shape: number[];
  /** Values, repeated to fill the shape (default zeros). */
  values?: number[];
}

export interface BenchmarkGateSpec {
  enabled?: boolean; // default true
  /**
   * Inputs to time when there is no holdout dataset; inputs not listed are made up (zeros, with
   * symbolic dimensions set to the batch size or symbolicDimSize).
   */
  inputs?: BenchmarkInputSpec[];
  /** Size of made-up symbolic dimensions other than the batch (default 256). */
  symbolicDimSize?: number;
  batchSizes?: number[]; // default [1, 8]
  warmupRuns?: number; // default 3
  runs?: number; // default 20
  maxLatencyP95Ms?: number;
  minThroughput?: number; // samples per second
  maxMemoryMiB?: number;
}

export interface SeverityBands {
  /** Relative degradation upper bounds (fractions): MINOR <= minor < MODERATE <= moderate ... */
  minor: number; // default 0.05
  moderate: number; // default 0.15
  severe: number; // default 0.30
}

/** What a regression verdict of InsufficientEvidence does: Block (never Validated) or Warn (passes, said in status). */
export type InsufficientEvidencePolicy = 'Block' | 'Warn';

export interface RegressionGateSpec {
  /**
   * Metrics that block (default: the task's primary one: accuracy for classification, auc for
   * conversion, rmse for regression). Others are reported with their bands. A training metric
   * blocks only when named (bare, or as training.<metric>).
   */
  criticalMetrics?: string[];
  bands?: SeverityBands;
  /** Lowest severity that blocks (default SEVERE): the bound of the degradation must stay below it. */
  blockAt?: Severity;
  /** Paired-bootstrap resamples (default 1000; run in the validation worker). */
  bootstrapResamples?: number;
  /** One-sided confidence of the bounds the decision uses (default 0.95). */
  confidence?: number;
  /** When the holdout is too small to tell (default Block). */
  insufficientEvidence?: InsufficientEvidencePolicy;
}

/** Where validation runs: the operator's worker pool, or a Kubernetes Job of its own. */
export type ValidationRunner = 'InProcess' | 'Job';

export interface JobToleration {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  tolerationSeconds?: number;
}

/** What a checkpoint may change in the operator's Job pod template (runner Job). */
export interface ValidationJobOverrides {
  image?: string;
  runtimeClassName?: string;
  nodeSelector?: Record<string, string>;
  tolerations?: JobToleration[];
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
}

export interface ValidationSpec {
  timeoutSeconds?: number; // default 600
  /** Unset: the operator's --validation-runner (InProcess unless configured). */
  runner?: ValidationRunner;
  job?: ValidationJobOverrides;
  architecture?: ArchitectureGateSpec;
  holdout?: HoldoutGateSpec;
  benchmark?: BenchmarkGateSpec;
  regression?: RegressionGateSpec;
}

export interface RolloutSpec {
  autoDeploy?: boolean; // default true
  paused?: boolean; // default false
  /**
   * Seconds from the Deployment patch within which every new pod must be available; past it the
   * rollout failed (besides the Deployment's own progressDeadlineSeconds). Default 600.
   */
  progressDeadlineSeconds?: number;
  /** Restarts of one container of a new pod that count as a crash loop (default 2). */
  maxRestarts?: number;
  /** What a failed rollout does: go back to the rollback point (default), or hold for a person. */
  onFailure?: 'Rollback' | 'Hold';
}
