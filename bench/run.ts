// Runs the benchmarks one after another (each starts and stops what it uses: its own control
// plane, or for decision its own model corpus, which needs python3 with scikit-learn and skl2onnx):
//   npm run bench                 all of them
//   npm run bench -- holdout      one (holdout, throughput, memory, apply-to-patch, apply-to-serving (real node, as root), decision); flags after
//                                 the name go to that benchmark, e.g. npm run bench -- memory --churn-minutes 30
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { benchDir, log } from './lib.js';

const ALL = ['holdout', 'throughput', 'apply-to-patch', 'apply-to-serving', 'memory', 'breach-to-rollback', 'decision'];
const [name, ...rest] = process.argv.slice(2);
const chosen = name && !name.startsWith('-') ? [name] : ALL;
const args = name && !name.startsWith('-') ? rest : process.argv.slice(2);
const unknown = chosen.filter((n) => !ALL.includes(n));
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark ${unknown.join(', ')}: choose one of ${ALL.join(', ')}\n`);
  process.exit(2);
}
const failed: string[] = [];
for (const b of chosen) {
  const t0 = Date.now();
  log(`=== ${b} ===`);
  // The same Node binary and tsx loader this runner uses.
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(benchDir, `${b}.ts`), ...args], { stdio: 'inherit' });
  log(`=== ${b}: ${r.status === 0 ? 'done' : `failed (exit ${r.status ?? r.signal})`} in ${Math.round((Date.now() - t0) / 1000)} s ===`);
  if (r.status !== 0) failed.push(b);
}
if (failed.length > 0) {
  process.stderr.write(`failed: ${failed.join(', ')}\n`);
  process.exit(1);
}
