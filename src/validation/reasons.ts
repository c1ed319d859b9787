// Every reason string the validation pipeline writes into a StageResult, a ValidationReport or a
// StageError. Pure: no imports. The controller copies these into conditions and Events.

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
} as const;

export type Reason = (typeof REASONS)[keyof typeof REASONS];

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
