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
  /** Benchmark. */
  BenchmarkBelowThreshold: 'BenchmarkBelowThreshold',
  /** Regression. */
  Regression: 'Regression',
  NoRegression: 'NoRegression',
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
