// Which cached downloads to delete when the cache is over its byte budget. Pure: the fetcher
// lists the files and deletes what this returns. Oldest last use first; a pinned entry (in use by
// a running fetch or validation, or the artifact of a rollback point) is never chosen.
import type { ModelCheckpoint, Phase } from '../api/types.js';

const LIVE: ReadonlySet<Phase> = new Set(['Deployed', 'Monitoring', 'Healthy']);

/**
 * The digests the cache must keep: every rollback point a checkpoint records (the newest and the
 * earlier ones), and what runs in production (the next checkpoint's rollback point and baseline).
 */
export function digestsToKeep(checkpoints: Iterable<ModelCheckpoint>): Set<string> {
  const keep = new Set<string>();
  for (const cp of checkpoints) {
    const d = cp.status?.deployment;
    if (d?.rollbackPoint?.digest) keep.add(d.rollbackPoint.digest);
    for (const p of d?.earlierRollbackPoints ?? []) if (p.digest) keep.add(p.digest);
    if (LIVE.has(cp.status?.phase ?? 'Pending')) keep.add(cp.spec.artifact.digest);
  }
  return keep;
}

export interface CacheEntry {
  /** The file's name in the content-addressed folder (the sha256 hex). */
  name: string;
  sizeBytes: number;
  /** When the entry was last written or read from the cache (ms since the epoch). */
  lastUsedMs: number;
}

export interface EvictionPlan {
  /** Names to delete, oldest last use first. */
  evict: string[];
  /** Bytes the cache holds once they are gone. */
  keptBytes: number;
  /** How far over the budget it still is (pinned entries alone exceed it); 0 when within. */
  overBudgetBytes: number;
}

/**
 * The entries to delete so the total fits `budgetBytes`, oldest last use first (ties by name, so
 * the choice is stable), skipping every pinned name. `otherBytes` counts space the plan cannot
 * free (partial downloads in progress).
 */
export function planEviction(entries: readonly CacheEntry[], budgetBytes: number, pinned: ReadonlySet<string>, otherBytes = 0): EvictionPlan {
  let total = otherBytes + entries.reduce((s, e) => s + e.sizeBytes, 0);
  const evict: string[] = [];
  const byAge = [...entries].sort((a, b) => a.lastUsedMs - b.lastUsedMs || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of byAge) {
    if (total <= budgetBytes) break;
    if (pinned.has(e.name)) continue;
    evict.push(e.name);
    total -= e.sizeBytes;
  }
  return { evict, keptBytes: total, overBudgetBytes: Math.max(0, total - budgetBytes) };
}
