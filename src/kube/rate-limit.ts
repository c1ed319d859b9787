// A token bucket, as client-go's QPS and burst: `burst` requests at once, then `qps` a second.
export class TokenBucket {
  private tokens: number;
  private last: number;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly qps: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(qps > 0) || !(burst >= 1)) throw new Error(`rate limit needs qps > 0 and burst >= 1 (got qps=${qps}, burst=${burst})`);
    this.tokens = burst;
    this.last = now();
  }

  /** Resolves when a token is available; callers are served in order. */
  take(signal?: AbortSignal): Promise<void> {
    const next = this.queue.then(() => this.wait(signal));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.qps);
    this.last = t;
  }

  private async wait(signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      this.refill();
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      const ms = ((1 - this.tokens) / this.qps) * 1000;
      await new Promise((r) => setTimeout(r, Math.max(1, Math.ceil(ms))));
    }
  }
}
