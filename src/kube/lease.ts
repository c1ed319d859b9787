// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection: acquire
// when the lease is free or expired, renew every retry period, and give up leadership (the
// operator then exits) when no renewal succeeded within the renew deadline.
import { ApiError, isConflict, isNotFound, paths, type KubeClient } from './client.js';

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

const microTime = (d: Date): string => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export class LeaderElector {
  private leader = false;
  private stopped = false;
  private lastRenew = 0;
  private timer?: NodeJS.Timeout;
  private readonly duration: number;
  private readonly renewDeadline: number;
  private readonly retry: number;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: LeaderElectionOptions,
  ) {
    this.duration = opts.leaseDurationSeconds ?? 15;
    this.renewDeadline = opts.renewDeadlineMs ?? 10_000;
    this.retry = opts.retryPeriodMs ?? 2_000;
  }

  get isLeader(): boolean {
    return this.leader;
  }

  /** Resolves when this replica becomes leader; `onLost` fires once if leadership is lost. */
  async acquire(onLost: (why: string) => void): Promise<void> {
    for (;;) {
      if (this.stopped) throw new Error('leader election stopped');
      if (await this.tryAcquireOrRenew()) break;
      await new Promise((r) => setTimeout(r, this.retry * (0.8 + 0.4 * Math.random())));
    }
    this.leader = true;
    this.lastRenew = Date.now();
    this.opts.log?.('became leader', { lease: `${this.opts.namespace}/${this.opts.name}`, identity: this.opts.identity });
    const renew = async (): Promise<void> => {
      if (this.stopped || !this.leader) return;
      const ok = await this.tryAcquireOrRenew().catch(() => false);
      if (ok) this.lastRenew = Date.now();
      if (!ok && Date.now() - this.lastRenew > this.renewDeadline) {
        this.leader = false;
        onLost(`no lease renewal for ${Date.now() - this.lastRenew} ms (deadline ${this.renewDeadline} ms)`);
        return;
      }
      this.timer = setTimeout(() => void renew(), this.retry);
    };
    this.timer = setTimeout(() => void renew(), this.retry);
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const path = paths.lease(this.opts.namespace, this.opts.name);
    const now = new Date();
    let lease: Lease | undefined;
    try {
      lease = await this.client.get<Lease>(path);
    } catch (err) {
      if (!isNotFound(err)) return false;
    }
    if (!lease) {
      try {
        await this.client.post(paths.leases(this.opts.namespace), {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.opts.name, namespace: this.opts.namespace },
          spec: { holderIdentity: this.opts.identity, leaseDurationSeconds: this.duration, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 },
        });
        return true;
      } catch (err) {
        if (err instanceof ApiError && (err.status === 409 || err.conflict)) return false;
        return false;
      }
    }
    const s = lease.spec;
    const held = s.holderIdentity && s.holderIdentity !== this.opts.identity;
    const renewedAt = s.renewTime ? Date.parse(s.renewTime) : 0;
    const expired = renewedAt + (s.leaseDurationSeconds ?? this.duration) * 1000 < now.getTime();
    if (held && !expired) return false;
    const takingOver = s.holderIdentity !== this.opts.identity;
    const next: Lease = {
      ...lease,
      spec: {
        holderIdentity: this.opts.identity,
        leaseDurationSeconds: this.duration,
        acquireTime: takingOver ? microTime(now) : s.acquireTime,
        renewTime: microTime(now),
        leaseTransitions: (s.leaseTransitions ?? 0) + (takingOver && s.holderIdentity ? 1 : 0),
      },
    };
    try {
      await this.client.put(path, next);
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      return false;
    }
  }

  /** Gives the lease up so another replica takes over at once (graceful shutdown). */
  async release(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.leader) return;
    this.leader = false;
    const path = paths.lease(this.opts.namespace, this.opts.name);
    try {
      const lease = await this.client.get<Lease>(path);
      if (lease.spec.holderIdentity !== this.opts.identity) return;
      await this.client.put(path, { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(new Date()) } });
    } catch {
      // the lease expires by itself
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
