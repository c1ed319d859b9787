// Benchmark: what a cached checkpoint costs on the JavaScript heap, and whether the heap grows
// under churn. Run with the GC exposed so each reading is after a full collection:
//   npx node --expose-gc --import tsx bench/heap.ts [--objects 500] [--rounds 4] [--snapshot yes]
// RSS is printed too: it also holds memory the allocator keeps after V8 freed it (compare a run
// with MALLOC_ARENA_MAX=2 in the environment).
import { ControlPlane } from '../test/harness/controlplane.js';
import { apply } from '../test/harness/fixtures.js';
import { startTestOperator } from '../test/harness/operator.js';
import { mkdirSync } from 'node:fs';
import { writeHeapSnapshot } from 'node:v8';
import path from 'node:path';
import { flag, numFlag, resultsDir, writeResult } from './lib.js';
import { PrecomputedValidator } from './precomputed-validator.js';

const N = numFlag('objects', 500);
const ROUNDS = numFlag('rounds', 4);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  process.stderr.write('run with --expose-gc: npx node --expose-gc --import tsx bench/heap.ts\n');
  process.exit(2);
}
const sample = (): { rss: number; heapUsed: number } => {
  gc();
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed };
};
const mib = (b: number): string => (b / 1024 / 1024).toFixed(1);
const mk = (i: number): unknown => ({
  apiVersion: 'modelgate.io/v1alpha1',
  kind: 'ModelCheckpoint',
  metadata: { name: `c-${i}` },
  spec: { model: 'm', version: 'v1', artifact: { uri: 'file:///tmp/x.onnx', digest: `sha256:${'a'.repeat(64)}` }, target: { deployment: 'absent', container: 's' } },
});
const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const cp = await new ControlPlane().start();
try {
  const op = await startTestOperator(cp, { validator: new PrecomputedValidator() as never, workers: 8, extraArgs: ['--qps=1000', '--burst=2000'] });
  await cp.kubectl(['create', 'ns', 'heap']);
  const idle = sample();
  // The first 100 alone, then the rest: the heap after the first batch also holds what the
  // operator allocates once (code compiled on first use, caches warmed), which the idle reading
  // does not; the slope from there to N is what one more cached checkpoint costs.
  const WARM = Math.min(100, N);
  await apply(cp, 'heap', ...Array.from({ length: WARM }, (_, i) => mk(i)));
  await settle(10_000);
  const warm = sample();
  for (let b = WARM; b < N; b += 100) await apply(cp, 'heap', ...Array.from({ length: Math.min(100, N - b) }, (_, i) => mk(b + i)));
  await settle(Math.max(10_000, N * 20));
  const loaded = sample();
  // --snapshot yes: a heap snapshot with N cached, to see what holds the heap (DevTools, Memory tab).
  if (flag('snapshot', 'no') === 'yes') {
    mkdirSync(resultsDir, { recursive: true });
    process.stderr.write(`heap snapshot: ${writeHeapSnapshot(path.join(resultsDir, `heap-${N}.heapsnapshot`))}\n`);
  }
  const list = await cp.kubectl(['get', 'mckpt', '-n', 'heap', '-o', 'json']);
  const jsonPerObject = Buffer.byteLength(list.stdout) / N;
  const churn: Array<{ round: number; rss: number; heapUsed: number }> = [];
  for (let round = 0; round < ROUNDS; round++) {
    await apply(cp, 'heap', ...Array.from({ length: 100 }, (_, i) => mk(N + 1000 + i)));
    await settle(5000);
    await cp.kubectl(['delete', 'mckpt', '-n', 'heap', ...Array.from({ length: 100 }, (_, i) => `c-${N + 1000 + i}`), '--wait=false']);
    await settle(5000);
    churn.push({ round, ...sample() });
  }
  await op.stop();
  const perObject = (loaded.heapUsed - idle.heapUsed) / N;
  const ratio = perObject / jsonPerObject;
  const marginal = N > WARM ? (loaded.heapUsed - warm.heapUsed) / (N - WARM) : perObject;
  const marginalRatio = marginal / jsonPerObject;
  const heapSlope = (churn.at(-1)!.heapUsed - churn[0]!.heapUsed) / Math.max(1, churn.length - 1);
  process.stdout.write(`\n### heap (${N} checkpoints in the cache, ${ROUNDS} churn rounds of 100)\n\n| | heap used MiB | RSS MiB |\n| --- | --- | --- |\n| idle | ${mib(idle.heapUsed)} | ${mib(idle.rss)} |\n| ${WARM} cached | ${mib(warm.heapUsed)} | ${mib(warm.rss)} |\n| ${N} cached | ${mib(loaded.heapUsed)} | ${mib(loaded.rss)} |\n${churn.map((c) => `| churn ${c.round} | ${mib(c.heapUsed)} | ${mib(c.rss)} |`).join('\n')}\n\nheap per cached checkpoint ${(perObject / 1024).toFixed(1)} KiB vs ${(jsonPerObject / 1024).toFixed(1)} KiB of JSON: **${ratio.toFixed(2)}×** (target ≤ 2×); from ${WARM} to ${N} cached (one more checkpoint) ${(marginal / 1024).toFixed(1)} KiB: **${marginalRatio.toFixed(2)}×**; heap change per churn round ${mib(heapSlope)} MiB\n`);
  writeResult('heap', { objects: N, idle, warm, loaded, jsonPerObject, perObject, ratio, marginal, marginalRatio, churn });
} finally {
  await cp.stop();
}
