// src/kube/jobs.ts against a real apiserver (the shared control plane runs no Job controller and
// no kubelet, so a Job stays without pods and "running" for as long as a test needs). What is
// checked here is what the API decides: one Job per checkpoint generation even across an
// operator restart, and the cap on Jobs running at once. Pods and reports: test/e2e/validation-jobs.test.ts.
import assert from 'node:assert/strict';
import type { ModelCheckpoint } from '../../../src/api/types.js';
import { KubeClient } from '../../../src/kube/client.js';
import { ValidationJobs, type ValidationJobsOptions } from '../../../src/kube/jobs.js';
import type { ValidationRequest } from '../../../src/validation/contract.js';
import { jobName } from '../../../src/validation/job-spec.js';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../../harness/controlplane.js';
import { apply, checkpoint, getJson } from '../../harness/fixtures.js';
import { waitFor } from '../../harness/process.js';

const DIGEST = `sha256:${'c'.repeat(64)}`;
const OPTS: ValidationJobsOptions = {
  template: { image: 'modelgate:dev', requests: { cpu: '10m' }, limits: { memory: '256Mi' }, ttlSecondsAfterFinished: 600, workDirSize: '1Gi', trustedHosts: [], maxArtifactBytes: 1024 },
  maxJobs: 0,
  maxJobsPerNamespace: 0,
  pollMs: 200,
};

interface JobList {
  items: Array<{ metadata: { name: string; uid: string } }>;
}

describe('validation Jobs (src/kube/jobs.ts) on a real apiserver', function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let client: KubeClient;
  const running: AbortController[] = [];
  const watching: ValidationJobs[] = [];

  before(async () => {
    cp = await sharedControlPlane();
    client = new KubeClient(cp.kubeConfig());
  });
  const namespaces: string[] = [];
  afterEach(async () => {
    for (const a of running.splice(0)) a.abort(new Error('test over'));
    await Promise.all(watching.splice(0).map((j) => j.stop()));
    // No Job controller here ends them, and the caps count every unfinished Job in the cluster.
    for (const ns of namespaces.splice(0)) await cp.kubectl(['-n', ns, 'delete', 'jobs', '--all', '--wait=false']);
  });

  /** An operator's ValidationJobs with its Job watch started, as the controller starts it. */
  async function operator(opts: ValidationJobsOptions = OPTS): Promise<ValidationJobs> {
    const jobs = new ValidationJobs(client, opts);
    watching.push(jobs);
    await jobs.start();
    return jobs;
  }

  /** A real ModelCheckpoint (so the Job's owner exists and the garbage collector keeps the Job). */
  async function owner(ns: string, name: string): Promise<{ ref: { name: string; namespace: string; uid: string; generation: number }; request: ValidationRequest }> {
    if (!namespaces.includes(ns)) namespaces.push(ns);
    await apply(cp, ns, checkpoint(name, { uri: `https://models.example/${name}.onnx`, digest: DIGEST, sizeBytes: 10 } as never));
    const got = await getJson<ModelCheckpoint>(cp, ns, 'modelcheckpoint', name);
    const ref = { name, namespace: ns, uid: got.metadata.uid as string, generation: got.metadata.generation as number };
    return { ref, request: { key: `${ns}/${name}`, generation: ref.generation, candidate: { uri: got.spec.artifact.uri, digest: DIGEST }, spec: got.spec.validation ?? {} } };
  }
  function start(jobs: ValidationJobs, o: Awaited<ReturnType<typeof owner>>): { abort: AbortController; done: Promise<unknown> } {
    const abort = new AbortController();
    running.push(abort);
    return { abort, done: jobs.run(o.ref, o.request, undefined, abort.signal).catch((e: unknown) => e) };
  }
  const jobsIn = async (ns: string): Promise<JobList['items']> => (await getJson<JobList>(cp, ns, 'jobs')).items;

  it('an operator restarted mid-Job adopts the running Job: one Job, never a second', async () => {
    const ns = await freshNamespace(cp, 'jobadopt');
    const o = await owner(ns, 'big');
    const first = start(await operator(), o);
    const created = await waitFor('the Job', async () => (await jobsIn(ns))[0], 30_000);
    assert.equal(created.metadata.name, jobName(o.ref.uid, o.ref.generation));
    // The operator goes away (its work is aborted, as on shutdown or lost leadership); the Job stays.
    first.abort.abort(new Error('operator stopped'));
    await first.done;
    // A new operator process validates the same generation.
    const second = start(await operator(), o);
    await new Promise((r) => setTimeout(r, 2_000));
    const after = await jobsIn(ns);
    assert.deepEqual(after.map((j) => j.metadata.uid), [created.metadata.uid], 'the same Job, adopted');
    second.abort.abort(new Error('done'));
    assert.match(String(await second.done), /done/, 'the adopted Job was still being watched, not ended');
  });

  it('the caps hold when 10 checkpoints arrive at once: 4 across the cluster, 3 in one namespace', async () => {
    const [a, b] = [await freshNamespace(cp, 'jobcapa'), await freshNamespace(cp, 'jobcapb')];
    const owners = [
      ...(await Promise.all([0, 1, 2, 3, 4, 5].map((i) => owner(a, `a${i}`)))),
      ...(await Promise.all([0, 1, 2, 3].map((i) => owner(b, `b${i}`)))),
    ];
    const jobs = await operator({ ...OPTS, maxJobs: 4, maxJobsPerNamespace: 3 });
    for (const o of owners) start(jobs, o);
    await waitFor('4 Jobs', async () => ((await jobsIn(a)).length + (await jobsIn(b)).length >= 4 ? true : undefined), 30_000);
    // Several poll rounds later, still no more.
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 500));
      const [inA, inB] = [(await jobsIn(a)).length, (await jobsIn(b)).length];
      assert.ok(inA <= 3, `at most 3 in ${a}: ${inA}`);
      assert.equal(inA + inB, 4, `4 across the cluster: ${inA} + ${inB}`);
    }
    assert.equal(jobs.active, 4);
  });

  it('a restarted operator counts the Jobs already running: an adopted Job keeps its slot, a new one waits', async () => {
    const ns = await freshNamespace(cp, 'jobrecount');
    const [old, next] = [await owner(ns, 'old'), await owner(ns, 'next')];
    const first = start(await operator(), old);
    await waitFor('the first Job', async () => (await jobsIn(ns))[0], 30_000);
    first.abort.abort(new Error('operator stopped'));
    await first.done;
    // The new process has a cap of one and has not started anything itself: the watch shows the running Job.
    const jobs = await operator({ ...OPTS, maxJobs: 1 });
    assert.equal(jobs.active, 1, 'the running Job from before is counted');
    start(jobs, next);
    start(jobs, old);
    await new Promise((r) => setTimeout(r, 2_000));
    assert.deepEqual((await jobsIn(ns)).map((j) => j.metadata.name), [jobName(old.ref.uid, old.ref.generation)], 'no second Job while the adopted one runs');
    assert.equal(jobs.active, 1);
  });

  it('a new generation deletes the old generation\'s Job', async () => {
    const ns = await freshNamespace(cp, 'jobsupersede');
    const o = await owner(ns, 'edited');
    const jobs = await operator();
    const first = start(jobs, o);
    await waitFor('generation 1\'s Job', async () => (await jobsIn(ns))[0], 30_000);
    first.abort.abort(new Error('spec changed'));
    await first.done;
    const gen2 = { ref: { ...o.ref, generation: o.ref.generation + 1 }, request: { ...o.request, generation: o.ref.generation + 1 } };
    start(jobs, gen2);
    const names = await waitFor('only generation 2\'s Job', async () => {
      const n = (await jobsIn(ns)).map((j) => j.metadata.name);
      return n.length === 1 && n[0] === jobName(o.ref.uid, gen2.ref.generation) ? n : undefined;
    }, 30_000);
    assert.deepEqual(names, [jobName(o.ref.uid, gen2.ref.generation)]);
  });

  it('a file:// artifact is refused before any Job is made, naming the field', async () => {
    const ns = await freshNamespace(cp, 'jobfile');
    const o = await owner(ns, 'local');
    const local = { ...o, request: { ...o.request, candidate: { uri: 'file:///models/local.onnx', digest: DIGEST } } };
    const err = await start(await operator(), local).done;
    assert.equal((err as { reason?: string }).reason, 'ArtifactNotReachableFromJob');
    assert.equal((err as { terminal?: boolean }).terminal, true);
    assert.match(String(err), /spec\.artifact\.uri is file:\/\/\/models\/local\.onnx.*runner: InProcess/);
    assert.deepEqual(await jobsIn(ns), []);
  });
});
