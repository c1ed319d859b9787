// The download cache's byte budget on REAL files in a temp folder: the real ArtifactFetcher copies
// from a file:// root, evicts the least recently used artifacts when over budget, keeps pinned
// ones (rollback points), and never deletes a file a REAL validation (onnxruntime workers) reads.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, utimes } from 'node:fs/promises';
import path from 'node:path';
import type { ValidationRequest } from '../../../src/validation/contract.js';
import { ArtifactFetcher, type EvictionResult } from '../../../src/validation/fetch.js';
import { OnnxValidator } from '../../../src/validation/pipeline.js';
import { WorkerPool } from '../../../src/validation/worker-pool.js';
import { classifierModel, tempDir, writeArtifact, type WrittenFile } from '../../harness/models.js';

const signal = (): AbortSignal => new AbortController().signal;
const filler = (seed: number, bytes = 1000): string => `${seed}:`.padEnd(bytes, String.fromCharCode(97 + (seed % 26)));
const hexOf = (f: WrittenFile): string => f.digest.slice('sha256:'.length);

describe('download cache byte budget (real files)', function () {
  this.timeout(60_000);
  let root: string;

  before(async () => {
    root = await tempDir('modelgate-budget-src-');
  });

  /** Sets a cached file's last use `ageS` seconds into the past. */
  async function age(fetcher: ArtifactFetcher, f: WrittenFile, ageS: number): Promise<void> {
    const t = new Date(Date.now() - ageS * 1000);
    await utimes(fetcher.pathFor(f.digest), t, t);
  }

  it('over budget: the least recently used artifact is deleted, and only as many as needed', async () => {
    const cacheDir = await tempDir('modelgate-budget-cache-');
    const evictions: EvictionResult[] = [];
    const fetcher = new ArtifactFetcher({ cacheDir, fileRoots: [root], maxCacheBytes: 2500, onEvict: (r) => evictions.push(r) });
    const [a, b, c] = await Promise.all([1, 2, 3].map((i) => writeArtifact(root, `lru-${i}.bin`, filler(i))));
    await fetcher.fetch(a!, signal());
    await age(fetcher, a!, 300);
    await fetcher.fetch(b!, signal());
    await age(fetcher, b!, 200);
    assert.deepEqual((await readdir(path.join(cacheDir, 'sha256'))).sort(), [hexOf(a!), hexOf(b!)].sort(), 'within budget nothing goes');
    await fetcher.fetch(c!, signal());
    assert.ok(!existsSync(fetcher.pathFor(a!.digest)), 'the oldest artifact was evicted');
    assert.ok(existsSync(fetcher.pathFor(b!.digest)));
    assert.ok(existsSync(fetcher.pathFor(c!.digest)), 'the artifact just fetched stays');
    assert.deepEqual(evictions.map((e) => e.evicted), [[a!.digest]]);
    assert.equal(evictions[0]!.keptBytes, 2000);
  });

  it('a cache hit counts as a use: the artifact read again outlives an older unread one', async () => {
    const cacheDir = await tempDir('modelgate-budget-cache-');
    const fetcher = new ArtifactFetcher({ cacheDir, fileRoots: [root], maxCacheBytes: 2500 });
    const [a, b, c] = await Promise.all([4, 5, 6].map((i) => writeArtifact(root, `hit-${i}.bin`, filler(i))));
    await fetcher.fetch(a!, signal());
    await age(fetcher, a!, 300);
    await fetcher.fetch(b!, signal());
    await age(fetcher, b!, 200);
    await fetcher.fetch(a!, signal()); // hit: a is now the most recently used
    await fetcher.fetch(c!, signal());
    assert.ok(existsSync(fetcher.pathFor(a!.digest)), 'the re-read artifact stays');
    assert.ok(!existsSync(fetcher.pathFor(b!.digest)), 'the unread one goes');
  });

  it('never evicts a digest a rollback point needs (keep), however old: the next oldest goes', async () => {
    const cacheDir = await tempDir('modelgate-budget-cache-');
    const [a, b, c] = await Promise.all([7, 8, 9].map((i) => writeArtifact(root, `keep-${i}.bin`, filler(i))));
    const fetcher = new ArtifactFetcher({ cacheDir, fileRoots: [root], maxCacheBytes: 2500, keep: () => [a!.digest] });
    await fetcher.fetch(a!, signal());
    await age(fetcher, a!, 300);
    await fetcher.fetch(b!, signal());
    await age(fetcher, b!, 200);
    await fetcher.fetch(c!, signal());
    assert.ok(existsSync(fetcher.pathFor(a!.digest)), 'the rollback point\'s artifact stays');
    assert.ok(!existsSync(fetcher.pathFor(b!.digest)), 'the oldest unpinned artifact goes instead');
    assert.ok(existsSync(fetcher.pathFor(c!.digest)));
  });

  it('evicts nothing while the digests rollback points need are unknown (keep answers undefined)', async () => {
    const cacheDir = await tempDir('modelgate-budget-cache-');
    const rollbackPoints: { known?: string[] } = {};
    const fetcher = new ArtifactFetcher({ cacheDir, fileRoots: [root], maxCacheBytes: 1500, keep: () => rollbackPoints.known });
    const [a, b] = await Promise.all([30, 31].map((i) => writeArtifact(root, `unknown-${i}.bin`, filler(i))));
    await fetcher.fetch(a!, signal());
    await age(fetcher, a!, 300);
    await fetcher.fetch(b!, signal());
    assert.ok(existsSync(fetcher.pathFor(a!.digest)) && existsSync(fetcher.pathFor(b!.digest)), 'over budget, but nothing is evicted blind');
    rollbackPoints.known = [];
    const r = await fetcher.enforceBudget();
    assert.deepEqual(r?.evicted, [a!.digest], 'once known, the oldest goes');
  });

  it('a pinned artifact stays until released, then goes first', async () => {
    const cacheDir = await tempDir('modelgate-budget-cache-');
    const fetcher = new ArtifactFetcher({ cacheDir, fileRoots: [root], maxCacheBytes: 2500 });
    const [a, b, c, d] = await Promise.all([10, 11, 12, 13].map((i) => writeArtifact(root, `pin-${i}.bin`, filler(i))));
    const holds: Array<() => void> = [];
    await fetcher.fetch(a!, signal(), { holds });
    assert.equal(holds.length, 1, 'fetch with holds hands the pin to the caller');
    assert.deepEqual(fetcher.pinned(), [a!.digest]);
    await age(fetcher, a!, 300);
    await fetcher.fetch(b!, signal());
    await age(fetcher, b!, 200);
    await fetcher.fetch(c!, signal());
    assert.ok(existsSync(fetcher.pathFor(a!.digest)), 'pinned: kept');
    assert.ok(!existsSync(fetcher.pathFor(b!.digest)));
    for (const release of holds) release();
    assert.deepEqual(fetcher.pinned(), []);
    await fetcher.fetch(d!, signal());
    assert.ok(!existsSync(fetcher.pathFor(a!.digest)), 'released: the oldest goes');
  });

  it('never deletes a file a running validation reads: artifacts fetched mid-validation push the cache over budget, the candidate stays, the validation passes', async () => {
    const cacheDir = await tempDir('modelgate-budget-cache-');
    const pool = new WorkerPool({ size: 1, memoryMiB: 1024 });
    const candidate = await writeArtifact(root, 'candidate.onnx', classifierModel({ features: 8, classes: 3, seed: 1 }));
    const validator = new OnnxValidator({ cacheDir, fileRoots: [root], maxCacheBytes: candidate.sizeBytes + 1500 }, { pool });
    try {
      await validator.start();
      const request: ValidationRequest = {
        key: 'default/budget',
        generation: 1,
        candidate: { uri: candidate.uri, digest: candidate.digest },
        spec: { benchmark: { batchSizes: [1, 8], warmupRuns: 5, runs: 200 } },
      };
      const fetched = await validator.fetch(request.candidate, signal());
      // The candidate is the oldest entry: without its pin it would be the first to go.
      await age(validator.fetcher, candidate, 600);
      let settled = false;
      const running = validator.validate(request, fetched, signal()).finally(() => {
        settled = true;
      });
      const fillers = await Promise.all([20, 21, 22].map((i) => writeArtifact(root, `mid-${i}.bin`, filler(i))));
      for (const f of fillers) await validator.fetcher.fetch(f, signal());
      assert.equal(settled, false, 'the fillers were fetched while the validation ran');
      assert.ok(existsSync(fetched.path), 'the candidate was not deleted mid-validation');
      assert.ok(!existsSync(validator.fetcher.pathFor(fillers[0]!.digest)), 'the cache was over budget: an unpinned artifact went instead');
      const report = await running;
      assert.equal(report.passed, true, report.message);
      assert.deepEqual(validator.fetcher.pinned(), [], 'the validation released its pins');
      // Released: the candidate, still the oldest, is what the next eviction takes.
      await validator.fetcher.fetch(await writeArtifact(root, 'mid-23.bin', filler(23)), signal());
      assert.ok(!existsSync(fetched.path), 'once the validation ended the candidate could go');
    } finally {
      await validator.close();
      await pool.close();
    }
  });
});
