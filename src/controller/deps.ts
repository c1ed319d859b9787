// What the reconciler is handed: the kube objects it reads and writes through, the validator,
// the live guard, the audit trail, the observer of its numbers. Types only: the operator
// (src/operator/) builds them and controller.ts passes them in.
import type { AnalysisTemplate, AnalysisTemplateRef, ModelCheckpoint, Phase, ValidationJobOverrides, ValidationRunner } from '../api/types.js';
import type { CheckpointCache, DeploymentCache } from '../kube/cache.js';
import type { Checkpoints } from '../kube/checkpoints.js';
import type { Deployments } from '../kube/deployments.js';
import type { EventRecorder } from '../kube/events.js';
import type { Analyzer } from '../monitor/guard.js';
import type { CheckpointValidator, ValidationReport, ValidationRequest } from '../validation/contract.js';
import type { CheckpointRef } from '../validation/job-spec.js';
import type { JobRegistry } from './jobs.js';
import type { RetryPolicy } from './phases.js';

export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  debug(msg: string, fields?: Record<string, unknown>): void;
}

/** Reads analysis templates (the cache when synced); undefined when the template does not exist. */
export interface TemplateReader {
  read(ref: AnalysisTemplateRef, namespace: string): Promise<AnalysisTemplate | undefined>;
}

/** Numbers the reconciler reports; the operator wires them to prom-client. */
export interface ReconcileObserver {
  /** After the status with the new phase was written; `cp` carries that status. */
  transition?(from: Phase | undefined, to: Phase, cp?: ModelCheckpoint, reason?: string, message?: string): void;
  deployed?(): void;
  /** A reconcile met a 409 Conflict and is retried at once with a fresh read. */
  conflict?(): void;
  rolledBack?(reason: string): void;
  gate?(stage: string, verdict: string, durationMs?: number): void;
}

/** Audit trail per target (what, when, why, the numbers at the time). */
export interface AuditLog {
  record(namespace: string, deployment: string, entry: Record<string, unknown>): Promise<void>;
}

export interface ReconcilerDeps {
  checkpoints: Checkpoints;
  deployments: Deployments;
  events: EventRecorder;
  validator: CheckpointValidator;
  jobs: JobRegistry;
  /**
   * The informer caches with this operator's own writes on top (src/kube/cache.ts; the
   * Checkpoints and Deployments above record their writes there themselves). `cached` is the
   * informer's copy alone, to judge claim liveness and find production checkpoints; `read` is our
   * own newer write, else the synced cache, undefined meaning "ask the apiserver". A Deployment
   * read is null when the synced cache holds no such Deployment. Writes that depend on a read
   * carry its resourceVersion, so a stale read costs one 409 and a fresh retry, never a wrong write.
   */
  checkpointCache: Pick<CheckpointCache, 'cached' | 'read'>;
  deploymentCache: Pick<DeploymentCache, 'read'>;
  analyzer?: Analyzer;
  /** The analysis templates checkpoints reference. */
  templates: TemplateReader;
  audit?: AuditLog;
  log: Logger;
  observer?: ReconcileObserver;
  now?: () => Date;
  /** How many deployed checkpoints the rollback history keeps. */
  rollbackHistory?: number;
  /** How transient failures of fetch and validation are retried (default DEFAULT_RETRY). */
  retryPolicy?: RetryPolicy;
  /** Validation Jobs (spec.validation.runner: Job); without it every checkpoint validates in process. */
  validationJobs?: ValidationJobRunner;
  /** The runner of a checkpoint whose spec.validation.runner is unset (default InProcess). */
  defaultRunner?: ValidationRunner;
  /** How long a folded step waits for the fetch or validation it started (default Reconciler.FOLD_WAIT_MS). */
  foldWaitMs?: number;
  /** Test hook for the crash-between-patch-and-status fault test: called right after the Deployment patch. */
  afterDeploymentPatch?: () => void;
}

/** Runs one checkpoint generation's validation as a Kubernetes Job (src/kube/jobs.ts). */
export interface ValidationJobRunner {
  run(cp: CheckpointRef, request: ValidationRequest, overrides: ValidationJobOverrides | undefined, signal: AbortSignal): Promise<ValidationReport>;
  /** Deletes the checkpoint's Jobs of other generations (a spec change made them moot). */
  supersede?(namespace: string, uid: string, generation: number): Promise<void>;
  /** The Job watch, started and stopped with the controller's informers. */
  start?(): Promise<void>;
  stop?(): Promise<void>;
  readonly synced?: boolean;
}
