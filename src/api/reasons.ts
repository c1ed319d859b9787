// Every reason the controller writes into a condition, an Event or the history. The validation
// gates' reasons live in src/validation/reasons.ts and the analysis' in src/monitor/analysis.ts;
// all are CamelCase words as the API conventions ask.
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
