// Validation as Kubernetes Jobs on the real node (spec.validation.runner: Job): the operator, as
// installed from deploy/ plus scripts/local, starts one Job per checkpoint generation in the
// checkpoint's namespace; its pod runs the project image's validation entry point with no
// ServiceAccount token, fetches the model from the pod network's store itself and prints its
// report, which the operator reads from the pod's log. A pod given too little memory is
// OOM-killed by the kernel, and the checkpoint ends Failed with that reason.
import assert from 'node:assert/strict';
import path from 'node:path';
import { CONDITION, getCondition } from '../../src/api/conditions.js';
import type { ModelCheckpoint, StageResult } from '../../src/api/types.js';
import { jobName, parseJobResult } from '../../src/validation/job-spec.js';
import { freshNamespace } from '../harness/controlplane.js';
import { apply, checkpoint, getJson } from '../harness/fixtures.js';
import { ensureProjectImage } from '../harness/image.js';
import { classifierModel, randomWeights, tempDir, weightsOnlyUpdate, writeArtifact, type WrittenFile } from '../harness/models.js';
import { sharedNodeCluster, type NodeCluster } from '../harness/nodecluster.js';
import { phaseIs, waitForCheckpoint } from '../harness/operator.js';
import { waitFor } from '../harness/process.js';
import { SYSTEM, ensureInClusterOperator, operatorLogs, outcomesSecret, rolloutStatus, sampleDeployment } from '../harness/pods.js';
import { startModelStore, type ModelStore } from '../harness/store.js';

interface JobObj {
  metadata: { name: string; uid: string; labels?: Record<string, string>; ownerReferences?: Array<{ kind: string; uid: string }> };
  spec: { backoffLimit: number; activeDeadlineSeconds: number; ttlSecondsAfterFinished: number };
  status?: { conditions?: Array<{ type: string; status: string }> };
}
interface PodObj {
  metadata: { name: string };
  spec: {
    nodeName?: string;
    automountServiceAccountToken?: boolean;
    securityContext?: { runAsNonRoot?: boolean };
    containers: Array<{ name: string; env?: Array<{ name: string }>; volumeMounts?: Array<{ mountPath: string }>; securityContext?: { readOnlyRootFilesystem?: boolean } }>;
  };
  status?: { phase?: string; containerStatuses?: Array<{ state?: { running?: unknown; terminated?: { reason?: string } } }> };
}

const finished = (j: JobObj): boolean => (j.status?.conditions ?? []).some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
/** Small requests, so several Job pods fit on the one node beside the operator and the inference pods. */
const smallJob = { resources: { requests: { cpu: '50m', memory: '128Mi' } } };

/** What two runs of the same gates on the same inputs must agree on (times and latencies differ run to run). */
const verdicts = (stages: readonly StageResult[] | undefined): Array<[string, string, string]> => (stages ?? []).map((s) => [s.stage, s.verdict, s.reason]);

describe('e2e: validation as Kubernetes Jobs, on real pods', function () {
  this.timeout(900_000);
  let c: NodeCluster;
  let store: ModelStore;
  let dir: string;
  let ns: string;
  let a1: WrittenFile;
  let a2: WrittenFile;

  before(async function () {
    this.timeout(1_800_000);
    c = await sharedNodeCluster();
    c.node.importImage(ensureProjectImage());
    dir = await tempDir('modelgate-jobs-');
    store = await startModelStore(c.node, path.join(dir, 'store'));
    await ensureInClusterOperator(c);
    const base = randomWeights(4, 3, 1);
    const next = weightsOnlyUpdate(base, 0.01, 5);
    ns = await freshNamespace(c.cp, 'jobs');
    const put = async (name: string, bytes: Uint8Array): Promise<WrittenFile> => {
      const w = await writeArtifact(dir, name, bytes);
      return { ...w, uri: store.put(w.path) };
    };
    a1 = await put(`${ns}-v1.onnx`, classifierModel({ features: 4, classes: 3, weights: base.weights, bias: base.bias }));
    a2 = await put(`${ns}-v2.onnx`, classifierModel({ features: 4, classes: 3, weights: next.weights, bias: next.bias }));
    await apply(c.cp, ns, outcomesSecret(), sampleDeployment('ranker', a1.uri, a1.digest, 'v1'));
    await rolloutStatus(c, ns, 'ranker');
  });

  after(async function () {
    this.timeout(180_000);
    if (ns) await c.cp.kubectl(['-n', ns, 'delete', 'deployment/ranker', '--ignore-not-found', '--wait=true', '--timeout=90s']);
    await store?.stop();
  });

  const when = (name: string, ok: (cp: ModelCheckpoint) => boolean, timeoutMs: number): Promise<ModelCheckpoint> =>
    waitForCheckpoint(c.cp, ns, name, ok, timeoutMs).catch(async (err: unknown) => {
      const now = await getJson<ModelCheckpoint>(c.cp, ns, 'modelcheckpoint', name).catch(() => undefined);
      const jobs = (await c.cp.kubectl(['-n', ns, 'get', 'jobs,pods', '-o', 'wide'])).stdout;
      throw new Error(`${(err as Error).message}\n${name}: ${now?.status?.phase} ${JSON.stringify(now?.status?.conditions)}\n${jobs}\noperator:\n${(await operatorLogs(c)).slice(-3000)}`);
    });
  const podsOf = async (job: JobObj): Promise<PodObj[]> => (await getJson<{ items: PodObj[] }>(c.cp, ns, 'pods', '-l', `batch.kubernetes.io/controller-uid=${job.metadata.uid}`)).items;

  it('a checkpoint with runner Job is validated by a Job pod with no token, and deployed; the status holds the pod\'s report', async () => {
    await apply(c.cp, ns, checkpoint('v1', a1, { validation: { runner: 'Job', benchmark: { batchSizes: [1], warmupRuns: 1, runs: 3 } } }));
    const v1 = await when('v1', phaseIs('Healthy', 'Failed', 'Rejected', 'RolledBack'), 300_000);
    assert.equal(v1.status?.phase, 'Healthy', JSON.stringify(v1.status?.conditions));
    assert.ok(v1.status?.history?.some((h) => h.phase === 'Deployed'));
    const jobs = (await getJson<{ items: JobObj[] }>(c.cp, ns, 'jobs')).items;
    assert.deepEqual(jobs.map((j) => j.metadata.name), [jobName(v1.metadata.uid as string, v1.metadata.generation as number)], 'exactly one Job, named for uid and generation');
    const job = jobs[0]!;
    assert.deepEqual(job.metadata.ownerReferences?.map((o) => [o.kind, o.uid]), [['ModelCheckpoint', v1.metadata.uid]]);
    assert.equal(job.spec.backoffLimit, 0);
    assert.equal(job.spec.activeDeadlineSeconds, 600);
    const pods = await podsOf(job);
    assert.equal(pods.length, 1);
    const pod = pods[0]!;
    assert.equal(pod.spec.automountServiceAccountToken, false);
    const container = pod.spec.containers[0]!;
    assert.ok(!(container.volumeMounts ?? []).some((m) => m.mountPath.startsWith('/var/run/secrets')), `no token mounted: ${JSON.stringify(container.volumeMounts)}`);
    assert.ok(!(container.env ?? []).some((e) => e.name.startsWith('KUBERNETES_') || e.name === 'POD_NAME'), `no operator env: ${JSON.stringify(container.env)}`);
    assert.equal(container.securityContext?.readOnlyRootFilesystem, true);
    assert.equal(pod.spec.securityContext?.runAsNonRoot, true);
    const log = await c.cp.kubectl(['-n', ns, 'logs', pod.metadata.name]);
    assert.equal(log.code, 0, log.stderr);
    const report = parseJobResult(log.stdout, { uid: v1.metadata.uid as string, generation: v1.metadata.generation as number, digest: a1.digest });
    assert.equal(report.passed, true);
    assert.deepEqual(verdicts(v1.status?.stages), verdicts(report.stages));
  });

  it('a Job\'s report matches the in-process one on the same inputs', async () => {
    // Both against v1 in production, held (autoDeploy false) once Validated.
    const held = { rollout: { autoDeploy: false } };
    await apply(c.cp, ns, checkpoint('v2-inprocess', a2, { ...held, version: 'v2a', validation: { runner: 'InProcess', benchmark: { batchSizes: [1], warmupRuns: 1, runs: 3 } } }), checkpoint('v2-job', a2, { ...held, version: 'v2b', validation: { runner: 'Job', benchmark: { batchSizes: [1], warmupRuns: 1, runs: 3 } } }));
    const [inProcess, inJob] = await Promise.all([when('v2-inprocess', phaseIs('Validated', 'Failed', 'Rejected'), 300_000), when('v2-job', phaseIs('Validated', 'Failed', 'Rejected'), 300_000)]);
    assert.equal(inProcess.status?.phase, 'Validated');
    assert.equal(inJob.status?.phase, 'Validated');
    assert.ok((inJob.status?.stages ?? []).length >= 4, JSON.stringify(inJob.status?.stages));
    assert.deepEqual(verdicts(inJob.status?.stages), verdicts(inProcess.status?.stages));
    // The architecture and regression gates are deterministic: their numbers agree too.
    const numbers = (cp: ModelCheckpoint, stage: string): unknown => cp.status?.stages?.find((s) => s.stage === stage)?.summary;
    for (const stage of ['architecture', 'regression']) assert.deepEqual(numbers(inJob, stage), numbers(inProcess, stage), stage);
    // Side by side on the same model and node, for docs/benchmarks.md: Validating -> Validated
    // as status.history records it (whole seconds), and the gates' own time.
    const wall = (cp: ModelCheckpoint): number => {
      const at = (phase: string): number => Date.parse(cp.status?.history?.find((h) => h.phase === phase)?.time ?? '');
      return (at('Validated') - at('Validating')) / 1000;
    };
    const gates = (cp: ModelCheckpoint): number => (cp.status?.stages ?? []).reduce((t, s) => t + (s.durationMs ?? 0), 0);
    process.stderr.write(`validation time, Job / in-process: wall ${wall(inJob)} s / ${wall(inProcess)} s; gates ${gates(inJob).toFixed(0)} ms / ${gates(inProcess).toFixed(0)} ms\n`);
    const jobs = (await getJson<{ items: JobObj[] }>(c.cp, ns, 'jobs')).items.map((j) => j.metadata.name);
    assert.ok(jobs.includes(jobName(inJob.metadata.uid as string, inJob.metadata.generation as number)));
    assert.ok(!jobs.includes(jobName(inProcess.metadata.uid as string, inProcess.metadata.generation as number)), 'no Job for the InProcess checkpoint');
  });

  it('a model given a memory limit below its needs ends Failed with OOMKilled in status', async () => {
    await apply(c.cp, ns, checkpoint('v3-small', a2, { version: 'v3', validation: { runner: 'Job', job: { resources: { limits: { memory: '40Mi' } } } } }));
    const v3 = await when('v3-small', phaseIs('Failed', 'Validated', 'Healthy', 'Rejected'), 300_000);
    assert.equal(v3.status?.phase, 'Failed');
    const ready = getCondition(v3.status?.conditions, CONDITION.ready);
    assert.equal(ready?.reason, 'OOMKilled', JSON.stringify(v3.status?.conditions));
    assert.match(ready?.message ?? '', /memory limit/);
    const job = (await getJson<JobObj>(c.cp, ns, 'job', jobName(v3.metadata.uid as string, v3.metadata.generation as number)));
    const pods = await podsOf(job);
    assert.equal(pods.length, 1, 'backoffLimit 0: one pod, no second try');
    assert.equal(pods[0]!.status?.containerStatuses?.[0]?.state?.terminated?.reason, 'OOMKilled');
  });

  /** This checkpoint's validation Jobs (by the uid label, whatever their generation). */
  const jobsOf = async (cp: ModelCheckpoint): Promise<JobObj[]> => (await getJson<{ items: JobObj[] }>(c.cp, ns, 'jobs', '-l', `modelgate.io/checkpoint-uid=${cp.metadata.uid}`)).items;
  /** Waits until this checkpoint's Job has a pod whose container is running, and answers both. */
  async function runningJob(name: string): Promise<{ cp: ModelCheckpoint; job: JobObj; pod: PodObj }> {
    return waitFor(`${name}'s Job pod running`, async () => {
      const cp = await getJson<ModelCheckpoint>(c.cp, ns, 'modelcheckpoint', name).catch(() => undefined);
      if (!cp) return undefined;
      const job = (await jobsOf(cp))[0];
      const pod = job ? (await podsOf(job)).find((p) => p.status?.containerStatuses?.[0]?.state?.running !== undefined) : undefined;
      return job && pod ? { cp, job, pod } : undefined;
    }, 120_000, 500);
  }
  const validatedOnce = (cp: ModelCheckpoint): void => {
    assert.equal(cp.status?.phase, 'Validated', JSON.stringify(cp.status?.conditions));
    assert.equal(cp.status?.history?.filter((h) => h.phase === 'Validated').length, 1, 'one result: Validated once in history');
    assert.ok((cp.status?.stages ?? []).length >= 4, JSON.stringify(cp.status?.stages));
  };

  it('a Job killed mid-run ends with exactly one Job and one result', async () => {
    const a = await writeArtifact(dir, `${ns}-v4.onnx`, classifierModel(weightsOnlyUpdate(randomWeights(4, 3, 1), 0.01, 9)));
    const uri = store.put(a.path);
    const file = `${ns}-v4.onnx`;
    // The pod's download waits on the store, so the pod is surely mid-run when it is killed.
    store.delay(file, 600_000);
    await apply(c.cp, ns, checkpoint('v4-killed', { ...a, uri }, { version: 'v4', rollout: { autoDeploy: false }, validation: { runner: 'Job', job: smallJob, benchmark: { batchSizes: [1], warmupRuns: 1, runs: 3 } } }));
    const { cp, job, pod } = await runningJob('v4-killed');
    await waitFor('the pod fetching', async () => ((await store.requests()).some((r) => r.path === `/${file}` && r.method === 'GET') ? true : undefined), 60_000, 300);
    store.steady(file);
    const killed = await c.cp.kubectl(['-n', ns, 'delete', 'pod', pod.metadata.name, '--wait=false']);
    assert.equal(killed.code, 0, killed.stderr);
    const done = await when('v4-killed', phaseIs('Validated', 'Failed', 'Rejected'), 300_000);
    validatedOnce(done);
    assert.ok((done.status?.history ?? []).some((h) => h.phase === 'Validating'), 'it stayed in Validating through the retry');
    const jobs = await jobsOf(done);
    assert.equal(jobs.length, 1, `exactly one Job: ${jobs.map((j) => j.metadata.name).join(', ')}`);
    assert.equal(jobs[0]!.metadata.name, jobName(cp.metadata.uid as string, cp.metadata.generation as number));
    assert.notEqual(jobs[0]!.metadata.uid, job.metadata.uid, 'the killed Job was replaced by a fresh one under the same name');
    const pods = await podsOf(jobs[0]!);
    assert.deepEqual(pods.map((p) => p.status?.phase), ['Succeeded']);
  });

  it('an operator restarted mid-Job adopts it: exactly one Job and one result', async () => {
    const a = await writeArtifact(dir, `${ns}-v5.onnx`, classifierModel(weightsOnlyUpdate(randomWeights(4, 3, 1), 0.01, 11)));
    const uri = store.put(a.path);
    // Long enough for the leader to go and the standby to take over (lease 15 s) while the pod waits.
    store.delay(`${ns}-v5.onnx`, 45_000);
    await apply(c.cp, ns, checkpoint('v5-restart', { ...a, uri }, { version: 'v5', rollout: { autoDeploy: false }, validation: { runner: 'Job', job: smallJob, benchmark: { batchSizes: [1], warmupRuns: 1, runs: 3 } } }));
    const { job } = await runningJob('v5-restart');
    const holder = async (): Promise<string> => (await c.cp.kubectl(['-n', SYSTEM, 'get', 'lease', 'modelgate-operator', '-o', 'jsonpath={.spec.holderIdentity}'])).stdout.trim();
    const leader = await holder();
    assert.ok(leader, 'a leader holds the Lease');
    const gone = await c.cp.kubectl(['-n', SYSTEM, 'delete', 'pod', leader, '--wait=false']);
    assert.equal(gone.code, 0, gone.stderr);
    const next = await waitFor('a new leader', async () => {
      const h = await holder();
      return h && h !== leader ? h : undefined;
    }, 90_000, 500);
    const done = await when('v5-restart', phaseIs('Validated', 'Failed', 'Rejected'), 300_000);
    validatedOnce(done);
    const jobs = await jobsOf(done);
    assert.deepEqual(jobs.map((j) => j.metadata.uid), [job.metadata.uid], `the same Job, adopted by ${next}, never a second`);
    assert.equal((await podsOf(jobs[0]!)).length, 1, 'one pod: the Job was not run again');
    await rolloutStatus(c, SYSTEM, 'modelgate-operator', 300);
  });

  it('the per-namespace cap holds when 10 checkpoints arrive at once', async () => {
    const a = await writeArtifact(dir, `${ns}-v6.onnx`, classifierModel(weightsOnlyUpdate(randomWeights(4, 3, 1), 0.01, 13)));
    const uri = store.put(a.path);
    // Each pod waits 5 s on its download, so Jobs overlap and the cap (default 4 in a namespace) bites.
    store.delay(`${ns}-v6.onnx`, 5_000);
    const names = Array.from({ length: 10 }, (_, i) => `v6-burst-${i}`);
    await apply(c.cp, ns, ...names.map((n, i) => checkpoint(n, { ...a, uri }, { version: `v6.${i}`, rollout: { autoDeploy: false }, validation: { runner: 'Job', job: smallJob, benchmark: { batchSizes: [1], warmupRuns: 1, runs: 3 } } })));
    let most = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const jobs = (await getJson<{ items: JobObj[] }>(c.cp, ns, 'jobs')).items.filter((j) => j.metadata.labels?.['app.kubernetes.io/component'] === 'validation' && !finished(j));
        most = Math.max(most, jobs.length);
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    const done = await Promise.all(names.map((n) => when(n, phaseIs('Validated', 'Failed', 'Rejected'), 600_000))).finally(() => {
      sampling = false;
    });
    await sampler;
    for (const cp of done) validatedOnce(cp);
    assert.equal(most, 4, `at most 4 unfinished validation Jobs in the namespace at once, and the cap was reached: ${most}`);
    const jobs = await Promise.all(done.map(jobsOf));
    assert.deepEqual(jobs.map((j) => j.length), names.map(() => 1), 'one Job per checkpoint');
  });
});
