// Carries out a plan (plan.ts): the audit entry, the status write (kept in memory while a folded
// step runs, fold.ts), the fetch job; then, once the status is on the apiserver, the observer,
// the Events, the log lines, the jobs forgotten, the claim released, the files removed. The one
// place a reconcile writes status and Events.
import { API_VERSION, KIND, type ModelCheckpoint, type ModelCheckpointStatus } from '../api/types.js';
import { claimUid, claimValue, type DeploymentFacts } from '../kube/facts.js';
import type { ReconcilerDeps } from './deps.js';
import { FoldedWrites } from './fold.js';
import type { Plan, PlannedEvent } from './plan.js';
import type { ReconcileResult } from './queue.js';

export const keyOf = (cp: ModelCheckpoint): string => `${cp.metadata.namespace}/${cp.metadata.name}`;

export class Applier {
  /** The folded status writes of the reconcile running for each key (the queue runs a key once at a time). */
  readonly folds = new Map<string, FoldedWrites>();

  constructor(
    private readonly d: ReconcilerDeps,
    /** Starts the fetch job (reconciler.ts owns what it runs). */
    private readonly startFetch: (cp: ModelCheckpoint) => void,
  ) {}

  async apply(cp: ModelCheckpoint, plan: Plan): Promise<ReconcileResult> {
    if (plan.audit) await this.record(cp, plan.audit.deployment, plan.audit.entry);
    const written = plan.status ? await this.writeStatus(cp, plan.status) : cp;
    if (plan.startFetch) this.startFetch(cp);
    const status = plan.status;
    await this.onceWritten(cp, () => this.after(cp, status ? { ...written, status } : written, plan));
    return plan.result;
  }

  /** What follows a plan's status write, in plan.ts's order. */
  private async after(cp: ModelCheckpoint, written: ModelCheckpoint, plan: Plan): Promise<void> {
    const { change } = plan;
    if (change) this.d.observer?.transition?.(change.from, change.to, written, change.reason, change.message);
    for (const e of plan.events) this.event(cp, e);
    if (change) this.d.log.info(`phase ${change.from ?? 'none'} -> ${change.to}`, { namespace: cp.metadata.namespace, name: cp.metadata.name, phase: change.to, reason: change.reason, message: change.message });
    if (plan.warn) this.d.log.warn(plan.warn.msg, plan.warn.fields);
    for (const kind of plan.clearJobs) this.d.jobs.clear(cp.metadata.uid as string, kind, cp.metadata.generation ?? 1);
    if (plan.releaseClaim) await this.releaseClaim(cp);
    if (plan.cleanup) await this.d.validator.cleanup(keyOf(cp)).catch(() => undefined);
  }

  /** Writes status; while a folded step runs, only in memory (fold.ts). */
  async writeStatus(cp: ModelCheckpoint, status: ModelCheckpointStatus): Promise<ModelCheckpoint> {
    const fold = this.folds.get(keyOf(cp));
    if (fold?.deferring) return fold.defer(cp, status);
    await fold?.ready();
    const written = await this.d.checkpoints.writeStatus(cp, status);
    // This write carries the folded phases (it was computed from their status): their Events now.
    await fold?.landed();
    return written;
  }

  /** A write the status must not reach the apiserver before (the report ConfigMap it names). */
  async before(cp: ModelCheckpoint, write: Promise<unknown>): Promise<void> {
    const fold = this.folds.get(keyOf(cp));
    if (fold?.deferring) fold.before(write);
    else await write;
  }

  /** Runs `fn` once the status just written is on the apiserver: now, or when a folded write lands. */
  async onceWritten(cp: ModelCheckpoint, fn: () => void | Promise<void>): Promise<void> {
    const fold = this.folds.get(keyOf(cp));
    if (fold?.deferring) fold.queue(fn);
    else await fn();
  }

  /** An entry in the target's audit trail; a failure to record it is logged, not thrown. */
  async record(cp: ModelCheckpoint, deployment: string, entry: Record<string, unknown>): Promise<void> {
    await this.d.audit?.record(cp.metadata.namespace as string, deployment, entry).catch((err: unknown) => this.d.log.warn('audit record failed', { error: String(err) }));
  }

  /** Drops this checkpoint's claim if it still holds it (a compare-and-set on the annotation alone). */
  async releaseClaim(cp: ModelCheckpoint, known?: DeploymentFacts): Promise<void> {
    if (known && claimUid(known) !== cp.metadata.uid) return;
    await this.d.deployments.releaseClaim(cp.metadata.namespace as string, cp.spec.target.deployment, claimValue(cp.metadata.name as string, cp.metadata.uid as string));
  }

  event(cp: ModelCheckpoint, e: PlannedEvent): void {
    this.d.events.emit({ apiVersion: API_VERSION, kind: KIND, namespace: cp.metadata.namespace as string, name: cp.metadata.name as string, uid: cp.metadata.uid }, e.type, e.reason, e.action, e.note);
  }
}
