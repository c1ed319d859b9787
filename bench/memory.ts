// Benchmark: the operator's memory. RSS (VmRSS from /proc) of the operator as a separate process
// with N checkpoints in its informer cache, per object, against the bytes of JSON per object in
// the LIST response; then RSS over a churn period (checkpoints created and deleted continuously)
// and its slope. The checkpoints target an absent Deployment, so each stalls after its
// finalizer and first status writes and the operator does little else.
//
//   npx tsx bench/memory.ts [--objects 10000] [--churn-minutes 2] [--settle-minutes 4]
//                           [--churn-batch 100] [--qps 1000] [--burst 2000] [--workers 16]
import { readFileSync } from 'node:fs';
import type { ModelCheckpoint } from '../src/api/types.js';
import { KubeClient, paths } from '../src/kube/client.js';
import type { ControlPlane } from '../test/harness/controlplane.js';
import { checkpoint } from '../test/harness/fixtures.js';
import { sha256Digest } from '../test/harness/models.js';
import { startOperatorProcess } from '../test/harness/operator.js';
import { applyMany, log, median, numFlag, round, slope, sleep, table, withControlPlane, writeResult } from './lib.js';

const N = numFlag('objects', 10_000);
const churnMinutes = numFlag('churn-minutes', 2);
const settleMinutes = numFlag('settle-minutes', 4);
const churnBatch = numFlag('churn-batch', 100);
const qps = numFlag('qps', 1000);
const burst = numFlag('burst', 2000);
const workers = numFlag('workers', 16);
// V8 grows its heap lazily and rarely gives pages back, so RSS without a cap mostly measures
// how much garbage the GC let pile up; --heap-mib caps the old space as a pod limit would.
const heapMiB = numFlag('heap-mib', 0);
const MiB = 1024 * 1024;

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

async function sampleRss(pid: number, seconds: number, everyMs = 1000): Promise<number> {
  const xs: number[] = [];
  for (const end = Date.now() + seconds * 1000; Date.now() < end; ) {
    xs.push(rssBytes(pid));
    await sleep(everyMs);
  }
  return median(xs);
}

const cps = (prefix: string, n: number, from = 0): ModelCheckpoint[] =>
  Array.from({ length: n }, (_, i) => checkpoint(`${prefix}${from + i}`, { path: '/m.onnx', uri: `file:///models/${prefix}${from + i}.onnx`, digest: sha256Digest(`${prefix}${from + i}`), sizeBytes: 1024 }, { deployment: 'absent' }));

interface CpList { items: ModelCheckpoint[] }

async function main(): Promise<void> {
  const result = await withControlPlane(async (cp: ControlPlane) => {
    for (const ns of ['bench-mem', 'bench-churn']) await cp.kubectl(['create', 'namespace', ns]);
    const op = startOperatorProcess(cp, {
      workers,
      logLevel: 'info',
      extraArgs: [`--qps=${qps}`, `--burst=${burst}`],
      env: heapMiB > 0 ? { NODE_OPTIONS: `--max-old-space-size=${heapMiB}` } : undefined,
    });
    const pid = op.proc.child.pid!;
    const client = new KubeClient(cp.kubeConfig(), { qps: 1000, burst: 1000 });
    try {
      const logText = (): string => { try { return readFileSync(op.logPath, 'utf8'); } catch { return ''; } };
      for (const t = Date.now(); !logText().includes('controller started'); ) {
        if (Date.now() - t > 60_000) throw new Error(`operator did not start: see ${op.logPath}`);
        if (op.proc.child.exitCode !== null) throw new Error(`operator exited: see ${op.logPath}`);
        await sleep(200);
      }
      await sleep(5000);
      const rss0 = await sampleRss(pid, 10);
      log(`operator up, no checkpoints: RSS ${round(rss0 / MiB)} MiB; creating ${N} checkpoints`);
      const tCreate = Date.now();
      await applyMany(cp, 'bench-mem', cps('m', N), 500, 2);
      log(`created ${N} in ${round((Date.now() - tCreate) / 1000)} s; waiting for them to stall on the absent target`);
      let settled = 0;
      for (const t = Date.now(); Date.now() - t < settleMinutes * 60_000; ) {
        const list = await client.get<CpList>(paths.checkpoints('bench-mem'));
        settled = list.items.filter((c) => c.status?.conditions?.some((x) => x.type === 'Stalled' && x.status === 'True')).length;
        if (settled >= N) break;
        log(`stalled ${settled}/${N}; RSS ${round(rssBytes(pid) / MiB)} MiB`);
        await sleep(10_000);
      }
      await sleep(5000);
      const rssN = await sampleRss(pid, 20);
      const raw = await cp.kubectl(['get', '--raw', paths.checkpoints('bench-mem')]);
      if (raw.code !== 0) throw new Error(raw.stderr);
      const listBytes = Buffer.byteLength(raw.stdout);
      const count = (JSON.parse(raw.stdout) as CpList).items.length;
      const perObjectRss = (rssN - rss0) / count;
      const perObjectJson = listBytes / count;
      log(`with ${count} checkpoints (${settled} stalled): RSS ${round(rssN / MiB)} MiB, ${round(perObjectRss)} B/object vs ${round(perObjectJson)} B of JSON/object`);

      // Churn: create a batch, delete it, again, while sampling RSS.
      log(`churn for ${churnMinutes} min (batches of ${churnBatch})`);
      const samples: Array<{ minute: number; rss: number }> = [];
      const t0 = Date.now();
      let stop = false;
      let cycles = 0;
      const sampler = (async () => {
        while (!stop) {
          samples.push({ minute: (Date.now() - t0) / 60_000, rss: rssBytes(pid) });
          await sleep(5000);
        }
      })();
      let serial = 0;
      while (Date.now() - t0 < churnMinutes * 60_000) {
        await applyMany(cp, 'bench-churn', cps('c', churnBatch, serial), churnBatch, 1);
        serial += churnBatch;
        await sleep(3000);
        const del = await cp.kubectl(['delete', 'modelcheckpoints', '--all', '-n', 'bench-churn', '--wait=false']);
        if (del.code !== 0) throw new Error(del.stderr);
        await sleep(3000);
        cycles++;
      }
      stop = true;
      await sampler;
      const xs = samples.map((s) => s.minute);
      const ys = samples.map((s) => s.rss / MiB);
      const slopeMiBPerMin = slope(xs, ys);
      const q = Math.max(1, Math.floor(samples.length / 4));
      const firstQ = median(ys.slice(0, q));
      const lastQ = median(ys.slice(-q));
      const meanRss = ys.reduce((a, b) => a + b, 0) / ys.length;
      const projected30 = slopeMiBPerMin * 30;
      const left = (await client.get<CpList>(paths.checkpoints('bench-churn'))).items.length;
      return {
        objects: count, settled, rss0, rssN, listBytes, perObjectRss, perObjectJson,
        churn: { minutes: churnMinutes, cycles, created: serial, leftOver: left, samples: samples.map((s) => ({ minute: round(s.minute, 3), rssMiB: round(s.rss / MiB, 4) })), slopeMiBPerMin, firstQuarterMiB: firstQ, lastQuarterMiB: lastQ, meanMiB: meanRss, projected30MinMiB: projected30, flat: Math.abs(projected30) < 0.05 * meanRss },
      };
    } finally {
      await op.stop();
    }
  });
  const ratio = result.perObjectRss / result.perObjectJson;
  const c = result.churn;
  const file = writeResult('memory', {
    config: { objects: N, churnMinutes, churnBatch, qps, burst, workers },
    targets: { rssPerObjectOverJsonPerObject: '<= 3', churn: 'flat RSS over 30 minutes (projected growth < 5% of RSS)' },
    rssBaselineMiB: round(result.rss0 / MiB, 4),
    rssWithObjectsMiB: round(result.rssN / MiB, 4),
    objects: result.objects,
    stalled: result.settled,
    listBytes: result.listBytes,
    rssBytesPerObject: round(result.perObjectRss, 4),
    jsonBytesPerObject: round(result.perObjectJson, 4),
    ratio: round(ratio, 3),
    met: ratio <= 3,
    churn: { ...c, slopeMiBPerMin: round(c.slopeMiBPerMin, 3), firstQuarterMiB: round(c.firstQuarterMiB, 4), lastQuarterMiB: round(c.lastQuarterMiB, 4), meanMiB: round(c.meanMiB, 4), projected30MinMiB: round(c.projected30MinMiB, 3) },
  });
  process.stdout.write(`\n### memory (${result.objects} checkpoints in the cache, operator as a process)\n\n${table(
    ['RSS before MiB', 'RSS with objects MiB', 'RSS bytes/object', 'LIST JSON bytes/object', 'ratio'],
    [[round(result.rss0 / MiB), round(result.rssN / MiB), round(result.perObjectRss), round(result.perObjectJson), `**${round(ratio)}**`]],
  )}\n\nratio target <= 3: ${ratio <= 3 ? 'met' : 'missed'}\n\n${table(
    ['churn minutes', 'cycles', 'checkpoints created+deleted', 'RSS first quarter MiB', 'RSS last quarter MiB', 'slope MiB/min', 'projected 30 min MiB', 'flat'],
    [[churnMinutes, c.cycles, c.created, round(c.firstQuarterMiB), round(c.lastQuarterMiB), round(c.slopeMiBPerMin), round(c.projected30MinMiB), c.flat ? 'yes' : 'no']],
  )}\n\nresults: ${file}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
