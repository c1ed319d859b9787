import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { CONDITION, getCondition } from '../../../src/api/conditions.js';
import { REASON } from '../../../src/api/reasons.js';
import type { ModelCheckpoint, ModelCheckpointStatus, RollbackPoint } from '../../../src/api/types.js';
import type { DeploymentFacts } from '../../../src/kube/facts.js';
import { earlierPointsOf, planAnalysisStep, planDrift, rollbackRefusal, rollbackPointOf } from '../../../src/controller/plan-deploy.js';
import { planRecordValidation, planRetryLater, planStall, planTransition, planWaiting } from '../../../src/controller/plan.js';
import { withPhase } from '../../../src/controller/status.js';
import type { ValidationReport } from '../../../src/validation/contract.js';

const NOW = '2026-01-01T00:00:00.000Z';

function checkpoint(status: ModelCheckpointStatus, name = 'cp-a', uid = 'uid-a', deployment = 'web'): ModelCheckpoint {
  return {
    apiVersion: 'modelgate.io/v1alpha1',
    kind: 'ModelCheckpoint',
    metadata: { name, namespace: 'ns', uid, generation: 1 },
    spec: { model: 'm', version: 'v1', artifact: { uri: 'https://x/m.onnx', digest: `sha256:${'a'.repeat(64)}` }, target: { deployment, container: 'server' } },
    status,
  } as ModelCheckpoint;
}

const facts: DeploymentFacts = { namespace: 'ns', name: 'web', generation: 3, observedGeneration: 3, revision: '7', annotations: {}, containers: [], replicas: 2, selector: {}, conditions: [] };

describe('controller/plan', () => {
  it('a stall is written and told once; the same stall again writes nothing', () => {
    const first = planStall({ phase: 'Pending', observedGeneration: 1 }, { reason: REASON.SecretNotFound, message: 'Secret s not found' }, 1, NOW);
    assert.equal(first.events.length, 1);
    assert.equal(first.result?.requeueAfterMs, 5_000, 'a missing Secret is looked for again soon');
    const again = planStall(first.status!, { reason: REASON.SecretNotFound, message: 'Secret s not found' }, 1, NOW);
    assert.equal(again.status, undefined);
    assert.deepEqual(again.events, []);
    const other = planStall(first.status!, { reason: REASON.TargetNotFound, message: 'gone' }, 1, NOW);
    assert.ok(other.status);
    assert.equal(other.result?.requeueAfterMs, 60_000);
  });

  it('waiting for the claim says so once, and asks again in 5 s', () => {
    const first = planWaiting({ phase: 'Validated', observedGeneration: 1 }, { kind: 'AwaitClaim', message: 'held by b' }, 1, NOW);
    assert.equal(getCondition(first.status!.conditions, CONDITION.reconciling)?.reason, REASON.AwaitingClaim);
    assert.equal(first.result?.requeueAfterMs, 5_000);
    assert.equal(planWaiting(first.status!, { kind: 'AwaitClaim', message: 'held by b' }, 1, NOW).status, undefined);
  });

  it('Deploying → Deployed records the deploy in the audit trail and the deployment in status', () => {
    const cp = checkpoint({ ...withPhase({}, 'Deploying', REASON.Deploying, 'deploying', 1, NOW), deployment: { deployedAt: NOW, deployment: 'web', rollbackPoint: { checkpoint: 'old', uid: 'u0', version: 'v0', digest: 'd0', uri: 'u' } } });
    const plan = planTransition(cp, facts, { to: 'Deployed', reason: REASON.RolloutProgressing, message: 'pods up' }, {}, NOW);
    assert.equal(plan.audit?.deployment, 'web');
    assert.equal(plan.audit?.entry.action, 'deploy');
    assert.equal(plan.audit?.entry.rollbackPoint, 'old');
    assert.equal(plan.status?.deployment?.revision, '7');
    assert.equal(plan.status?.deployment?.generation, 3);
    assert.equal(getCondition(plan.status!.conditions, CONDITION.deployed)?.status, 'True');
    assert.equal(plan.releaseClaim, false, 'Deployed still holds the claim');
    assert.deepEqual(plan.change, { from: 'Deploying', to: 'Deployed', reason: REASON.RolloutProgressing, message: 'pods up' });
  });

  it('leaving the claiming phases releases the claim; Failed and Rejected remove the files; Fetching starts the fetch', () => {
    const deploying = checkpoint(withPhase({}, 'Deploying', REASON.Deploying, 'x', 1, NOW));
    const failed = planTransition(deploying, undefined, { to: 'Failed', reason: 'RolloutFailed', message: 'no' }, {}, NOW);
    assert.equal(failed.releaseClaim, true);
    assert.equal(failed.cleanup, true);
    assert.equal(failed.events[0]?.type, 'Warning');
    assert.equal(failed.audit, undefined);
    const fetching = planTransition(checkpoint({}), undefined, { to: 'Fetching', reason: REASON.Fetching, message: 'f' }, {}, NOW);
    assert.equal(fetching.startFetch, true);
    assert.equal(fetching.releaseClaim, false);
    assert.equal(fetching.events[0]?.type, 'Normal');
    const validating = planTransition(checkpoint(withPhase({}, 'Fetching', REASON.Fetching, 'f', 1, NOW)), undefined, { to: 'Validating', reason: REASON.Fetched, message: 'ok' }, {}, NOW);
    assert.deepEqual(validating.clearJobs, ['fetch'], 'the finished fetch is forgotten once Validating is written');
  });

  it('a retry keeps the failed job until the status is written, then drops it', () => {
    const cp = checkpoint(withPhase({}, 'Validating', REASON.Validating, 'v', 1, NOW));
    const plan = planRetryLater(cp, { kind: 'RetryLater', retry: { phase: 'Validating', attempts: 2, nextAttemptAt: NOW, lastReason: 'FetchFailed', lastMessage: 'timeout' }, delayMs: 10_000, reason: 'FetchFailed', message: 'timeout' }, NOW);
    assert.deepEqual(plan.clearJobs, ['validate']);
    assert.equal(plan.status?.retry?.attempts, 2);
    assert.equal(plan.result?.requeueAfterMs, 10_000);
    assert.ok(plan.warn);
  });

  it('a finished validation: an Event per failed gate before the verdict, no severity when regression was not judged', () => {
    const cp = checkpoint({ ...withPhase({}, 'Validating', REASON.Validating, 'v', 1, NOW), severity: 'MINOR' });
    const report = {
      passed: false, reason: 'HoldoutFailed', message: 'accuracy 0.6 < 0.9',
      stages: [
        { stage: 'architecture', verdict: 'Passed', reason: 'ArchitectureOk', message: 'ok', summary: 'ok' },
        { stage: 'holdout', verdict: 'Failed', reason: 'HoldoutFailed', message: 'accuracy 0.6 < 0.9', summary: '0.6' },
      ],
    } as unknown as ValidationReport;
    const plan = planRecordValidation(cp, report, 'cp-a-report', NOW);
    assert.equal(plan.status?.phase, 'Rejected');
    assert.equal(plan.status?.severity, undefined, 'no regression judged: no severity, not the old one');
    assert.equal(plan.status?.reportConfigMap, 'cp-a-report');
    assert.deepEqual(plan.events.map((e) => e.action), ['Gate:holdout', 'Rejected']);
    assert.deepEqual(plan.clearJobs, ['validate']);
    assert.equal(plan.cleanup, true);
  });

  it('a hold of the live guard tells one Event when it starts, none while it lasts', () => {
    const status = withPhase({}, 'Monitoring', REASON.Monitoring, 'm', 1, NOW);
    const out = { action: 'Hold' as const, reason: 'NoData', message: 'no samples', requeueAfterMs: 30_000, analysis: {} };
    const first = planAnalysisStep(status, out, 1, NOW);
    assert.equal(first.events.length, 1);
    const second = planAnalysisStep(first.status!, out, 1, NOW);
    assert.equal(second.status, undefined);
    assert.equal(second.events.length, 0);
  });

  it('drift is said once', () => {
    const first = planDrift(withPhase({}, 'Healthy', REASON.Healthy, 'h', 1, NOW), 'changed by hand', 1, NOW);
    assert.equal(first.events[0]?.reason, REASON.Drift);
    assert.equal(planDrift(first.status!, 'changed by hand', 1, NOW).status, undefined);
  });

  it('rollback points: what runs now, then the chain the replaced checkpoint kept, without the candidate', () => {
    assert.equal(rollbackPointOf({ uid: 'u1', checkpoint: 'a' }, facts), undefined, 'no digest recorded: no point');
    const point = rollbackPointOf({ uid: 'u1', checkpoint: 'a', digest: 'd1', version: 'v1', envUri: 's3://b/a' }, facts)!;
    assert.equal(point.deploymentRevision, '7');
    assert.equal(point.uri, 's3://b/a');
    const chain: RollbackPoint[] = [{ checkpoint: 'c', uid: 'uid-a', version: 'v', digest: 'd', uri: 'u' }, { checkpoint: 'b', uid: 'u2', version: 'v', digest: 'd', uri: 'u' }];
    const prev = checkpoint({ deployment: { deployedAt: NOW, deployment: 'web', rollbackPoint: chain[0], earlierRollbackPoints: [chain[1]!] } }, 'a', 'u1');
    assert.deepEqual(earlierPointsOf(prev, point, 'uid-a', 4).map((p) => p.checkpoint), ['b'], 'the candidate itself is dropped from the chain');
    assert.deepEqual(earlierPointsOf(prev, point, 'uid-a', 0), []);
    assert.deepEqual(earlierPointsOf(checkpoint({}, 'a', 'other'), point, 'uid-a', 4), [], 'a recreated checkpoint of the same name keeps no chain');
  });

  it('a rollback to a named checkpoint is refused with the reason a person can act on', () => {
    const cp = checkpoint({});
    assert.match(rollbackRefusal(cp, undefined, 'x')!, /no checkpoint named x/);
    assert.match(rollbackRefusal(cp, cp, 'cp-a')!, /cannot roll back to itself/);
    assert.match(rollbackRefusal(cp, checkpoint({}, 'b', 'u2'), 'b')!, /never deployed to Deployment web/);
    const rejected = checkpoint({ phase: 'Rejected', deployment: { deployedAt: NOW, deployment: 'web' } }, 'b', 'u2');
    assert.match(rollbackRefusal(cp, rejected, 'b')!, /b is Rejected/);
    assert.equal(rollbackRefusal(cp, checkpoint({ phase: 'Superseded', deployment: { deployedAt: NOW, deployment: 'web' } }, 'b', 'u2'), 'b'), undefined);
  });

  it('no I/O module of src/controller/ sets a condition: status comes from a planner', () => {
    const dir = path.join(import.meta.dirname, '../../../src/controller');
    const pure = new Set(['plan.ts', 'plan-deploy.ts', 'status.ts', 'phases.ts', 'view.ts', 'rollout.ts']);
    const offenders = readdirSync(dir).filter((f) => f.endsWith('.ts') && !pure.has(f)).filter((f) => /from '\.\/status\.js'|setCondition\(/.test(readFileSync(path.join(dir, f), 'utf8')));
    assert.deepEqual(offenders, []);
  });
});
