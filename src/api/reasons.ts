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
  ContainerNotFound: 'ContainerNotFound',
  AwaitingClaim: 'AwaitingClaim',
  ClaimAcquired: 'ClaimAcquired',
  AutoDeployDisabled: 'AutoDeployDisabled',
  Paused: 'Paused',
  Deploying: 'Deploying',
  Deployed: 'Deployed',
  RolloutProgressing: 'RolloutProgressing',
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
} as const;

export type Reason = (typeof REASON)[keyof typeof REASON];
