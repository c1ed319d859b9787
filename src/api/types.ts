// The ModelCheckpoint API (modelgate.io/v1alpha1) as TypeScript types.
// Pure: no I/O imports. crds/modelcheckpoints.yaml is the schema the apiserver enforces;
// these types mirror it, and test/integration/crd.test.ts keeps the two honest.

export const GROUP = 'modelgate.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'ModelCheckpoint';
export const PLURAL = 'modelcheckpoints';

/** Annotations and labels the operator writes; every key lives here. */
export const ANNOTATIONS = {
  /** On the Deployment: `<namespace>/<name>` of the checkpoint holding the claim, with its uid. */
  claim: `${GROUP}/claimed-by`,
  /** On the Deployment and its pod template: which checkpoint, version and digest it runs. */
  checkpoint: `${GROUP}/checkpoint`,
  checkpointUid: `${GROUP}/checkpoint-uid`,
  version: `${GROUP}/version`,
  digest: `${GROUP}/digest`,
  /** On a checkpoint: ask for a rollback now. Value: "true" or the name of an older checkpoint. */
  rollbackRequest: `${GROUP}/rollback`,
  /** On the Deployment: uid of the checkpoint the last rollback took out ("" after a deploy). */
  rolledBackFrom: `${GROUP}/rolled-back-from`,
} as const;

export const FINALIZER = `${GROUP}/cleanup`;
export const FIELD_MANAGER = 'modelgate-operator';

/** Env vars written into the target container, next to the model env var (default MODEL_URI). */
export const DIGEST_ENV = 'MODEL_DIGEST';
export const VERSION_ENV = 'MODEL_VERSION';
export const DEFAULT_MODEL_ENV = 'MODEL_URI';

export type Phase =
  | 'Pending'
  | 'Fetching'
  | 'Validating'
  | 'Validated'
  | 'Deploying'
  | 'Deployed'
  | 'Monitoring'
  | 'Healthy'
  | 'Rejected'
  | 'Failed'
  | 'RolledBack'
  | 'Superseded';

export const PHASES: readonly Phase[] = [
  'Pending', 'Fetching', 'Validating', 'Validated', 'Deploying', 'Deployed', 'Monitoring', 'Healthy',
  'Rejected', 'Failed', 'RolledBack', 'Superseded',
];

export type Severity = 'NONE' | 'MINOR' | 'MODERATE' | 'SEVERE' | 'CRITICAL';
export const SEVERITIES: readonly Severity[] = ['NONE', 'MINOR', 'MODERATE', 'SEVERE', 'CRITICAL'];

export type ArchitecturePolicy = 'Strict' | 'Compatible' | 'Skip';
export type HoldoutTask = 'classification' | 'regression' | 'conversion';
export type Direction = 'HigherIsBetter' | 'LowerIsBetter';
export type AnalysisAction = 'Hold' | 'Rollback';

export interface ArtifactSpec {
  /** https://, http:// (trusted hosts only) or file:// (a volume mounted into the operator). */
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

export interface DatasetRef {
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
  /** Model output holding the prediction (default: the first output). */
  outputName?: string;
  thresholds?: MetricThreshold[];
  minSuccessRate?: number; // default 0.95
  maxLatencyP95Ms?: number; // default 100
  maxSamples?: number;
}

export interface BenchmarkGateSpec {
  enabled?: boolean; // default true
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

export interface RegressionGateSpec {
  /** Metrics whose regression sets the severity (default: every holdout metric). */
  criticalMetrics?: string[];
  bands?: SeverityBands;
  /** Lowest severity that blocks (default SEVERE). */
  blockAt?: Severity;
  /** Paired-bootstrap resamples per metric (default 200: the CI runs on the operator thread). */
  bootstrapResamples?: number; // default 200
}

export interface ValidationSpec {
  timeoutSeconds?: number; // default 600
  architecture?: ArchitectureGateSpec;
  holdout?: HoldoutGateSpec;
  benchmark?: BenchmarkGateSpec;
  regression?: RegressionGateSpec;
}

export interface RolloutSpec {
  autoDeploy?: boolean; // default true
  paused?: boolean; // default false
}

export interface AnalysisMetricSpec {
  name: string;
  /** PromQL, templated with {{model}}, {{version}}, {{namespace}}, {{deployment}}, {{checkpoint}}. */
  query: string;
  direction: Direction;
  /** Absolute bounds on the value. */
  min?: number;
  max?: number;
  /** Largest degradation relative to the baseline (fraction, e.g. 0.1 = 10% worse). */
  maxRelativeDegradation?: number;
  /** Explicit baseline query; default: `query` over the window before the rollout. */
  baselineQuery?: string;
  failureLimit?: number; // default 0
  inconclusiveLimit?: number; // default 3
  errorLimit?: number; // default 3
}

export interface AnalysisSpec {
  prometheusUrl?: string;
  intervalSeconds?: number; // default 30
  initialDelaySeconds?: number; // default 0
  /** How long the guard watches before the checkpoint is Healthy (0 = watch forever). */
  durationSeconds?: number; // default 600
  baselineWindowSeconds?: number; // default 600
  metrics: AnalysisMetricSpec[];
  onInconclusive?: AnalysisAction; // default Hold
  onError?: AnalysisAction; // default Hold
  /** Severity bands for the CRITICAL fast path (default: the regression gate's bands). */
  bands?: SeverityBands;
}

export interface ModelCheckpointSpec {
  model: string;
  version: string;
  artifact: ArtifactSpec;
  training?: TrainingSpec;
  target: TargetSpec;
  validation?: ValidationSpec;
  rollout?: RolloutSpec;
  analysis?: AnalysisSpec;
}

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

export type StageName = 'fetch' | 'architecture' | 'holdout' | 'benchmark' | 'regression';
export const STAGES: readonly StageName[] = ['fetch', 'architecture', 'holdout', 'benchmark', 'regression'];
export type StageVerdict = 'Passed' | 'Failed' | 'Skipped' | 'Error';

/** One gate's summary, kept small (the full report lives in a ConfigMap). */
export interface StageResult {
  stage: StageName;
  verdict: StageVerdict;
  reason: string;
  message: string;
  /** Key numbers: value, threshold, baseline, change, ... */
  summary?: Record<string, number | string | boolean>;
  severity?: Severity;
  durationMs?: number;
}

export interface RollbackPoint {
  checkpoint: string;
  uid?: string;
  version: string;
  digest: string;
  uri: string;
  /** The Deployment's pod-template-hash / revision when that checkpoint was running. */
  deploymentRevision?: string;
}

export interface DeploymentRecord {
  deployedAt: string;
  deployment: string;
  /** The Deployment revision (deployment.kubernetes.io/revision) that carries this checkpoint. */
  revision?: string;
  /** Deployment generation after the patch. */
  generation?: number;
  rollbackPoint?: RollbackPoint;
  /** Older rollback points of the same Deployment, newest first (up to --rollback-history - 1). */
  earlierRollbackPoints?: RollbackPoint[];
}

export type MeasurementPhase = 'Successful' | 'Failed' | 'Inconclusive' | 'Error';

export interface Measurement {
  metric: string;
  phase: MeasurementPhase;
  at: string;
  query?: string;
  value?: number;
  baseline?: number;
  bound?: string;
  message?: string;
  severity?: Severity;
}

export interface AnalysisStatus {
  startedAt?: string;
  baseline?: Record<string, number>;
  /** Counters per metric. */
  counts?: Record<string, { successful: number; failed: number; inconclusive: number; error: number }>;
  measurements?: Measurement[];
  lastMeasuredAt?: string;
  decision?: string;
}

export interface HistoryEntry {
  time: string;
  phase: Phase;
  reason: string;
  message: string;
  generation?: number;
}

export interface ModelCheckpointStatus {
  phase?: Phase;
  observedGeneration?: number;
  conditions?: Condition[];
  severity?: Severity;
  stages?: StageResult[];
  /** ConfigMap (owned by the checkpoint) holding the full validation report. */
  reportConfigMap?: string;
  deployment?: DeploymentRecord;
  analysis?: AnalysisStatus;
  /** The generation that was rolled back: never deployed again until the spec changes. */
  rolledBackGeneration?: number;
  /** The production checkpoint this one was validated against (none for the first of a target). */
  validatedAgainst?: { checkpoint?: string; digest?: string };
  history?: HistoryEntry[];
}

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
}

export interface ModelCheckpoint {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: ObjectMeta;
  spec: ModelCheckpointSpec;
  status?: ModelCheckpointStatus;
}
