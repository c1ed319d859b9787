// Benchmark: operator throughput. N checkpoints until all settle (phase Healthy), validation
// answered at once (PrecomputedValidator), the operator in-process against a real control
// plane, against a bare KubeClient (same qps/burst, same concurrency) doing the same writes
// the operator does per checkpoint. Every request of both is counted by kind; the operator's
// process memory and its work queue's wait (p50, p99) are recorded beside the ratio.
//
//   npx tsx bench/throughput.ts [--checkpoints 200] [--deployments N] [--workers 4]
//                               [--qps 200] [--burst 400] [--timeout-minutes 20]
import { API_VERSION, KIND, type ModelCheckpoint, type ModelCheckpointStatus } from '../src/api/types.js';
import { withPhase, withStages, withWaiting } from '../src/controller/status.js';
import { Checkpoints } from '../src/kube/checkpoints.js';
import { KubeClient, paths } from '../src/kube/client.js';
import { Deployments, type DeploymentFacts } from '../src/kube/deployments.js';
import { EventRecorder } from '../src/kube/events.js';
import type { ControlPlane } from '../test/harness/controlplane.js';
import { checkpoint, inferenceDeployment } from '../test/harness/fixtures.js';
import { startTestOperator } from '../test/harness/operator.js';
import { sha256Digest } from '../test/harness/models.js';
import { countRequests, isWrite, type Counts } from './kube-count.js';
import { applyMany, log, numFlag, pool, round, sleep, table, withControlPlane, writeResult } from './lib.js';
import { PRECOMPUTED_REPORT, PrecomputedValidator } from './precomputed-validator.js';

const N = numFlag('checkpoints', 200);
const D = Math.min(N, numFlag('deployments', N));
const workers = numFlag('workers', 4);
const qps = numFlag('qps', 200);
const burst = numFlag('burst', 400);
const timeoutMs = numFlag('timeout-minutes', 20) * 60_000;

function objects(prefix: string): { deployments: unknown[]; checkpoints: ModelCheckpoint[] } {
  const deployments = Array.from({ length: D }, (_, i) => inferenceDeployment(`d${i}`, { replicas: 0 }));
  const checkpoints = Array.from({ length: N }, (_, i) => {
    const digest = sha256Digest(`${prefix}-${i}`);
    return checkpoint(`c${i}`, { path: '/models/m.onnx', uri: `file:///models/${i}.onnx`, digest, sizeBytes: 1024 }, { deployment: `d${i % D}` });
  });
  return { deployments, checkpoints };
}

async function setup(cp: ControlPlane, ns: string): Promise<ModelCheckpoint[]> {
  const r = await cp.kubectl(['create', 'namespace', ns]);
  if (r.code !== 0) throw new Error(r.stderr);
  const { deployments, checkpoints } = objects(ns);
  await applyMany(cp, ns, deployments);
  // Let the Deployment controller settle (revision 1 everywhere) so both sides start alike.
  const client = new KubeClient(cp.kubeConfig(), { qps: 1000, burst: 1000 });
  for (;;) {
    const list = await client.get<{ items: Array<{ status?: { observedGeneration?: number } }> }>(paths.deployments(ns));
    if (list.items.filter((d) => (d.status?.observedGeneration ?? 0) >= 1).length >= D) break;
    await sleep(1000);
  }
  await applyMany(cp, ns, checkpoints);
  return checkpoints;
}

const perCheckpoint = (c: Counts): Record<string, number> => Object.fromEntries(Object.entries(c).sort().map(([k, v]) => [k, round(v / N, 3)]));
const sum = (c: Counts, pred: (k: string) => boolean): number => Object.entries(c).filter(([k]) => pred(k)).reduce((a, [, v]) => a + v, 0);

/** The smallest bucket bound holding quantile q of a prom-client histogram (cumulative buckets). */
async function histogramQuantile(h: { get(): Promise<{ values: Array<{ value: number; labels: Record<string, unknown>; metricName?: string }> }> }, q: number): Promise<{ bound: number; count: number }> {
  const values = (await h.get()).values;
  const buckets = values.filter((v) => v.metricName?.endsWith('_bucket')).map((v) => ({ le: v.labels.le === '+Inf' ? Infinity : Number(v.labels.le), n: v.value })).sort((a, b) => a.le - b.le);
  const count = values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
  const bound = buckets.find((b) => b.n >= q * count)?.le ?? Infinity;
  return { bound, count };
}

interface OperatorMemory {
  /** Process RSS and JS heap before the operator started and when every checkpoint was Healthy, MiB. */
  rssBeforeMiB: number;
  rssSettledMiB: number;
  rssPeakMiB: number;
  heapBeforeMiB: number;
  heapSettledMiB: number;
}

async function runOperator(cp: ControlPlane): Promise<{ seconds: number; counts: Counts; phases: Record<string, number>; memory: OperatorMemory; queueWait: { p50: number; p99: number; count: number } }> {
  const ns = 'bench-operator';
  log(`operator: creating ${D} Deployments and ${N} checkpoints in ${ns}`);
  await setup(cp, ns);
  const counts: Counts = {};
  countRequests(counts);
  const validator = new PrecomputedValidator();
  const mib = (b: number): number => Math.round((b / 1024 / 1024) * 10) / 10;
  const before = process.memoryUsage();
  let rssPeak = before.rss;
  const t0 = performance.now();
  const op = await startTestOperator(cp, { validator, workers, extraArgs: [`--qps=${qps}`, `--burst=${burst}`], logLevel: 'error' });
  let phases: Record<string, number> = {};
  try {
    let lastLog = 0;
    for (;;) {
      phases = op.op.controller?.phaseCounts() ?? {};
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
      if ((phases.Healthy ?? 0) >= N) break;
      if (performance.now() - t0 > timeoutMs) throw new Error(`operator: not settled after ${timeoutMs / 60000} min: ${JSON.stringify(phases)}`);
      if (performance.now() - lastLog > 15_000) {
        lastLog = performance.now();
        log(`operator: ${JSON.stringify(phases)} after ${Math.round((performance.now() - t0) / 1000)} s`);
      }
      await sleep(100);
    }
    const seconds = (performance.now() - t0) / 1000;
    const settled = process.memoryUsage();
    const memory = { rssBeforeMiB: mib(before.rss), rssSettledMiB: mib(settled.rss), rssPeakMiB: mib(Math.max(rssPeak, settled.rss)), heapBeforeMiB: mib(before.heapUsed), heapSettledMiB: mib(settled.heapUsed) };
    const p50 = await histogramQuantile(op.op.metrics.workqueueWait, 0.5);
    const p99 = await histogramQuantile(op.op.metrics.workqueueWait, 0.99);
    return { seconds, counts: { ...counts }, phases, memory, queueWait: { p50: p50.bound, p99: p99.bound, count: p99.count } };
  } finally {
    countRequests(undefined);
    await op.stop();
  }
}

/** The writes the operator makes for one checkpoint on its way to Healthy, and nothing else. */
async function bareOne(cs: Checkpoints, ds: Deployments, events: EventRecorder, cpObj: ModelCheckpoint): Promise<void> {
  const gen = cpObj.metadata.generation ?? 1;
  const ns = cpObj.metadata.namespace as string;
  const name = cpObj.metadata.name as string;
  const uid = cpObj.metadata.uid as string;
  const now = (): string => new Date().toISOString();
  const ev = (type: 'Normal' | 'Warning', reason: string, action: string, note: string): void =>
    events.emit({ apiVersion: API_VERSION, kind: KIND, namespace: ns, name, uid }, type, reason, action, note);
  let cur = await cs.setFinalizer(cpObj, true);
  let status: ModelCheckpointStatus = {};
  const phase = (p: 'Fetching' | 'Validating' | 'Validated' | 'Deploying' | 'Deployed' | 'Healthy', reason: string, message: string, extra: Partial<ModelCheckpointStatus> = {}): void => {
    status = { ...withPhase(status, p, reason, message, gen, now()), ...extra };
    ev('Normal', reason, p, message);
  };
  const step = async (p: 'Deployed' | 'Healthy', reason: string, message: string, extra: Partial<ModelCheckpointStatus> = {}): Promise<void> => {
    phase(p, reason, message, extra);
    cur = await cs.writeStatus(cur, status);
  };
  // As the operator folds them: Fetching, Validating and Validated take no time here, so they
  // go in the Deploying status write, beside the claim, after the report ConfigMap.
  phase('Fetching', 'Fetching', `fetching ${cpObj.spec.artifact.uri}`);
  phase('Validating', 'Fetched', `fetched ${cpObj.spec.artifact.digest}`);
  await cs.applyOwnedConfigMap(cur, `${name}-report`, { 'report.json': JSON.stringify({ checkpoint: `${ns}/${name}`, generation: gen, validatedAt: now(), ...PRECOMPUTED_REPORT }, null, 2) }, { 'modelgate.io/checkpoint': name });
  status = { ...withStages(status, PRECOMPUTED_REPORT.stages, gen, now()), severity: 'NONE', reportConfigMap: `${name}-report` };
  phase('Validated', PRECOMPUTED_REPORT.reason, PRECOMPUTED_REPORT.message);
  const target: DeploymentFacts = { namespace: ns, name: cpObj.spec.target.deployment, generation: 0, observedGeneration: 0, annotations: {}, containers: [], replicas: 1, selector: {}, conditions: [] };
  phase('Deploying', 'Deploying', `deploying to ${target.name}; no rollback point (first checkpoint of this target)`, { deployment: { deployedAt: now(), deployment: target.name } });
  const [written] = await Promise.all([cs.writeStatus(cur, status), ds.setClaim(target, `${name}/${uid}`)]);
  cur = written;
  ev('Normal', 'ClaimAcquired', 'Claim', `claimed Deployment ${target.name}`);
  const patched = await ds.applyModel(target, cpObj.spec.target.container, { checkpoint: name, uid, version: cpObj.spec.version, uri: cpObj.spec.artifact.uri, digest: cpObj.spec.artifact.digest });
  // The operator says what the rollout waits for, once the patch is in.
  status = withWaiting(status, 'Deploying', 'RolloutProgressing', `Deployment ${target.name} patched: waiting for its pods`, gen, now());
  cur = await cs.writeStatus(cur, status);
  ev('Normal', 'RolloutProgressing', 'Deploy', `Deployment ${target.name} patched: waiting for its pods`);
  await cs.applyConfigMap(ns, `modelgate-audit-${target.name}`, { [now().replace(/:/g, '.')]: JSON.stringify({ action: 'deploy', checkpoint: name }) }, { 'modelgate.io/deployment': target.name });
  await step('Deployed', 'Deployed', `Deployment ${target.name} now runs ranker ${cpObj.spec.version}`, { deployment: { deployedAt: now(), deployment: target.name, revision: patched.revision, generation: patched.generation } });
  // Like the operator, Healthy only once the Deployment controller has rolled the change out
  // (observedGeneration caught up and a revision stamped); the bare side polls for it.
  for (;;) {
    const d = await ds.read(ns, target.name);
    if (d && d.observedGeneration >= patched.generation && d.revision !== undefined) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await step('Healthy', 'Healthy', 'deployed; no analysis configured');
  await ds.setClaim(target, undefined);
}

async function runBare(cp: ControlPlane): Promise<{ seconds: number; counts: Counts }> {
  const ns = 'bench-bare';
  log(`bare: creating ${D} Deployments and ${N} checkpoints in ${ns}`);
  await setup(cp, ns);
  const counts: Counts = {};
  countRequests(counts);
  try {
    const t0 = performance.now();
    const client = new KubeClient(cp.kubeConfig(), { qps, burst, userAgent: 'modelgate-bench-bare' });
    const cs = new Checkpoints(client);
    const ds = new Deployments(client);
    const events = new EventRecorder(client, 'modelgate.io/operator', 'bench-bare');
    // One LIST, as the operator's informer starts with one.
    const list = await cs.list(ns);
    await pool(list.items, workers, (c) => bareOne(cs, ds, events, c));
    const seconds = (performance.now() - t0) / 1000;
    await sleep(500); // fire-and-forget events still in flight are counted
    return { seconds, counts: { ...counts } };
  } finally {
    countRequests(undefined);
  }
}

async function main(): Promise<void> {
  const result = await withControlPlane(async (cp) => {
    const operator = await runOperator(cp);
    log(`operator: ${N} Healthy in ${round(operator.seconds)} s`);
    const bare = await runBare(cp);
    log(`bare: ${N} done in ${round(bare.seconds)} s`);
    return { operator, bare };
  });
  const { operator, bare } = result;
  const opTput = N / operator.seconds;
  const bareTput = N / bare.seconds;
  const ratio = opTput / bareTput;
  const kinds = [...new Set([...Object.keys(operator.counts), ...Object.keys(bare.counts)])].sort();
  const opReq = sum(operator.counts, () => true) / N;
  const bareReq = sum(bare.counts, () => true) / N;
  const opWrites = sum(operator.counts, isWrite) / N;
  const bareWrites = sum(bare.counts, isWrite) / N;
  const file = writeResult('throughput', {
    config: { checkpoints: N, deployments: D, workers, qps, burst },
    target: 'operator/bare throughput >= 0.9',
    operatorMemory: operator.memory,
    queueWaitSeconds: operator.queueWait,
    operator: { seconds: round(operator.seconds, 4), perSecond: round(opTput, 4), requestsPerCheckpoint: round(opReq, 4), writesPerCheckpoint: round(opWrites, 4), byKind: perCheckpoint(operator.counts), totals: operator.counts },
    bare: { seconds: round(bare.seconds, 4), perSecond: round(bareTput, 4), requestsPerCheckpoint: round(bareReq, 4), writesPerCheckpoint: round(bareWrites, 4), byKind: perCheckpoint(bare.counts), totals: bare.counts },
    ratio: round(ratio, 3),
    met: ratio >= 0.9,
  });
  const byKind = table(['request kind', 'operator per checkpoint', 'bare per checkpoint'], kinds.map((k) => [k, round((operator.counts[k] ?? 0) / N, 3), round((bare.counts[k] ?? 0) / N, 3)]));
  process.stdout.write(`\n### throughput (${N} checkpoints, ${D} Deployments, ${workers} workers, qps ${qps}, burst ${burst})\n\n${table(
    ['side', 'seconds', 'checkpoints/s', 'requests/checkpoint', 'writes/checkpoint'],
    [
      ['operator', round(operator.seconds), round(opTput), round(opReq), round(opWrites)],
      ['bare client', round(bare.seconds), round(bareTput), round(bareReq), round(bareWrites)],
    ],
  )}\n\nratio operator/bare throughput: **${round(ratio)}** (target >= 0.9: ${ratio >= 0.9 ? 'met' : 'missed'})\n\n` +
    `operator process memory: RSS ${operator.memory.rssBeforeMiB} MiB before, ${operator.memory.rssSettledMiB} MiB settled (peak ${operator.memory.rssPeakMiB}); JS heap ${operator.memory.heapBeforeMiB} → ${operator.memory.heapSettledMiB} MiB\n` +
    `work queue wait (modelgate_workqueue_queue_duration_seconds, ${operator.queueWait.count} hand-outs): p50 ≤ ${operator.queueWait.p50} s, p99 ≤ ${operator.queueWait.p99} s (bucket bounds)\n\n${byKind}\n\nresults: ${file}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
