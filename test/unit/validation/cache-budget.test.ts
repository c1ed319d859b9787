// The download cache's eviction choice: oldest last use first, pinned entries never.
import assert from 'node:assert/strict';
import type { ModelCheckpoint, Phase } from '../../../src/api/types.js';
import { digestsToKeep, planEviction, type CacheEntry } from '../../../src/validation/cache-budget.js';

const e = (name: string, sizeBytes: number, lastUsedMs: number): CacheEntry => ({ name, sizeBytes, lastUsedMs });

describe('validation/cache-budget planEviction', () => {
  it('evicts nothing within the budget (the total equal to the budget fits)', () => {
    const plan = planEviction([e('a', 40, 1), e('b', 60, 2)], 100, new Set());
    assert.deepEqual(plan, { evict: [], keptBytes: 100, overBudgetBytes: 0 });
  });

  it('over the budget: evicts the least recently used first, and only as many as needed', () => {
    const entries = [e('new', 30, 300), e('old', 30, 100), e('mid', 30, 200), e('newest', 30, 400)];
    const plan = planEviction(entries, 70, new Set());
    assert.deepEqual(plan.evict, ['old', 'mid']);
    assert.equal(plan.keptBytes, 60);
    assert.equal(plan.overBudgetBytes, 0);
  });

  it('never evicts a pinned entry, however old: the next oldest goes instead', () => {
    const plan = planEviction([e('pinned-oldest', 50, 1), e('b', 50, 2), e('c', 50, 3)], 100, new Set(['pinned-oldest']));
    assert.deepEqual(plan.evict, ['b']);
    assert.equal(plan.keptBytes, 100);
  });

  it('when the pinned entries alone exceed the budget, evicts every unpinned one and reports the excess', () => {
    const plan = planEviction([e('p1', 80, 1), e('p2', 80, 2), e('x', 10, 3)], 100, new Set(['p1', 'p2']));
    assert.deepEqual(plan.evict, ['x']);
    assert.equal(plan.keptBytes, 160);
    assert.equal(plan.overBudgetBytes, 60);
  });

  it('counts bytes it cannot free (partial downloads) against the budget', () => {
    const plan = planEviction([e('a', 50, 1), e('b', 50, 2)], 100, new Set(), 40);
    assert.deepEqual(plan.evict, ['a']);
    assert.equal(plan.keptBytes, 90);
  });

  it('breaks ties in last use by name, so the choice is stable', () => {
    const plan = planEviction([e('b', 10, 5), e('a', 10, 5), e('c', 10, 5)], 15, new Set());
    assert.deepEqual(plan.evict, ['a', 'b']);
  });

  it('property: the plan never names a pinned entry, fits the budget unless pinned bytes exceed it, and keeps every entry newer than the newest evicted unpinned one', () => {
    let seed = 7;
    const r = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 2000; i++) {
      const n = Math.floor(r() * 8);
      const entries = Array.from({ length: n }, (_, k) => e(`f${k}`, 1 + Math.floor(r() * 100), Math.floor(r() * 50)));
      const pinned = new Set(entries.filter(() => r() < 0.3).map((x) => x.name));
      const budget = Math.floor(r() * 400);
      const plan = planEviction(entries, budget, pinned);
      for (const name of plan.evict) assert.ok(!pinned.has(name), `pinned ${name} evicted`);
      const pinnedBytes = entries.filter((x) => pinned.has(x.name)).reduce((s, x) => s + x.sizeBytes, 0);
      const kept = entries.filter((x) => !plan.evict.includes(x.name)).reduce((s, x) => s + x.sizeBytes, 0);
      assert.equal(plan.keptBytes, kept);
      if (pinnedBytes <= budget) assert.ok(kept <= budget, `kept ${kept} over budget ${budget}`);
      const evicted = entries.filter((x) => plan.evict.includes(x.name));
      const newestEvicted = Math.max(...evicted.map((x) => x.lastUsedMs));
      // Everything unpinned and older than the newest evicted entry went too (oldest first).
      for (const x of entries) if (!pinned.has(x.name) && x.lastUsedMs < newestEvicted) assert.ok(plan.evict.includes(x.name), `${x.name} older than an evicted entry was kept`);
    }
  });
});

describe('validation/cache-budget digestsToKeep', () => {
  const d = (c: string): string => `sha256:${c.repeat(64)}`;
  const cp = (name: string, phase: string | undefined, digest: string, deployment?: Record<string, unknown>): ModelCheckpoint => ({
    apiVersion: 'modelgate.io/v1alpha1',
    kind: 'ModelCheckpoint',
    metadata: { name },
    spec: { model: 'm', version: name, artifact: { uri: `file:///${name}`, digest }, target: { deployment: 'd', container: 'c' } },
    ...(phase ? { status: { phase: phase as Phase, ...(deployment ? { deployment } : {}) } } : {}),
  } as ModelCheckpoint);
  const point = (digest: string) => ({ checkpoint: 'x', version: 'x', digest, uri: 'file:///x' });

  it('keeps every rollback point (newest and earlier) and what production runs; nothing else', () => {
    const keep = digestsToKeep([
      cp('v3', 'Monitoring', d('3'), { rollbackPoint: point(d('2')), earlierRollbackPoints: [point(d('1'))] }),
      cp('v2', 'Superseded', d('2')),
      cp('v1', 'Superseded', d('1')),
      cp('v0', 'Superseded', d('0')),
      cp('new', 'Validating', d('4')),
      cp('fresh', undefined, d('5')),
      cp('gone', 'RolledBack', d('6'), { rollbackPoint: point(d('7')) }),
    ]);
    assert.deepEqual([...keep].sort(), [d('1'), d('2'), d('3'), d('7')].sort());
  });
});
