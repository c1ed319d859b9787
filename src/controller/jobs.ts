// Long work (fetch, validation) runs outside the reconcile, keyed by checkpoint uid and
// generation: a reconcile starts it, later reconciles read its outcome. A new generation or a
// deletion aborts the old job, and a result is only ever read for the generation it ran for.

export type JobOutcome<T> = { state: 'running' } | { state: 'succeeded'; value: T } | { state: 'failed'; error: unknown };

interface Entry {
  kind: string;
  generation: number;
  controller: AbortController;
  outcome: JobOutcome<unknown>;
  /** Resolves once the outcome is no longer running. */
  done: Promise<void>;
}

export class JobRegistry {
  private readonly jobs = new Map<string, Entry>();

  constructor(private readonly onDone: (uid: string) => void) {}

  /** The job for this uid, kind and generation, if one ran or runs. */
  get<T>(uid: string, kind: string, generation: number): JobOutcome<T> | undefined {
    const e = this.jobs.get(uid);
    if (!e || e.kind !== kind || e.generation !== generation) return undefined;
    return e.outcome as JobOutcome<T>;
  }

  /** Starts `work` unless the same job already exists; aborts any other job of this uid. */
  start<T>(uid: string, kind: string, generation: number, work: (signal: AbortSignal) => Promise<T>): void {
    const existing = this.jobs.get(uid);
    if (existing && existing.kind === kind && existing.generation === generation) return;
    existing?.controller.abort(new Error('superseded by newer work for this checkpoint'));
    const controller = new AbortController();
    let settle = (): void => undefined;
    const done = new Promise<void>((resolve) => (settle = resolve));
    const entry: Entry = { kind, generation, controller, outcome: { state: 'running' }, done };
    this.jobs.set(uid, entry);
    let running: Promise<T>;
    try {
      running = work(controller.signal);
    } catch (err) {
      running = Promise.reject(err);
    }
    running.then(
      (value) => {
        settle();
        if (this.jobs.get(uid) !== entry) return;
        entry.outcome = { state: 'succeeded', value };
        this.onDone(uid);
      },
      (error: unknown) => {
        settle();
        if (this.jobs.get(uid) !== entry) return;
        entry.outcome = { state: 'failed', error };
        this.onDone(uid);
      },
    );
  }

  /**
   * Waits until this job is done or `withinMs` passed, whichever comes first (at once when there
   * is no such job). Lets a reconcile go on with work that took no time instead of writing a
   * status for it and coming back.
   */
  async settled(uid: string, kind: string, generation: number, withinMs: number): Promise<void> {
    const e = this.jobs.get(uid);
    if (!e || e.kind !== kind || e.generation !== generation || e.outcome.state !== 'running') return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([e.done, new Promise<void>((resolve) => (timer = setTimeout(resolve, withinMs)))]);
    clearTimeout(timer);
  }

  /** Aborts and forgets whatever job this uid has. */
  cancel(uid: string): void {
    const e = this.jobs.get(uid);
    if (!e) return;
    e.controller.abort(new Error('checkpoint deleted or changed'));
    this.jobs.delete(uid);
  }

  /** Forgets a finished job once its outcome is written. */
  clear(uid: string, kind: string, generation: number): void {
    const e = this.jobs.get(uid);
    if (e && e.kind === kind && e.generation === generation && e.outcome.state !== 'running') this.jobs.delete(uid);
  }

  get running(): number {
    let n = 0;
    for (const e of this.jobs.values()) if (e.outcome.state === 'running') n++;
    return n;
  }

  cancelAll(): void {
    for (const uid of [...this.jobs.keys()]) this.cancel(uid);
  }
}
