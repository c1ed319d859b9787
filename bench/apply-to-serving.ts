// Benchmark: apply to new pods serving, on the real node. A checkpoint applied with kubectl to
// the in-cluster operator (two pods from the project's image, validating in process) until every
// pod of its Deployment is an available pod of the new template, against a bare
// `kubectl set env` of the same three variables on a twin Deployment (same spec, same node,
// same store) until the same is true there. Runs alternate; both are seen by one watch per
// Deployment. The twin keeps the bare edits away from the operator's Deployment, where they would
// be drift under its claim.
//
//   flock /tmp/modelgate-node.lock npx tsx bench/apply-to-serving.ts [--runs 7] [--replicas 2]
// A2S_DEBUG=1 also prints the namespace's ReplicaSets and Events at the end (where a rollout's time went).
import { Watch } from '@kubernetes/client-node';
import path from 'node:path';
import type { ModelCheckpoint } from '../src/api/types.js';
import { freshNamespace } from '../test/harness/controlplane.js';
import { apply, checkpoint, getJson } from '../test/harness/fixtures.js';
import { ensureProjectImage } from '../test/harness/image.js';
import { classifierModel, randomWeights, tempDir, weightsOnlyUpdate, writeArtifact, type WrittenFile } from '../test/harness/models.js';
import { sharedNodeCluster, stopSharedNodeCluster, type NodeCluster } from '../test/harness/nodecluster.js';
import { ensureInClusterOperator, outcomesSecret, rolloutStatus, sampleDeployment } from '../test/harness/pods.js';
import { startModelStore, type ModelStore } from '../test/harness/store.js';
import { containerEnv, log, numFlag, reportComparison, round, sleep } from './lib.js';

const runs = numFlag('runs', 7);
const replicas = numFlag('replicas', 2);
const OPERATED = 'ranker';
const TWIN = 'ranker-bare';

interface DeploymentObj {
  metadata: { name: string; generation?: number };
  spec: { replicas?: number };
  status?: { observedGeneration?: number; replicas?: number; updatedReplicas?: number; availableReplicas?: number; unavailableReplicas?: number };
}

/** Serving the digest: the template carries it, the status is of that template, every pod is new and available, none old is left. */
function serving(d: DeploymentObj, digest: string): boolean {
  const s = d.status ?? {};
  const want = d.spec.replicas ?? 1;
  return containerEnv(d, 'server', 'MODEL_DIGEST') === digest && (s.observedGeneration ?? 0) >= (d.metadata.generation ?? 1)
    && s.updatedReplicas === want && s.availableReplicas === want && s.replicas === want && !s.unavailableReplicas;
}

/** One watch on the namespace's Deployments; resolves a waiter when its Deployment serves the digest. */
class ServingWatcher {
  private readonly latest = new Map<string, DeploymentObj>();
  private readonly waiters: Array<{ name: string; digest: string; done: (t: number) => void }> = [];
  private abort?: AbortController;

  async start(c: NodeCluster, ns: string): Promise<void> {
    this.abort = await new Watch(c.cp.kubeConfig()).watch(`/apis/apps/v1/namespaces/${ns}/deployments`, {}, (_type, obj: DeploymentObj) => {
      const t = performance.now();
      this.latest.set(obj.metadata.name, obj);
      for (const w of [...this.waiters]) {
        if (w.name === obj.metadata.name && serving(obj, w.digest)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.done(t);
        }
      }
    }, (err) => {
      if (err && !this.abort?.signal.aborted) log(`watch ended: ${String(err)}`);
    });
  }

  wait(name: string, digest: string, timeoutMs = 300_000): Promise<number> {
    const now = this.latest.get(name);
    if (now && serving(now, digest)) return Promise.resolve(performance.now());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} not serving ${digest} within ${timeoutMs} ms: ${JSON.stringify(this.latest.get(name)?.status)}`)), timeoutMs);
      this.waiters.push({ name, digest, done: (t) => {
        clearTimeout(timer);
        resolve(t);
      } });
    });
  }

  stop(): void {
    this.abort?.abort();
  }
}

async function operatorRun(c: NodeCluster, ns: string, watcher: ServingWatcher, model: WrittenFile, i: number): Promise<number> {
  const name = `v${i}`;
  const t0 = performance.now();
  await apply(c.cp, ns, checkpoint(name, model, { version: `1.0.${i}` }));
  const t1 = await watcher.wait(OPERATED, model.digest);
  // Settle before the next run: Healthy (no analysis), its claim released.
  for (const t = performance.now(); performance.now() - t < 120_000; await sleep(200)) {
    const cp = await getJson<ModelCheckpoint>(c.cp, ns, 'modelcheckpoint', name);
    if (cp.status?.phase === 'Healthy') {
      // Where the time went: each phase's entry, in ms after the apply (history has whole-ms times).
      const at0 = Date.now() - (performance.now() - t0);
      log(`${name}: ${(cp.status.history ?? []).map((h) => `${h.phase}+${Date.parse(h.time) - Math.round(at0)}`).join(' ')}; serving +${Math.round(t1 - t0)}`);
      break;
    }
    if (['Failed', 'Rejected', 'RolledBack'].includes(cp.status?.phase ?? '')) throw new Error(`${name} ended ${cp.status?.phase}: ${JSON.stringify(cp.status?.conditions)}`);
  }
  return t1 - t0;
}

async function bareRun(c: NodeCluster, ns: string, watcher: ServingWatcher, model: WrittenFile, i: number): Promise<number> {
  const t0 = performance.now();
  const r = await c.cp.kubectl(['-n', ns, 'set', 'env', `deployment/${TWIN}`, '-c', 'server', `MODEL_URI=${model.uri}`, `MODEL_DIGEST=${model.digest}`, `MODEL_VERSION=bare-${i}`]);
  if (r.code !== 0) throw new Error(`kubectl set env: ${r.stderr}`);
  return (await watcher.wait(TWIN, model.digest)) - t0;
}

async function models(store: ModelStore, dir: string, count: number): Promise<WrittenFile[]> {
  const base = randomWeights(4, 3, 1);
  const out: WrittenFile[] = [];
  for (let i = 0; i < count; i++) {
    const w = await writeArtifact(dir, `serving-${i}.onnx`, classifierModel(weightsOnlyUpdate(base, 0.01, 100 + i)));
    out.push({ ...w, uri: store.put(w.path) });
  }
  return out;
}

async function measure(c: NodeCluster): Promise<{ op: number[]; bare: number[] }> {
  c.node.importImage(ensureProjectImage());
  const dir = await tempDir('modelgate-a2s-');
  const store = await startModelStore(c.node, path.join(dir, 'store'));
  try {
    await ensureInClusterOperator(c);
    const ns = await freshNamespace(c.cp, 'a2s');
    // Two models per run (one for each path) and one each to start from.
    const m = await models(store, dir, 2 * (runs + 2) + 2);
    await apply(c.cp, ns, outcomesSecret(), sampleDeployment(OPERATED, m[0]!.uri, m[0]!.digest, 'start', { replicas }), sampleDeployment(TWIN, m[1]!.uri, m[1]!.digest, 'start', { replicas }));
    await rolloutStatus(c, ns, OPERATED);
    await rolloutStatus(c, ns, TWIN);
    const watcher = new ServingWatcher();
    await watcher.start(c, ns);
    const op: number[] = [];
    const bare: number[] = [];
    try {
      // Untimed warm-up of each path (first checkpoint: no rollback point, first pods of each).
      await operatorRun(c, ns, watcher, m[2]!, 0);
      await bareRun(c, ns, watcher, m[3]!, 0);
      for (let i = 1; i <= runs; i++) {
        const [mo, mb] = [m[2 + 2 * i]!, m[3 + 2 * i]!];
        if (i % 2) {
          op.push(await operatorRun(c, ns, watcher, mo, i));
          bare.push(await bareRun(c, ns, watcher, mb, i));
        } else {
          bare.push(await bareRun(c, ns, watcher, mb, i));
          op.push(await operatorRun(c, ns, watcher, mo, i));
        }
        log(`run ${i}/${runs}: operator ${round(op.at(-1)!)} ms, bare ${round(bare.at(-1)!)} ms`);
        await sleep(500);
      }
    } finally {
      watcher.stop();
      if (process.env.A2S_DEBUG) {
        log((await c.cp.kubectl(['-n', ns, 'get', 'rs', '-o', 'custom-columns=NAME:.metadata.name,REV:.metadata.annotations.deployment\\.kubernetes\\.io/revision,DESIRED:.spec.replicas,CREATED:.metadata.creationTimestamp'])).stdout);
        log((await c.cp.kubectl(['-n', ns, 'get', 'events', '--sort-by=.lastTimestamp', '-o', 'custom-columns=T:.lastTimestamp,OBJ:.involvedObject.name,REASON:.reason,MSG:.message'])).stdout.split('\n').slice(-60).join('\n'));
      }
      await c.cp.kubectl(['-n', ns, 'delete', 'deployment', OPERATED, TWIN, '--wait=true', '--timeout=120s']);
    }
    return { op, bare };
  } finally {
    await store.stop();
  }
}

async function main(): Promise<void> {
  let result: { op: number[]; bare: number[] };
  try {
    result = await measure(await sharedNodeCluster());
  } finally {
    await stopSharedNodeCluster();
  }
  const { op, bare } = result;
  reportComparison('apply-to-serving', {
    heading: `apply-to-serving (${runs} runs each, alternating, ${replicas} replicas)`,
    reference: 'bare kubectl set env',
    target: 1.2,
    operator: { label: 'kubectl apply checkpoint -> every pod new, available', ms: op },
    bare: { label: 'bare kubectl set env on a twin Deployment -> the same', ms: bare },
    extra: { runs, replicas },
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
