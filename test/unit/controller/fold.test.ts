// Folding the writes of phases that take no time: which steps may be folded (phases.ts, pure),
// what a folded reconcile keeps in memory until its write lands (fold.ts), and the job wait
// that lets a reconcile see work that took no time (jobs.ts). The reconcile itself, against a
// real apiserver, is test/integration/controller/fold.test.ts.
import assert from 'node:assert/strict';
import { PHASES, type ModelCheckpoint, type ModelCheckpointStatus, type Phase } from '../../../src/api/types.js';
import { FoldedWrites } from '../../../src/controller/fold.js';
import { JobRegistry } from '../../../src/controller/jobs.js';
import { awaitedJob, canTransition, CLAIMING_PHASES, decide, foldable, LIVE_PHASES, type JobView, type TargetView, type View } from '../../../src/controller/phases.js';

const UID = 'uid-self';
const DIGEST = `sha256:${'a'.repeat(64)}`;

function view(phase: Phase | undefined, job: JobView = { state: 'none' }, target: TargetView = { exists: true, containerFound: true, claimLive: false }): View {
  return {
    uid: UID,
    generation: 1,
    deleting: false,
    hasFinalizer: true,
    spec: { model: 'm', version: '1', artifact: { uri: 'file:///m.onnx', digest: DIGEST }, target: { deployment: 'ranker', container: 'server' } },
    status: phase === undefined ? {} : { phase, observedGeneration: 1 },
    target,
    job,
  };
}

describe('controller/phases foldable', () => {
  it('a pre-validated checkpoint folds Pending → Fetching → Validating → Validated, and the claim ends the chain', () => {
    const chain: Array<[View, string, boolean, string | undefined]> = [
      [view(undefined), 'Transition:Fetching', true, 'fetch'],
      [view('Fetching', { state: 'succeeded' }), 'Transition:Validating', true, undefined],
      [view('Validating'), 'StartValidate', true, 'validate'],
      [view('Validating', { state: 'succeeded' }), 'RecordValidation', true, undefined],
      [view('Validated'), 'ClaimAndDeploy', false, undefined],
    ];
    for (const [v, kind, fold, job] of chain) {
      const step = decide(v);
      assert.equal(step.kind === 'Transition' ? `Transition:${step.to}` : step.kind, kind);
      assert.equal(foldable(v, step), fold, `${kind} foldable`);
      assert.equal(awaitedJob(step), job, `${kind} waits for`);
    }
  });

  it('work still running, a stall, a wait or a failure ends the chain', () => {
    assert.equal(foldable(view('Fetching', { state: 'running' }), decide(view('Fetching', { state: 'running' }))), false);
    assert.equal(foldable(view('Pending', undefined, { exists: false }), decide(view('Pending', undefined, { exists: false }))), false);
    const failed = view('Validating', { state: 'failed', reason: 'X', message: 'x', terminal: true });
    assert.equal(foldable(failed, decide(failed)), false);
    const retry = view('Fetching', { state: 'failed', reason: 'X', message: 'x', terminal: false });
    assert.equal(foldable(retry, decide(retry)), false);
  });

  it('over every phase, job state and target shape: only steps towards Validated fold, never a claim, a patch or a finalizer', () => {
    const jobs: JobView[] = [{ state: 'none' }, { state: 'running' }, { state: 'succeeded' }, { state: 'failed', reason: 'X', message: 'x', terminal: false }, { state: 'failed', reason: 'X', message: 'x', terminal: true }];
    const targets: TargetView[] = [
      { exists: false },
      { exists: true, containerFound: false, claimLive: false },
      { exists: true, containerFound: true, claimLive: false },
      { exists: true, containerFound: true, claimUid: 'uid-other', claimLive: true, runningUid: 'uid-other', runningDigest: DIGEST },
      { exists: true, containerFound: true, claimUid: UID, claimLive: true, runningUid: UID, runningDigest: DIGEST, envDigest: DIGEST },
    ];
    let folded = 0;
    for (const phase of [undefined, ...PHASES]) {
      for (const job of jobs) {
        for (const target of targets) {
          for (const deleting of [false, true]) {
            for (const hasFinalizer of [true, false]) {
              const v = { ...view(phase, job, target), deleting, hasFinalizer };
              const step = decide(v);
              if (!foldable(v, step)) continue;
              folded++;
              assert.ok(['Transition', 'StartFetch', 'StartValidate', 'RecordValidation'].includes(step.kind), step.kind);
              const from = phase ?? 'Pending';
              assert.ok(['Pending', 'Fetching', 'Validating'].includes(from), `folds only on the way to Validated, not from ${from}`);
              assert.ok(!CLAIMING_PHASES.has(from) && !LIVE_PHASES.has(from));
              if (step.kind === 'Transition') assert.ok(canTransition(from, step.to) && ['Fetching', 'Validating'].includes(step.to), `${from} -> ${step.to}`);
            }
          }
        }
      }
    }
    assert.ok(folded > 0);
  });
});

describe('controller/fold FoldedWrites', () => {
  const cp = { apiVersion: 'modelgate.io/v1alpha1', kind: 'ModelCheckpoint', metadata: { name: 'v1', namespace: 'ns', resourceVersion: '7' }, spec: {} } as unknown as ModelCheckpoint;

  it('keeps the last status in memory on the same resourceVersion, and runs what waited once it lands, in order', async () => {
    const fold = new FoldedWrites('uid-v1');
    assert.equal(fold.current(cp), cp, 'nothing deferred: the checkpoint as it was');
    const a: ModelCheckpointStatus = { phase: 'Fetching' };
    const b: ModelCheckpointStatus = { phase: 'Validating' };
    assert.deepEqual(fold.defer(cp, a).status, a);
    const seen = fold.defer(cp, b);
    assert.equal(seen.metadata.resourceVersion, '7', 'the write that lands is conditional on the version the chain started from');
    assert.deepEqual(fold.current(cp).status, b);
    assert.deepEqual(fold.pending, b);
    const ran: string[] = [];
    fold.queue(() => void ran.push('Fetching event'));
    fold.queue(async () => {
      await Promise.resolve();
      ran.push('Validating event');
    });
    assert.deepEqual(ran, [], 'nothing runs before the write lands');
    await fold.landed();
    assert.deepEqual(ran, ['Fetching event', 'Validating event']);
    assert.equal(fold.pending, undefined);
    await fold.landed();
    assert.deepEqual(ran, ['Fetching event', 'Validating event'], 'each runs once');
  });
});

describe('controller/fold FoldedWrites.before', () => {
  it('ready() waits for the writes the status must follow, and throws the first failure', async () => {
    const fold = new FoldedWrites('uid-v1');
    let done = false;
    fold.before(new Promise<void>((r) => setTimeout(() => {
      done = true;
      r();
    }, 20)));
    await fold.ready();
    assert.ok(done, 'the report ConfigMap write finished before the status may go');
    fold.before(Promise.reject(new Error('quota exceeded')));
    await assert.rejects(fold.ready(), /quota exceeded/);
    await fold.ready();
  });
});

describe('controller/jobs JobRegistry.settled', () => {
  it('returns as soon as the job is done', async () => {
    const jobs = new JobRegistry(() => undefined);
    jobs.start('u1', 'fetch', 1, async () => 1);
    const t = performance.now();
    await jobs.settled('u1', 'fetch', 1, 10_000);
    assert.ok(performance.now() - t < 1000);
    assert.equal(jobs.get('u1', 'fetch', 1)?.state, 'succeeded', 'the outcome is there when it returns');
  });

  it('gives up after the window while the job runs, and returns at once for no such job', async () => {
    const jobs = new JobRegistry(() => undefined);
    jobs.start('u1', 'validate', 1, () => new Promise(() => undefined));
    const t = performance.now();
    await jobs.settled('u1', 'validate', 1, 30);
    const waited = performance.now() - t;
    assert.ok(waited >= 25 && waited < 2000, `waited ${waited} ms`);
    assert.equal(jobs.get('u1', 'validate', 1)?.state, 'running');
    const t2 = performance.now();
    await jobs.settled('u1', 'fetch', 1, 10_000);
    await jobs.settled('u2', 'fetch', 1, 10_000);
    assert.ok(performance.now() - t2 < 1000);
    jobs.cancelAll();
  });
});
