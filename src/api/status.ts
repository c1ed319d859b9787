// The parts of a ModelCheckpoint's status: the phase, conditions, stage results, the deployment
// record and rollback points, the rollout, history and retries. types.ts assembles them into
// ModelCheckpointStatus. Pure: types and constants only.
import type { Severity, StoreAccess } from './spec.js';

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
