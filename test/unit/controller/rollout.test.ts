import assert from 'node:assert/strict';
import { judgeRollout, lastWords, type PodFacts, type ReplicaSetFacts, type RolloutInput } from '../../../src/controller/rollout.js';

const UID = 'uid-new';
const NEW_RS: ReplicaSetFacts = { name: 'ranker-7f9c', uid: 'rs-new', checkpointUid: UID, revision: '3', specReplicas: 2, replicas: 2, availableReplicas: 2, observed: true };
const OLD_RS: ReplicaSetFacts = { name: 'ranker-5d2a', uid: 'rs-old', checkpointUid: 'uid-old', revision: '2', specReplicas: 0, replicas: 0, availableReplicas: 0, observed: true };
const done = { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', message: 'ReplicaSet "ranker-7f9c" has successfully progressed.' };

const pod = (name: string, over: Partial<PodFacts> = {}): PodFacts => ({
  name, ownerUid: 'rs-new', phase: 'Running', ready: true, deleting: false,
  containers: [{ name: 'server', ready: true, restartCount: 0 }], ...over,
});

const input = (over: Partial<RolloutInput> = {}): RolloutInput => ({
  desired: 2,
  conditions: [done],
  replicaSets: [NEW_RS, OLD_RS],
  pods: [pod('ranker-7f9c-a'), pod('ranker-7f9c-b')],
  checkpointUid: UID,
  nowMs: 100_000,
  maxRestarts: 2,
  ...over,
});

describe('controller/rollout judgeRollout', () => {
  it('is Available when the new ReplicaSet has every pod available and old ones are gone, saying when the Deployment confirms it', () => {
    const r = judgeRollout(input());
    assert.equal(r.state, 'Available');
    assert.equal(r.reason, 'NewReplicaSetAvailable');
    assert.equal(r.revision, '3');
    assert.deepEqual([r.desired, r.updated, r.ready, r.available], [2, 2, 2, 2]);
    assert.match(r.message, /2\/2 pods available on ReplicaSet ranker-7f9c \(revision 3\); the Deployment reports NewReplicaSetAvailable/);
    // A Deployment whose status others' writes keep the controller from updating: the
    // ReplicaSets, which its condition is computed from, decide.
    const unconfirmed = judgeRollout(input({ conditions: [{ ...done, reason: 'ReplicaSetUpdated', message: 'ReplicaSet "ranker-7f9c" is progressing.' }] }));
    assert.equal(unconfirmed.state, 'Available');
    assert.doesNotMatch(unconfirmed.message, /reports/);
  });

  it('is not Available while old pods still run, pods are not yet available, or the ReplicaSet status is for an older spec', () => {
    assert.equal(judgeRollout(input({ replicaSets: [NEW_RS, { ...OLD_RS, replicas: 1, specReplicas: 1 }] })).state, 'Progressing');
    assert.match(judgeRollout(input({ replicaSets: [NEW_RS, { ...OLD_RS, replicas: 1 }] })).message, /1 old pod\(s\) still running/);
    assert.equal(judgeRollout(input({ replicaSets: [{ ...NEW_RS, availableReplicas: 1 }, OLD_RS] })).state, 'Progressing');
    assert.equal(judgeRollout(input({ replicaSets: [{ ...NEW_RS, specReplicas: 1 }, OLD_RS] })).state, 'Progressing');
    // Scaled back up (a rollback to it): counts from before the scale are not the answer.
    assert.equal(judgeRollout(input({ replicaSets: [{ ...NEW_RS, observed: false }, OLD_RS] })).state, 'Progressing');
  });

  it('waits for the ReplicaSet of this checkpoint before anything else', () => {
    const r = judgeRollout(input({ replicaSets: [OLD_RS], pods: [pod('ranker-5d2a-a', { ownerUid: 'rs-old' })] }));
    assert.equal(r.state, 'Progressing');
    assert.equal(r.reason, 'ReplicaSetPending');
    assert.equal(r.updated, 0);
  });

  it('fails at once on an OOMKilled container, quoting exit code and restarts', () => {
    const oom = pod('ranker-7f9c-a', { ready: false, containers: [{ name: 'server', ready: false, restartCount: 1, lastTerminated: { reason: 'OOMKilled', exitCode: 137 } }] });
    const r = judgeRollout(input({ pods: [oom, pod('ranker-7f9c-b')], replicaSets: [{ ...NEW_RS, availableReplicas: 1 }, OLD_RS] }));
    assert.equal(r.state, 'Failed');
    assert.equal(r.reason, 'OOMKilled');
    assert.deepEqual(r.problems[0], { pod: 'ranker-7f9c-a', container: 'server', restarts: 1, reason: 'OOMKilled', message: 'OOMKilled', exitCode: 137 });
    assert.match(r.message, /pod ranker-7f9c-a container server: OOMKilled, exit code 137, 1 restart\(s\)/);
  });

  it('counts a crash loop at maxRestarts, not before, and quotes the termination message', () => {
    const crashing = (restarts: number): PodFacts => pod('ranker-7f9c-a', {
      ready: false,
      containers: [{ name: 'server', ready: false, restartCount: restarts, waiting: { reason: 'CrashLoopBackOff', message: 'back-off 10s restarting failed container' }, lastTerminated: { reason: 'Error', exitCode: 3, message: 'MODEL_URI http://store/m.onnx was not loaded (DigestMismatch)' } }],
    });
    const once = judgeRollout(input({ pods: [crashing(1)], replicaSets: [{ ...NEW_RS, availableReplicas: 0 }, OLD_RS] }));
    assert.equal(once.state, 'Progressing');
    assert.equal(once.problems[0]?.reason, 'Restarting');
    const loop = judgeRollout(input({ pods: [crashing(2)], replicaSets: [{ ...NEW_RS, availableReplicas: 0 }, OLD_RS] }));
    assert.equal(loop.state, 'Failed');
    assert.equal(loop.reason, 'CrashLoopBackOff');
    assert.match(loop.message, /exit code 3, 2 restart\(s\): MODEL_URI http:\/\/store\/m\.onnx was not loaded \(DigestMismatch\)/);
  });

  it('quotes the last line of a termination message made of log lines, capped', () => {
    const logs = '{"message":"listening"}\n{"message":"fetching"}\n{"level":"error","message":"MODEL_URI x was not loaded (DigestMismatch)"}\n';
    const p = pod('ranker-7f9c-a', { ready: false, containers: [{ name: 'server', ready: false, restartCount: 2, lastTerminated: { reason: 'Error', exitCode: 3, message: logs } }] });
    const r = judgeRollout(input({ pods: [p], replicaSets: [{ ...NEW_RS, availableReplicas: 0 }, OLD_RS] }));
    assert.equal(r.problems[0]?.message, '{"level":"error","message":"MODEL_URI x was not loaded (DigestMismatch)"}');
    assert.equal(lastWords('x'.repeat(1000)).length, 600);
  });

  it('fails at once on an image that cannot be pulled or a container that cannot be created', () => {
    for (const reason of ['ImagePullBackOff', 'ErrImageNeverPull', 'CreateContainerConfigError']) {
      const p = pod('ranker-7f9c-a', { phase: 'Pending', ready: false, containers: [{ name: 'server', ready: false, restartCount: 0, waiting: { reason, message: `why ${reason}` } }] });
      const r = judgeRollout(input({ pods: [p], replicaSets: [{ ...NEW_RS, availableReplicas: 0 }, OLD_RS] }));
      assert.equal(r.state, 'Failed', reason);
      assert.equal(r.reason, reason);
      assert.match(r.message, new RegExp(`why ${reason}`));
    }
  });

  it('fails on the Deployment controller\'s ProgressDeadlineExceeded for this ReplicaSet, quoting the pods', () => {
    const notReady = pod('ranker-7f9c-a', { ready: false, containers: [{ name: 'server', ready: false, restartCount: 0 }] });
    const deadline = { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "ranker-7f9c" has timed out progressing.' };
    const r = judgeRollout(input({ conditions: [deadline], pods: [notReady], replicaSets: [{ ...NEW_RS, availableReplicas: 0 }, OLD_RS] }));
    assert.equal(r.state, 'Failed');
    assert.equal(r.reason, 'ProgressDeadlineExceeded');
    assert.match(r.message, /timed out progressing.*NotReady: running, readiness probe not passing/);
    // The same condition about an older ReplicaSet is not this rollout's failure.
    const old = judgeRollout(input({ conditions: [{ ...deadline, message: 'ReplicaSet "ranker-5d2a" has timed out progressing.' }], pods: [notReady], replicaSets: [{ ...NEW_RS, availableReplicas: 0 }, OLD_RS] }));
    assert.equal(old.state, 'Progressing');
  });

  it('fails when spec.rollout.progressDeadlineSeconds passes without every pod available, not before', () => {
    const notReady = pod('ranker-7f9c-a', { ready: false, containers: [{ name: 'server', ready: false, restartCount: 0 }] });
    const base = input({ conditions: [], pods: [notReady], replicaSets: [{ ...NEW_RS, availableReplicas: 0 }, OLD_RS], startedAtMs: 0, deadlineSeconds: 30 });
    assert.equal(judgeRollout({ ...base, nowMs: 29_000 }).state, 'Progressing');
    const late = judgeRollout({ ...base, nowMs: 31_000 });
    assert.equal(late.state, 'Failed');
    assert.equal(late.reason, 'ProgressDeadlineExceeded');
    assert.match(late.message, /progressDeadlineSeconds \(30 s\) passed with 0\/2 pods available; pod ranker-7f9c-a container server: NotReady/);
    // No deadline given: waits.
    assert.equal(judgeRollout({ ...base, nowMs: 10_000_000, deadlineSeconds: undefined }).state, 'Progressing');
  });

  it('reports unschedulable pods while it waits, and ignores pods being deleted and pods of other ReplicaSets', () => {
    const pending = pod('ranker-7f9c-a', { phase: 'Pending', ready: false, unschedulable: 'Unschedulable: 0/1 nodes are available: 1 Insufficient memory.', containers: [] });
    const r = judgeRollout(input({ pods: [pending, pod('ranker-7f9c-x', { deleting: true }), pod('ranker-5d2a-a', { ownerUid: 'rs-old' })], replicaSets: [{ ...NEW_RS, availableReplicas: 0 }, OLD_RS] }));
    assert.equal(r.state, 'Progressing');
    assert.equal(r.updated, 1);
    assert.match(r.message, /Insufficient memory/);
  });

  it('orders problems worst first and keeps at most five', () => {
    const many = Array.from({ length: 8 }, (_, k) => pod(`ranker-7f9c-${k}`, { ready: false, containers: [{ name: 'server', ready: false, restartCount: 0 }] }));
    many.push(pod('ranker-7f9c-oom', { ready: false, containers: [{ name: 'server', ready: false, restartCount: 0, terminated: { reason: 'OOMKilled', exitCode: 137 } }] }));
    const r = judgeRollout(input({ desired: 9, pods: many, replicaSets: [{ ...NEW_RS, specReplicas: 9, availableReplicas: 0 }, OLD_RS] }));
    assert.equal(r.problems.length, 5);
    assert.equal(r.problems[0]?.reason, 'OOMKilled');
    assert.equal(r.state, 'Failed');
  });
});
