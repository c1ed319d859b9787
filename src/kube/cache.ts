// The informer caches with read-your-own-writes, as controller-runtime's client gives them: a
// write this process made is served until the watch delivers it (by resourceVersion), so a
// reconcile right after our own write never acts on the older object. Checkpoints and
// Deployments record their writes here themselves (checkpoints.ts, deployments.ts); the
// reconciler only reads.
import type { ModelCheckpoint } from '../api/types.js';
import { factsOf, type DeploymentFacts } from './deployments.js';
import type { SupervisedInformer } from './informer.js';

/** How long an own write is served at most when the watch never delivers it (a lost event). */
const OWN_WRITE_TTL_MS = 5_000;
/** How many delivered versions are remembered per Deployment (see OwnWrites.passed). */
const DELIVERED_KEPT = 256;

interface Meta {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

/**
 * This process's writes per key that the watch has not delivered yet. `keepDelivered` > 0 also
 * remembers the versions the watch delivered lately: under a storm of other writers the watch
 * can pass our write by several versions before the write's own response arrives, and a write
 * whose version was delivered is in the cache already (or behind it).
 */
export class OwnWrites<T> {
  private readonly mine = new Map<string, { obj: T; rv: string | undefined; at: number }>();
  private readonly seen = new Map<string, string[]>();

  constructor(private readonly keepDelivered = 0, private readonly now: () => number = Date.now) {}

  /** The watch delivered version `rv` of `key`. */
  delivered(key: string, rv: string | undefined): void {
    if (this.mine.get(key)?.rv === rv) this.mine.delete(key);
    if (this.keepDelivered > 0 && rv) {
      const seen = this.seen.get(key) ?? [];
      seen.push(rv);
      this.seen.set(key, seen.length > this.keepDelivered ? seen.slice(-this.keepDelivered) : seen);
    }
  }

  /** We wrote `obj` (version `rv`); `cachedRv` is the cache's version of it now. */
  wrote(key: string, obj: T, rv: string | undefined, cachedRv: string | undefined): void {
    // The watch may deliver our write before the write's own response arrives: then the cache is
    // already as new, and an older write of ours must not be served in its place.
    if (cachedRv === rv || this.passed(key, rv)) this.mine.delete(key);
    else this.mine.set(key, { obj, rv, at: this.now() });
  }

  /** Our write of `key` when it is newer than the cache (version `cachedRv`), else undefined: read the cache. */
  pending(key: string, cachedRv: string | undefined): T | undefined {
    const m = this.mine.get(key);
    if (m && !this.passed(key, m.rv) && this.now() - m.at < OWN_WRITE_TTL_MS && cachedRv !== m.rv) return m.obj;
    this.mine.delete(key);
    return undefined;
  }

  forget(key: string): void {
    this.mine.delete(key);
    this.seen.delete(key);
  }

  private passed(key: string, rv: string | undefined): boolean {
    return rv !== undefined && (this.seen.get(key)?.includes(rv) ?? false);
  }
}

/** ModelCheckpoints: the informer's, with our own writes on top. */
export class CheckpointCache {
  private readonly own = new OwnWrites<ModelCheckpoint>();

  constructor(private readonly informer: SupervisedInformer<ModelCheckpoint>) {
    for (const ev of ['add', 'update', 'resync'] as const) informer.on(ev, (cp) => this.own.delivered(keyOf(cp), cp.metadata.resourceVersion));
    informer.on('delete', (cp) => this.own.forget(keyOf(cp)));
  }

  /** The informer's copy alone (undefined when absent or not synced). */
  cached(namespace: string, name: string): ModelCheckpoint | undefined {
    return this.informer.get(name, namespace);
  }

  /** Our own newer write, else the synced cache; undefined: ask the apiserver. */
  read(namespace: string, name: string): ModelCheckpoint | undefined {
    const cached = this.informer.isUp ? this.informer.get(name, namespace) : undefined;
    return this.own.pending(`${namespace}/${name}`, cached?.metadata.resourceVersion) ?? cached;
  }

  wrote(cp: ModelCheckpoint): void {
    const key = keyOf(cp);
    this.own.wrote(key, cp, cp.metadata.resourceVersion, this.informer.get(cp.metadata.name as string, cp.metadata.namespace)?.metadata.resourceVersion);
  }
}

/** Deployments as the operator reads them (facts), with our own writes on top. */
export class DeploymentCache {
  private readonly own = new OwnWrites<DeploymentFacts>(DELIVERED_KEPT);

  constructor(private readonly informer: SupervisedInformer<Meta>) {
    for (const ev of ['add', 'update', 'resync'] as const) informer.on(ev, (d) => this.own.delivered(keyOf(d), d.metadata?.resourceVersion));
    informer.on('delete', (d) => this.own.delivered(keyOf(d), d.metadata?.resourceVersion));
  }

  /** Our own newer write, else the synced cache; null: a synced cache does not hold it (absent); undefined: ask the apiserver. */
  read(namespace: string, name: string): DeploymentFacts | null | undefined {
    const d = this.informer.isUp ? this.informer.get(name, namespace) : undefined;
    const mine = this.own.pending(`${namespace}/${name}`, d?.metadata?.resourceVersion);
    if (mine) return mine;
    if (!d) return this.informer.isUp ? null : undefined;
    return factsOf(d);
  }

  wrote(facts: DeploymentFacts): void {
    this.own.wrote(`${facts.namespace}/${facts.name}`, facts, facts.resourceVersion, this.informer.get(facts.name, facts.namespace)?.metadata?.resourceVersion);
  }
}

function keyOf(o: Meta): string {
  return `${o.metadata?.namespace}/${o.metadata?.name}`;
}
