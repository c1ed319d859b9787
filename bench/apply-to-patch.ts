// Benchmark: apply-to-patch latency. A pre-validated checkpoint (PrecomputedValidator) applied
// with kubectl, until the Deployment carries its digest, against a bare `kubectl patch` of the
// same fields of the same Deployment; both seen by one watcher (a watch on the Deployment).
//
//   npx tsx bench/apply-to-patch.ts [--runs 15] [--workers 4]
import { Watch } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { ANNOTATIONS } from '../src/api/types.js';
import type { ControlPlane } from '../test/harness/controlplane.js';
import { checkpoint, inferenceDeployment } from '../test/harness/fixtures.js';
import { startTestOperator, type TestOperator } from '../test/harness/operator.js';
import { containerEnv, log, numFlag, reportComparison, round, sleep, withControlPlane } from './lib.js';
import { PrecomputedValidator } from './precomputed-validator.js';
import { traceRequests } from './kube-count.js';

const runs = Math.max(15, numFlag('runs', 15));
const workers = numFlag('workers', 4);
const ns = 'bench-a2p';
const DEPLOYMENT = 'ranker';

/** One watch on the Deployment; resolves waiters when the container's MODEL_DIGEST takes a value. */
class DigestWatcher {
  private waiters = new Map<string, (t: number) => void>();
  private seen = new Map<string, number>();
  private abort?: AbortController;
  latest?: unknown;

  async start(cp: ControlPlane): Promise<void> {
    const w = new Watch(cp.kubeConfig());
    this.abort = await w.watch(`/apis/apps/v1/namespaces/${ns}/deployments`, { fieldSelector: `metadata.name=${DEPLOYMENT}` }, (_type, obj) => {
      const t = performance.now();
      this.latest = obj;
      const digest = containerEnv(obj, 'server', 'MODEL_DIGEST');
      if (!digest || this.seen.has(digest)) return;
      this.seen.set(digest, t);
      this.waiters.get(digest)?.(t);
    }, (err) => {
      if (err && !this.abort?.signal.aborted) log(`watch ended: ${String(err)}`);
    });
  }

  wait(digest: string, timeoutMs = 120_000): Promise<number> {
    const at = this.seen.get(digest);
    if (at !== undefined) return Promise.resolve(at);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`digest ${digest} not seen within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.set(digest, (t) => {
        clearTimeout(timer);
        resolve(t);
      });
    });
  }

  stop(): void {
    this.abort?.abort();
  }
}

const traces: Array<{ run: number; kubectlMs: number; seenMs: number; requests: Array<{ atMs: number; kind: string; ms: number }> }> = [];

const newDigest = (): string => `sha256:${randomBytes(32).toString('hex')}`;

async function operatorRun(cp: ControlPlane, op: TestOperator, watcher: DigestWatcher, i: number): Promise<number> {
  const digest = newDigest();
  const name = `v${i}`;
  const obj = checkpoint(name, { path: '/models/m.onnx', uri: `file:///models/${name}.onnx`, digest, sizeBytes: 1024 }, { deployment: DEPLOYMENT });
  const trace: Array<{ at: number; kind: string; ms: number }> = [];
  traceRequests(trace);
  const t0 = performance.now();
  const r = await cp.kubectl(['apply', '-n', ns, '-f', '-'], JSON.stringify(obj));
  if (r.code !== 0) throw new Error(`kubectl apply: ${r.stderr}`);
  const tApplied = performance.now();
  const t1 = await watcher.wait(digest);
  traceRequests(undefined);
  traces.push({ run: i, kubectlMs: round(tApplied - t0, 4), seenMs: round(t1 - t0, 4), requests: trace.filter((x) => x.at <= t1).sort((a, b) => a.at - b.at).map((x) => ({ atMs: round(x.at - t0, 4), kind: x.kind, ms: round(x.ms, 3) })) });
  // Settle before the next run: this checkpoint Healthy and its claim released.
  for (const t = performance.now(); performance.now() - t < 120_000; ) {
    const c = op.op.controller?.checkpointInformer.get(name, ns);
    const d = watcher.latest as { metadata?: { annotations?: Record<string, string> } } | undefined;
    if (c?.status?.phase === 'Healthy' && !d?.metadata?.annotations?.[ANNOTATIONS.claim]) break;
    await sleep(50);
  }
  return t1 - t0;
}

async function bareRun(cp: ControlPlane, watcher: DigestWatcher, i: number): Promise<number> {
  const digest = newDigest();
  const marks = { [ANNOTATIONS.checkpoint]: `bare${i}`, [ANNOTATIONS.version]: `bare${i}`, [ANNOTATIONS.digest]: digest };
  const patch = {
    spec: { template: { metadata: { annotations: marks }, spec: { containers: [{ name: 'server', env: [
      { name: 'MODEL_URI', value: `file:///models/bare${i}.onnx` }, { name: 'MODEL_DIGEST', value: digest }, { name: 'MODEL_VERSION', value: `bare${i}` },
    ] }] } } },
  };
  const t0 = performance.now();
  const r = await cp.kubectl(['patch', 'deployment', DEPLOYMENT, '-n', ns, '--type=strategic', '-p', JSON.stringify(patch)]);
  if (r.code !== 0) throw new Error(`kubectl patch: ${r.stderr}`);
  const t1 = await watcher.wait(digest);
  return t1 - t0;
}

async function main(): Promise<void> {
  const { op: opMs, bare: bareMs } = await withControlPlane(async (cp) => {
    await cp.kubectl(['create', 'namespace', ns]);
    const r = await cp.kubectl(['apply', '-n', ns, '-f', '-'], JSON.stringify(inferenceDeployment(DEPLOYMENT, { replicas: 0 })));
    if (r.code !== 0) throw new Error(r.stderr);
    const watcher = new DigestWatcher();
    await watcher.start(cp);
    const op = await startTestOperator(cp, { validator: new PrecomputedValidator(), workers, logLevel: 'error' });
    const opTimes: number[] = [];
    const bareTimes: number[] = [];
    try {
      // One untimed warm-up of each path (first kubectl, first deploy).
      await operatorRun(cp, op, watcher, 0);
      await bareRun(cp, watcher, 0);
      for (let i = 1; i <= runs; i++) {
        if (i % 2) {
          opTimes.push(await operatorRun(cp, op, watcher, i));
          await sleep(300);
          bareTimes.push(await bareRun(cp, watcher, i));
        } else {
          bareTimes.push(await bareRun(cp, watcher, i));
          await sleep(300);
          opTimes.push(await operatorRun(cp, op, watcher, i));
        }
        await sleep(300);
        log(`run ${i}/${runs}: operator ${round(opTimes.at(-1)!)} ms, bare ${round(bareTimes.at(-1)!)} ms`);
      }
    } finally {
      watcher.stop();
      await op.stop();
    }
    return { op: opTimes, bare: bareTimes };
  });
  reportComparison('apply-to-patch', {
    heading: `apply-to-patch (${runs} runs each, alternating)`,
    reference: 'bare kubectl patch',
    target: 1.5,
    operator: { label: 'kubectl apply checkpoint -> operator patches Deployment', ms: opMs },
    bare: { label: 'bare kubectl patch of the Deployment', ms: bareMs },
    extra: { runs },
    trailing: { operatorRequestTraces: traces },
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
