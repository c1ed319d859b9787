// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection: acquire
// when the lease is free or expired, renew every retry period, and give up leadership (the
// operator then exits) when no renewal succeeded within the renew deadline.
//
// The renewals have a request budget of their own, not the client's shared one: a reconcile
// burst that drains the shared limiter must not delay a renewal past the lease. And the deadline
// is a timer, not a check after a request returns: an apiserver connection that hangs (a request
// that never answers) still ends leadership at lastRenew + renewDeadline, before the lease that
// renewal wrote expires (renewDeadline < leaseDuration), so no other replica can lead while this
// one still acts. The in-flight request is aborted then.
import { ApiError, isNotFound, paths, type KubeClient, type RequestOptions } from './client.js';
import { TokenBucket } from './rate-limit.js';

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
  /** Clock (tests); default Date.now. */
  now?: () => number;
}

const microTime = (d: Date): string => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export class LeaderElector {
  private leader = false;
  private stopped = false;
  /** When the last successful renewal was sent (its renewTime): the lease runs from there. */
  private lastRenew = 0;
  private timer?: NodeJS.Timeout;
  private watchdog?: NodeJS.Timeout;
  /** Aborts the lease request in flight when the deadline passes or on stop. */
  private inflight?: AbortController;
  private readonly duration: number;
  private readonly renewDeadline: number;
  private readonly retry: number;
  private readonly now: () => number;
  /** The Lease requests' own budget: a few a second, separate from the reconciles' limiter. */
  private readonly limiter = new TokenBucket(5, 5);

  constructor(
    private readonly client: KubeClient,
    private readonly opts: LeaderElectionOptions,
  ) {
    this.duration = opts.leaseDurationSeconds ?? 15;
    this.renewDeadline = opts.renewDeadlineMs ?? 10_000;
    this.retry = opts.retryPeriodMs ?? 2_000;
    this.now = opts.now ?? Date.now;
    if (this.renewDeadline >= this.duration * 1000) {
      throw new Error(`renew deadline ${this.renewDeadline} ms must be shorter than the lease duration ${this.duration} s, or two leaders could overlap`);
    }
  }

  get isLeader(): boolean {
    return this.leader;
  }

  /** Resolves when this replica becomes leader; `onLost` fires once if leadership is lost. */
  async acquire(onLost: (why: string) => void): Promise<void> {
    for (;;) {
      if (this.stopped) throw new Error('leader election stopped');
      const sent = this.now();
      // An acquire attempt may take up to the renew deadline: a lease won by a request that
      // answered later than that would have less than leaseDuration - renewDeadline left.
      if (await this.attempt(this.renewDeadline)) {
        this.lastRenew = sent;
        break;
      }
      await new Promise((r) => setTimeout(r, this.retry * (0.8 + 0.4 * Math.random())));
    }
    this.leader = true;
    this.opts.log?.('became leader', { lease: `${this.opts.namespace}/${this.opts.name}`, identity: this.opts.identity });
    const lose = (why: string): void => {
      if (!this.leader) return;
      this.leader = false;
      clearTimeout(this.timer);
      clearTimeout(this.watchdog);
      this.inflight?.abort(new Error('renew deadline passed'));
      onLost(why);
    };
    // Fires at lastRenew + renewDeadline unless a renewal moved lastRenew on: even while a
    // renewal request hangs.
    const arm = (): void => {
      clearTimeout(this.watchdog);
      const left = this.lastRenew + this.renewDeadline - this.now();
      this.watchdog = setTimeout(() => {
        if (this.stopped) return;
        if (this.now() - this.lastRenew >= this.renewDeadline) lose(`no lease renewal for ${this.now() - this.lastRenew} ms (deadline ${this.renewDeadline} ms, lease ${this.duration} s)`);
        else arm();
      }, Math.max(0, left));
    };
    arm();
    const renew = async (): Promise<void> => {
      if (this.stopped || !this.leader) return;
      const sent = this.now();
      // No attempt may outlast the deadline: it is cut where leadership would end anyway.
      const ok = await this.attempt(Math.max(1, this.lastRenew + this.renewDeadline - sent)).catch(() => false);
      if (this.stopped || !this.leader) return;
      if (ok) {
        this.lastRenew = sent;
        arm();
      } else if (this.now() - this.lastRenew >= this.renewDeadline) {
        lose(`no lease renewal for ${this.now() - this.lastRenew} ms (deadline ${this.renewDeadline} ms, lease ${this.duration} s)`);
        return;
      }
      this.timer = setTimeout(() => void renew(), this.retry);
    };
    this.timer = setTimeout(() => void renew(), this.retry);
  }

  /** One acquire-or-renew within `timeoutMs`, on the Lease's own request budget. */
  private async attempt(timeoutMs: number): Promise<boolean> {
    const ctl = new AbortController();
    this.inflight = ctl;
    const signal = AbortSignal.any([ctl.signal, AbortSignal.timeout(timeoutMs)]);
    try {
      return await this.tryAcquireOrRenew({ limiter: this.limiter, signal, timeoutMs });
    } catch {
      return false;
    } finally {
      if (this.inflight === ctl) this.inflight = undefined;
    }
  }

  private async tryAcquireOrRenew(req: RequestOptions): Promise<boolean> {
    const path = paths.lease(this.opts.namespace, this.opts.name);
    const now = new Date(this.now());
    let lease: Lease | undefined;
    try {
      lease = await this.client.request<Lease>('GET', path, req);
    } catch (err) {
      if (!isNotFound(err)) return false;
    }
    if (!lease) {
      try {
        await this.client.request('POST', paths.leases(this.opts.namespace), { ...req, body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.opts.name, namespace: this.opts.namespace },
          spec: { holderIdentity: this.opts.identity, leaseDurationSeconds: this.duration, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 },
        } });
        return true;
      } catch (err) {
        // 409: another replica created it first; anything else: try again next period.
        if (err instanceof ApiError) return false;
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
      await this.client.request('PUT', path, { ...req, body: next });
      return true;
    } catch {
      // A conflict (another replica wrote first) or an unreachable apiserver: not renewed.
      return false;
    }
  }

  /** Gives the lease up so another replica takes over at once (graceful shutdown). */
  async release(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.watchdog);
    if (!this.leader) return;
    this.leader = false;
    const path = paths.lease(this.opts.namespace, this.opts.name);
    const req: RequestOptions = { limiter: this.limiter, timeoutMs: 5_000 };
    try {
      const lease = await this.client.request<Lease>('GET', path, req);
      if (lease.spec.holderIdentity !== this.opts.identity) return;
      await this.client.request('PUT', path, { ...req, body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(new Date(this.now())) } } });
    } catch {
      // the lease expires by itself
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.watchdog);
    this.inflight?.abort(new Error('leader election stopped'));
  }
}
