// One reconcile's folded status writes (phases.ts `foldable`): while a folded step runs, its
// status write is kept in memory and what must follow that write (Events, the observer, log
// lines, forgetting a finished job) waits beside it. The next status write the reconcile really
// makes carries the folded phases with it (it is computed from the in-memory status), and once
// it is on the apiserver the waiting actions run, in the order the steps queued them. A write
// that fails (a 409) drops them: the retry reads the apiserver's object and decides again.
// Writes of other objects the status names (the report ConfigMap) are made before it.
import type { ModelCheckpoint, ModelCheckpointStatus } from '../api/types.js';

export class FoldedWrites {
  /** `uid`: the checkpoint whose reconcile this is. */
  constructor(readonly uid: string) {}

  /** True while a folded step runs: its status writes stay in memory. */
  deferring = false;
  private status?: ModelCheckpointStatus;
  private readonly after: Array<() => void | Promise<void>> = [];
  private readonly first: Array<Promise<unknown>> = [];

  /** Keeps a status write in memory; the checkpoint as the following steps see it. */
  defer(cp: ModelCheckpoint, status: ModelCheckpointStatus): ModelCheckpoint {
    this.status = status;
    return { ...cp, status };
  }

  /** A status written in memory and not yet on the apiserver. */
  get pending(): ModelCheckpointStatus | undefined {
    return this.status;
  }

  /** `cp` with the status the folded steps left (unchanged when none did). */
  current(cp: ModelCheckpoint): ModelCheckpoint {
    return this.status ? { ...cp, status: this.status } : cp;
  }

  /** Queues `fn` until the status is written (the caller runs it at once when not deferring). */
  queue(fn: () => void | Promise<void>): void {
    this.after.push(fn);
  }

  /**
   * A write the folded status must not reach the apiserver before (the report ConfigMap it
   * names): it runs meanwhile, beside what the next step writes elsewhere (the claim).
   */
  before(write: Promise<unknown>): void {
    write.catch(() => undefined); // handled here; its error is thrown by ready()
    this.first.push(write);
  }

  /** Resolves once every write queued with before() is done; throws the first one's error. */
  async ready(): Promise<void> {
    await Promise.all(this.first.splice(0));
  }

  /** A status write reached the apiserver: the folded one is in it; run what waited for it. */
  async landed(): Promise<void> {
    this.status = undefined;
    for (const fn of this.after.splice(0)) await fn();
  }
}
