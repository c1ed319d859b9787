// Informers under supervision: client-node's ListWatch keeps the cache, and this wrapper
// restarts it with jittered backoff when it stops on an error, re-lists on a period (which also
// ends a watch that went silent), and reports whether it is up for readiness. A watch that goes
// silent without closing is cut sooner by client-node's Watch itself: no byte for 30 s
// (requestTimeoutMs) aborts it, and ListWatch watches again from the last resourceVersion, so
// the events missed meanwhile arrive (test/integration/faults/silent-watch.test.ts).
import { makeInformer, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { KubeClient } from './client.js';

export interface InformerOptions {
  /** Re-list (and re-deliver every object) this often; ends silent watches too. */
  resyncMs?: number;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  onUp?: (up: boolean) => void;
  onError?: (err: unknown, retryInMs: number) => void;
  labelSelector?: string;
}

type Handler<T> = (obj: T) => void;

/** kubectl's client-side apply record: the whole object again, as JSON, in an annotation. */
export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * What the cache keeps of an object: everything but what the operator never reads, which is
 * also the largest part of a small object — metadata.managedFields (one entry per field manager,
 * each a tree of every field it set) and kubectl's last-applied annotation. The metadata (and
 * the annotations, when changed) are rebuilt rather than deleted from, so V8 keeps them as
 * compact objects. Returns `obj` itself, changed in place: a watch event's object is the one
 * client-node's ListWatch has just stored, so this changes the cached copy.
 */
export function withoutUnread<O extends KubernetesObject>(obj: O): O {
  const meta = obj.metadata as (KubernetesObject['metadata'] & { managedFields?: unknown }) | undefined;
  if (!meta || (meta.managedFields === undefined && meta.annotations?.[LAST_APPLIED] === undefined)) return obj;
  const { managedFields: _managed, annotations, ...rest } = meta;
  let kept = annotations;
  if (annotations?.[LAST_APPLIED] !== undefined) {
    const { [LAST_APPLIED]: _applied, ...others } = annotations;
    kept = Object.keys(others).length > 0 ? others : undefined;
  }
  obj.metadata = kept ? { ...rest, annotations: kept } : rest;
  return obj;
}

export class SupervisedInformer<T> {
  private readonly informer: ReturnType<typeof makeInformer<KubernetesObject>>;
  private readonly handlers: { add: Handler<T>[]; update: Handler<T>[]; delete: Handler<T>[]; resync: Handler<T>[] } = { add: [], update: [], delete: [], resync: [] };
  private up = false;
  private stopped = false;
  private failures = 0;
  private restartTimer?: NodeJS.Timeout;
  private erroredSinceStart = false;
  private resyncTimer?: NodeJS.Timeout;

  constructor(
    client: KubeClient,
    readonly resource: string,
    listPath: string,
    private readonly opts: InformerOptions = {},
  ) {
    // The list is ours, so its items are made lean before ListWatch stores them; a watch event's
    // object is stored first and handed to these handlers next (client-node's cache.js,
    // addOrUpdateObject), and the first of them makes the stored object lean.
    const list = async (): Promise<KubernetesListObject<KubernetesObject>> => {
      const got = await client.get<KubernetesListObject<KubernetesObject>>(listPath + (opts.labelSelector ? `?labelSelector=${encodeURIComponent(opts.labelSelector)}` : ''));
      for (const o of got.items ?? []) withoutUnread(o);
      return got;
    };
    this.informer = makeInformer<KubernetesObject>(client.kc, listPath, list, opts.labelSelector);
    // Objects arrive as the apiserver's JSON; T describes that JSON (timestamps are strings).
    this.informer.on('add', (o) => this.handlers.add.forEach((h) => h(withoutUnread(o) as T)));
    this.informer.on('update', (o) => this.handlers.update.forEach((h) => h(withoutUnread(o) as T)));
    this.informer.on('delete', (o) => this.handlers.delete.forEach((h) => h(o as T)));
    // ListWatch.start() resolves even when its list or watch failed (the failure goes to the
    // error callback), so 'up' is only declared after a start that saw no error.
    this.informer.on('error', (err: unknown) => {
      this.erroredSinceStart = true;
      this.restartLater(err);
    });
  }

  on(event: 'add' | 'update' | 'delete' | 'resync', handler: Handler<T>): void {
    this.handlers[event].push(handler);
  }

  get isUp(): boolean {
    return this.up;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.informer.get(name, namespace) as T | undefined;
  }

  list(namespace?: string): readonly T[] {
    return this.informer.list(namespace) as readonly T[];
  }

  /** Lists, starts watching, and resolves once the cache holds the first list. */
  async start(): Promise<void> {
    this.stopped = false;
    try {
      this.erroredSinceStart = false;
      await this.informer.start();
      if (!this.erroredSinceStart) {
        this.failures = 0;
        this.setUp(true);
      }
    } catch (err) {
      this.restartLater(err);
    }
    this.scheduleResync();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    clearTimeout(this.resyncTimer);
    this.setUp(false);
    await this.informer.stop();
  }

  private setUp(up: boolean): void {
    if (this.up === up) return;
    this.up = up;
    this.opts.onUp?.(up);
  }

  private restartLater(err: unknown): void {
    if (this.stopped) return;
    this.setUp(false);
    const base = this.opts.baseBackoffMs ?? 500;
    const max = this.opts.maxBackoffMs ?? 30_000;
    const delay = Math.round(Math.min(max, base * 2 ** this.failures) * (0.5 + Math.random()));
    this.failures++;
    this.opts.onError?.(err, delay);
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => void this.restart(), delay);
    this.restartTimer.unref();
  }

  private async restart(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.informer.stop();
    } catch {
      // already stopped by its error
    }
    try {
      this.erroredSinceStart = false;
      await this.informer.start();
      if (this.erroredSinceStart) return; // the error handler scheduled the next try, with backoff
      this.failures = 0;
      this.setUp(true);
      for (const o of this.informer.list()) this.handlers.resync.forEach((h) => h(o as T));
    } catch (err) {
      this.restartLater(err);
    }
  }

  private scheduleResync(): void {
    const every = this.opts.resyncMs ?? 10 * 60_000;
    clearTimeout(this.resyncTimer);
    this.resyncTimer = setTimeout(() => {
      void this.restart().finally(() => this.scheduleResync());
    }, every);
    this.resyncTimer.unref();
  }
}
