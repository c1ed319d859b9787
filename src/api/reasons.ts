// Every reason string the project writes, in one file (as controller-runtime keeps them): the
// controller's (conditions, Events, history), the validation gates' and fetcher's (StageResult,
// ValidationReport, StageError), the validation Jobs', the live guard's, the rollout judge's and
// the inference server's. All are CamelCase words as the API conventions ask. Pure: no imports.
export const REASON = {
  Pending: 'Pending',
  Fetching: 'Fetching',
  Fetched: 'Fetched',
  Validating: 'Validating',
  Validated: 'Validated',
  Rejected: 'Rejected',
  Failed: 'Failed',
  TargetNotFound: 'TargetNotFound',
  /** spec.artifact or the holdout dataset names a Secret that does not exist (yet) in the checkpoint's namespace. */
  SecretNotFound: 'SecretNotFound',
  /** The named Secret exists but holds nothing the fetcher can use. */
  InvalidSecret: 'InvalidSecret',
  ContainerNotFound: 'ContainerNotFound',
  AwaitingClaim: 'AwaitingClaim',
  ClaimAcquired: 'ClaimAcquired',
  AutoDeployDisabled: 'AutoDeployDisabled',
  Paused: 'Paused',
  Deploying: 'Deploying',
  Deployed: 'Deployed',
  RolloutProgressing: 'RolloutProgressing',
  /** The new pods did not come up (crash loop, OOMKilled, never Ready, progress deadline): rolled back, or held. */
  RolloutFailed: 'RolloutFailed',
  AlreadyRunning: 'AlreadyRunning',
  BaselineChanged: 'BaselineChanged',
  Monitoring: 'Monitoring',
  Healthy: 'Healthy',
  RolledBack: 'RolledBack',
  RolledBackTo: 'RolledBackTo',
  RollbackRequested: 'RollbackRequested',
  NoRollbackPoint: 'NoRollbackPoint',
  Superseded: 'Superseded',
  SpecChanged: 'SpecChanged',
  Drift: 'Drift',
  Deleting: 'Deleting',
  NotRedeployed: 'NotRedeployed',
  /** A template the analysis references does not exist (yet): the checkpoint waits for it. */
  TemplateNotFound: 'TemplateNotFound',
  /** The analysis cannot be resolved from its templates: a missing arg, an unknown placeholder, a clash. */
  InvalidTemplate: 'InvalidTemplate',
  /** spec.analysis.prometheusUrl is not one of the Prometheus URLs the operator was started with. */
  PrometheusUrlNotAllowed: 'PrometheusUrlNotAllowed',
} as const;

export type Reason = (typeof REASON)[keyof typeof REASON];

export const REASONS = {
  /** Every gate passed (Skipped counts as passed). */
  Validated: 'Validated',
  /** A gate passed. */
  Passed: 'Passed',
  /** No baseline checkpoint serves the target: nothing to compare against. */
  NoBaseline: 'NoBaseline',
  /** The gate was switched off in the spec (policy Skip, benchmark disabled). */
  GateDisabled: 'GateDisabled',
  /** No holdout dataset in the spec. */
  NoHoldout: 'NoHoldout',
  /** An earlier gate failed, so this one was not run. */
  PreviousGateFailed: 'PreviousGateFailed',
  /** Architecture: signatures compatible. */
  Compatible: 'Compatible',
  IncompatibleSignature: 'IncompatibleSignature',
  ParameterChangeTooLarge: 'ParameterChangeTooLarge',
  /** Holdout. */
  HoldoutBelowThreshold: 'HoldoutBelowThreshold',
  LowSuccessRate: 'LowSuccessRate',
  LatencyTooHigh: 'LatencyTooHigh',
  EmptyDataset: 'EmptyDataset',
  MetricNotFinite: 'MetricNotFinite',
  DatasetInvalid: 'DatasetInvalid',
  /** Holdout: the model output to score is missing, or several fit and none was named. */
  OutputNotFound: 'OutputNotFound',
  AmbiguousOutput: 'AmbiguousOutput',
  /** Holdout: the chosen output is not a tensor (a scikit-learn ZipMap, a sequence of maps). */
  UnsupportedOutput: 'UnsupportedOutput',
  /** Benchmark. */
  BenchmarkBelowThreshold: 'BenchmarkBelowThreshold',
  /** Benchmark: the model failed on the inputs the benchmark made up; supply benchmark.inputs or a holdout. */
  BenchmarkInputsRejected: 'BenchmarkInputsRejected',
  /** Regression. */
  Regression: 'Regression',
  NoRegression: 'NoRegression',
  /** Regression: the holdout is too small to tell whether the change is within the allowed bands. */
  InsufficientEvidence: 'InsufficientEvidence',
  /** Fetch. */
  Fetched: 'Fetched',
  DigestMismatch: 'DigestMismatch',
  FetchFailed: 'FetchFailed',
  ForbiddenDestination: 'ForbiddenDestination',
  ArtifactTooLarge: 'ArtifactTooLarge',
  /** Model safety. */
  InvalidModel: 'InvalidModel',
  ModelTooLarge: 'ModelTooLarge',
  UnsafeExternalData: 'UnsafeExternalData',
  /** Worker. */
  ValidatorCrashed: 'ValidatorCrashed',
  ValidatorMemoryExceeded: 'ValidatorMemoryExceeded',
  ValidationTimeout: 'ValidationTimeout',
  Aborted: 'Aborted',
  /** Validation Jobs (spec.validation.runner: Job). */
  JobRunnerNotConfigured: 'JobRunnerNotConfigured',
  ArtifactNotReachableFromJob: 'ArtifactNotReachableFromJob',
  JobNameTaken: 'JobNameTaken',
  JobDeleted: 'JobDeleted',
  ReportInvalid: 'ReportInvalid',
  /** A fetch or validation job ended with an error that is not a StageError (a bug): terminal. */
  ValidationError: 'ValidationError',
} as const;

export type StageReason = (typeof REASONS)[keyof typeof REASONS];

/**
 * Reasons that mean the user's configuration or input is wrong (a field, a file), not the model:
 * terminal in the operator, exit code 2 in the CLI.
 */
export const INPUT_ERROR_REASONS: ReadonlySet<string> = new Set([
  REASONS.DatasetInvalid,
  REASONS.OutputNotFound,
  REASONS.AmbiguousOutput,
  REASONS.UnsupportedOutput,
  REASONS.BenchmarkInputsRejected,
]);

/** The live guard's reasons (monitor/analysis.ts, monitor/guard.ts). */
export const AnalysisReasons = {
  /** Still inside the analysis window; nothing decisive yet. */
  Running: 'AnalysisRunning',
  /** The window has passed but some metric has no successful measurement yet (or its latest one is not successful). */
  AwaitingSuccessfulMeasurement: 'AwaitingSuccessfulMeasurement',
  /** durationSeconds is 0: the guard never declares the checkpoint healthy. */
  WatchingIndefinitely: 'WatchingIndefinitely',
  /** A measurement's relative degradation fell in the CRITICAL band: roll back at once. */
  CriticalRegression: 'CriticalRegression',
  /** More failed measurements than a metric's failureLimit. */
  FailureLimitExceeded: 'FailureLimitExceeded',
  /** More consecutive error measurements than a metric's errorLimit. */
  ErrorLimitExceeded: 'ErrorLimitExceeded',
  /** More inconclusive measurements than a metric's inconclusiveLimit. */
  InconclusiveLimitExceeded: 'InconclusiveLimitExceeded',
  /** The window passed with every metric measured successfully and nothing decisive against it. */
  AnalysisSucceeded: 'AnalysisSucceeded',
  /** The analysis lists no metrics, so nothing can show the checkpoint is healthy. */
  NoMetrics: 'NoAnalysisMetrics',
  /** spec.analysis has no metrics: Healthy once deployed. */
  NoAnalysis: 'NoAnalysis',
  /** Inside spec.analysis.initialDelaySeconds: nothing measured yet. */
  InitialDelay: 'InitialDelay',
  /** No Prometheus URL in the spec and none given to the operator. */
  NoPrometheus: 'NoPrometheus',
} as const;
export type AnalysisReason = (typeof AnalysisReasons)[keyof typeof AnalysisReasons];

/** Why the rollout judge (controller/rollout.ts) says the new pods are not coming up. */
export const ROLLOUT_REASONS = {
  Unschedulable: 'Unschedulable',
  OOMKilled: 'OOMKilled',
  CrashLoopBackOff: 'CrashLoopBackOff',
  Restarting: 'Restarting',
  NotReady: 'NotReady',
} as const;

/** Why the inference server (server/model.ts) is not ready to serve. */
export const SERVER_REASONS = {
  Stopped: 'Stopped',
  InvalidDigest: 'InvalidDigest',
  ModelUnreadable: 'ModelUnreadable',
  DigestMismatch: 'DigestMismatch',
  InvalidModel: 'InvalidModel',
} as const;
