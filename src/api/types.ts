// The ModelCheckpoint API (modelgate.io/v1alpha1) as TypeScript types.
// Pure: no I/O imports. crds/modelcheckpoints.yaml is the schema the apiserver enforces;
// these types mirror it, and test/integration/crd.test.ts keeps the two honest.

export const GROUP = 'modelgate.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'ModelCheckpoint';
export const PLURAL = 'modelcheckpoints';
/** Analysis templates: metrics (queries, bounds, limits) shared by checkpoints, with arguments. */
export const TEMPLATE_KIND = 'ModelAnalysisTemplate';
export const TEMPLATE_PLURAL = 'modelanalysistemplates';
export const CLUSTER_TEMPLATE_KIND = 'ClusterModelAnalysisTemplate';
export const CLUSTER_TEMPLATE_PLURAL = 'clustermodelanalysistemplates';

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
  /**
   * On a checkpoint held by `rollout.autoDeploy: false`: approve this generation for deploy.
   * Value: the generation approved, so a later spec change needs a new approval.
   */
  promote: `${GROUP}/promote`,
  /** On the Deployment: uid of the checkpoint the last rollback took out ("" after a deploy). */
  rolledBackFrom: `${GROUP}/rolled-back-from`,
} as const;

export const FINALIZER = `${GROUP}/cleanup`;
export const FIELD_MANAGER = 'modelgate-operator';

/** Env vars written into the target container, next to the model env var (default MODEL_URI). */
export const DIGEST_ENV = 'MODEL_DIGEST';
export const VERSION_ENV = 'MODEL_VERSION';
export const DEFAULT_MODEL_ENV = 'MODEL_URI';

/**
 * How the serving container reaches a model's store: written beside MODEL_URI when the
 * checkpoint's artifact has `secretRef`, `s3` or `oci` (and removed when it has none), so the
 * pods fetch the same URI with the same code and credentials as the validation did.
 */
export const STORE_ENV = {
  s3Region: 'MODEL_S3_REGION',
  s3Endpoint: 'MODEL_S3_ENDPOINT',
  s3ForcePathStyle: 'MODEL_S3_FORCE_PATH_STYLE',
  ociPlainHttp: 'MODEL_OCI_PLAIN_HTTP',
  /** The Secret's name, for messages; its keys are files in MODEL_CREDENTIALS_DIR. */
  credentialsSecret: 'MODEL_CREDENTIALS_SECRET',
  credentialsDir: 'MODEL_CREDENTIALS_DIR',
} as const;
/** The Secret volume the operator adds to the pod template for `spec.artifact.secretRef`. */
export const CREDENTIALS_VOLUME = 'modelgate-model-credentials';
export const CREDENTIALS_MOUNT = '/var/run/modelgate/model-credentials';

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

/** A template the analysis takes metrics from: a ModelAnalysisTemplate in the checkpoint's namespace, or a ClusterModelAnalysisTemplate. */
export interface AnalysisTemplateRef {
  name: string;
  /** true: the cluster-scoped ClusterModelAnalysisTemplate of that name (default false). */
  clusterScope?: boolean;
}

/** A value for a template argument, filled in where a template's query says {{args.<name>}}. */
export interface AnalysisArg {
  name: string;
  value: string;
}

export interface AnalysisSpec {
  /** One of the operator's Prometheus URLs (--prometheus-url, --prometheus-urls); any other stalls with PrometheusUrlNotAllowed. */
  prometheusUrl?: string;
  intervalSeconds?: number; // default 30
  initialDelaySeconds?: number; // default 0
  /** How long the guard watches before the checkpoint is Healthy (0 = watch forever). */
  durationSeconds?: number; // default 600
  baselineWindowSeconds?: number; // default 600
  /** Inline metrics; merged with the templates' (an inline metric replaces a template's of the same name). */
  metrics?: AnalysisMetricSpec[];
  /** Templates whose metrics the analysis uses, resolved when analysis starts. */
  templates?: AnalysisTemplateRef[];
  /** Values for the templates' args (shared by all referenced templates). */
  args?: AnalysisArg[];
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

/** A checkpoint the Deployment ran, with how its store is reached (so a rollback restores the credentials too). */
export interface RollbackPoint extends StoreAccess {
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

/** One template as it was when the analysis was resolved. */
export interface ResolvedTemplate {
  kind: 'ModelAnalysisTemplate' | 'ClusterModelAnalysisTemplate';
  name: string;
  /** The namespace of a ModelAnalysisTemplate (none for a cluster-scoped one). */
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  /** The argument values filled into its queries (the checkpoint's, else the template's defaults). */
  args?: AnalysisArg[];
  /** The metrics taken from it (a metric replaced by an inline one is not listed). */
  metrics: string[];
}

/**
 * The analysis as resolved when it started: the metrics after template args were filled in
 * (the {{model}}, {{version}}, ... placeholders stay: they are filled per measurement). The
 * analyzer uses this copy, so a template edited or deleted later changes nothing.
 */
export interface ResolvedAnalysis {
  resolvedAt: string;
  templates: ResolvedTemplate[];
  metrics: AnalysisMetricSpec[];
}

export interface AnalysisStatus {
  /** What the analysis measures, recorded when it started. */
  resolved?: ResolvedAnalysis;
  startedAt?: string;
  baseline?: Record<string, number>;
  /** Counters per metric. */
  counts?: Record<string, { successful: number; failed: number; inconclusive: number; error: number }>;
  measurements?: Measurement[];
  lastMeasuredAt?: string;
  decision?: string;
}

/** One new pod's trouble, in the pod's own words (its container's state and last termination). */
export interface PodProblem {
  pod: string;
  container?: string;
  /** OOMKilled, CrashLoopBackOff, Restarting, ImagePullBackOff, Unschedulable, NotReady, ... */
  reason: string;
  message?: string;
  exitCode?: number;
  restarts?: number;
}

/** How the rollout of this checkpoint's pods went, as last seen (status.rollout). */
export interface RolloutStatus {
  state: 'Progressing' | 'Available' | 'Failed';
  reason: string;
  message: string;
  desired: number;
  /** Pods of the new ReplicaSet. */
  updated: number;
  ready: number;
  available: number;
  revision?: string;
  replicaSet?: string;
  /** The pods' own reasons, worst first (at most 5). */
  problems: PodProblem[];
}

export interface HistoryEntry {
  time: string;
  phase: Phase;
  reason: string;
  message: string;
  generation?: number;
}

/** Transient failures of one phase's background work (fetch or validation), retried with backoff. */
export interface RetryStatus {
  phase: 'Fetching' | 'Validating';
  /** Failed attempts so far. */
  attempts: number;
  /** The attempt limit in force when the last one failed. */
  maxAttempts?: number;
  /** When the next attempt starts (RFC 3339); absent once the phase moved on or gave up. */
  nextAttemptAt?: string;
  lastReason: string;
  lastMessage: string;
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
  /** The rollout of this checkpoint's pods, from the patch until they are all available (or it failed). */
  rollout?: RolloutStatus;
  analysis?: AnalysisStatus;
  /** The generation that was rolled back: never deployed again until the spec changes. */
  rolledBackGeneration?: number;
  /** Transient failures of the current (or last) phase's background work, retried with backoff. */
  retry?: RetryStatus;
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

/** An argument a template declares; without a value it is required from the checkpoint. */
export interface TemplateArgSpec {
  name: string;
  /** The default, used when the checkpoint gives none. */
  value?: string;
}

/** The spec of a ModelAnalysisTemplate and of a ClusterModelAnalysisTemplate. */
export interface AnalysisTemplateSpec {
  args?: TemplateArgSpec[];
  /** Metrics as in spec.analysis.metrics; query and baselineQuery may use {{args.<name>}}. */
  metrics: AnalysisMetricSpec[];
}

export interface AnalysisTemplate {
  apiVersion: typeof API_VERSION;
  kind: 'ModelAnalysisTemplate' | 'ClusterModelAnalysisTemplate';
  metadata: ObjectMeta;
  spec: AnalysisTemplateSpec;
}
