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

  before(async () => {
    cp = await sharedControlPlane();
    client = new KubeClient(cp.kubeConfig());
  });
  afterEach(() => {
    for (const a of running.splice(0)) a.abort(new Error('test over'));
  });

  /** A real ModelCheckpoint (so the Job's owner exists and the garbage collector keeps the Job). */
  async function owner(ns: string, name: string): Promise<{ ref: { name: string; namespace: string; uid: string; generation: number }; request: ValidationRequest }> {
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
    const first = start(new ValidationJobs(client, OPTS), o);
    const created = await waitFor('the Job', async () => (await jobsIn(ns))[0], 30_000);
    assert.equal(created.metadata.name, jobName(o.ref.uid, o.ref.generation));
    // The operator goes away (its work is aborted, as on shutdown or lost leadership); the Job stays.
    first.abort.abort(new Error('operator stopped'));
    await first.done;
    // A new operator process validates the same generation.
    const second = start(new ValidationJobs(client, OPTS), o);
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
    const jobs = new ValidationJobs(client, { ...OPTS, maxJobs: 4, maxJobsPerNamespace: 3 });
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
});
