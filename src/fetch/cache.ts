// The content-addressed download cache (<cacheDir>/sha256/<hex>): partial files and their
// sweeping, pins that keep a file in use from eviction, and the byte budget (least recently used
// first, never a pinned file or one a rollback point needs).
import { mkdir, readdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { planEviction, type CacheEntry } from '../validation/cache-budget.js';
import { StageError } from '../validation/contract.js';
import { REASONS } from '../api/reasons.js';
import type { EvictionResult } from './types.js';

export const DIGEST_RE = /^sha256:([0-9a-f]{64})$/;
export const PARTIAL_PREFIX = '.partial-';

export class ArtifactCache {
  readonly dir: string;
  /** Partial files being written now (sweepPartials leaves them alone), by key. */
  readonly active = new Map<string, string | undefined>();
  /** Cached files in use (by hex), with how many holders; eviction never deletes them. */
  private readonly pins = new Map<string, number>();
  /** Deletions under way, by hex: a fetch of the same digest waits for it before looking. */
  readonly deleting = new Map<string, Promise<void>>();
  /** One eviction at a time; a request while one runs makes it run once more. */
  private evicting?: Promise<EvictionResult | undefined>;
  private evictAgain = false;

  constructor(
    cacheDir: string,
    private readonly maxCacheBytes: number | undefined,
    private readonly keep: () => Iterable<string> | undefined,
    private readonly onEvict?: (result: EvictionResult) => void,
  ) {
    this.dir = path.join(path.resolve(cacheDir), 'sha256');
  }

  hexOf(digest: string, label: string): string {
    const m = DIGEST_RE.exec(digest);
    if (!m) {
      throw new StageError(
        REASONS.FetchFailed,
        `The ${label} digest '${digest.slice(0, 80)}' is not 'sha256:' followed by 64 lowercase hex digits; fix the digest field.`,
        true,
      );
    }
    return m[1]!;
  }

  /** Remove temp files left by an earlier run (call at start-up). Returns how many were removed. */
  async sweepPartials(): Promise<number> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const live = new Set(this.active.keys());
    let removed = 0;
    for (const name of await readdir(this.dir)) {
      if (!name.startsWith(PARTIAL_PREFIX)) continue;
      const full = path.join(this.dir, name);
      if (live.has(full)) continue;
      await unlink(full).catch(() => undefined);
      removed++;
    }
    return removed;
  }

  /** Remove the partial files being written under a key (finalizer); in-flight fetches also clean up on abort. */
  async cleanup(key: string): Promise<void> {
    for (const [file, k] of this.active) {
      if (k === key) await unlink(file).catch(() => undefined);
    }
  }

  /**
   * Keep the cached file of `digest` from eviction until the returned release is called (once;
   * later calls do nothing). Pins count: the file stays while any holder has it.
   */
  pin(digest: string): () => void {
    // A malformed digest names no cached file; it is pinned as given (fetch refuses it anyway).
    const hex = DIGEST_RE.exec(digest)?.[1] ?? digest;
    this.pins.set(hex, (this.pins.get(hex) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.pins.get(hex) ?? 1) - 1;
      if (n <= 0) this.pins.delete(hex);
      else this.pins.set(hex, n);
    };
  }

  /** Digests pinned now (tests, diagnostics). */
  pinned(): string[] {
    return [...this.pins.keys()].map((h) => `sha256:${h}`);
  }

  /**
   * Delete least recently used artifacts until the cache fits maxCacheBytes; pinned ones and
   * those `keep` names stay. Resolves with what was deleted (undefined without a budget).
   */
  enforceBudget(): Promise<EvictionResult | undefined> {
    if (this.maxCacheBytes === undefined) return Promise.resolve(undefined);
    if (this.evicting) {
      this.evictAgain = true;
      return this.evicting;
    }
    const run = async (): Promise<EvictionResult | undefined> => {
      let result: EvictionResult | undefined;
      do {
        this.evictAgain = false;
        result = await this.evictOnce(this.maxCacheBytes as number);
      } while (this.evictAgain);
      return result;
    };
    this.evicting = run().finally(() => {
      this.evicting = undefined;
    });
    return this.evicting;
  }

  private async evictOnce(budget: number): Promise<EvictionResult> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const entries: CacheEntry[] = [];
    let otherBytes = 0;
    for (const name of await readdir(this.dir)) {
      const st = await stat(path.join(this.dir, name)).catch(() => undefined);
      if (!st?.isFile()) continue;
      if (/^[0-9a-f]{64}$/.test(name)) entries.push({ name, sizeBytes: st.size, lastUsedMs: st.mtimeMs });
      else otherBytes += st.size;
    }
    const needed = this.keep();
    const total = otherBytes + entries.reduce((s, x) => s + x.sizeBytes, 0);
    // What rollback points need is not known: keep everything rather than guess.
    if (needed === undefined) return { evicted: [], keptBytes: total, overBudgetBytes: Math.max(0, total - budget) };
    const keep = new Set<string>();
    for (const d of needed) {
      const m = DIGEST_RE.exec(d);
      if (m) keep.add(m[1]!);
    }
    const pinnedNow = new Set([...keep, ...this.pins.keys()]);
    const plan = planEviction(entries, budget, pinnedNow, otherBytes);
    const evicted: string[] = [];
    let freed = 0;
    for (const hex of plan.evict) {
      // Checked again right before the delete, in the same tick as it starts: a fetch or a
      // validation may have pinned the file while the folder was being listed.
      if (this.pins.has(hex)) continue;
      const file = path.join(this.dir, hex);
      const done = unlink(file).then(
        () => {
          evicted.push(`sha256:${hex}`);
          freed += entries.find((x) => x.name === hex)?.sizeBytes ?? 0;
        },
        () => undefined,
      ).finally(() => this.deleting.delete(hex));
      this.deleting.set(hex, done);
      await done;
    }
    const keptBytes = otherBytes + entries.reduce((s, x) => s + x.sizeBytes, 0) - freed;
    const result = { evicted, keptBytes, overBudgetBytes: Math.max(0, keptBytes - budget) };
    if (evicted.length > 0 || result.overBudgetBytes > 0) this.onEvict?.(result);
    return result;
  }
}
