import assert from 'node:assert/strict';
import { CONDITION, getCondition } from '../../../src/api/conditions.js';
import type { Condition, ModelCheckpointStatus, Phase, StageResult } from '../../../src/api/types.js';
import { kstatusOf } from '../../../src/controller/phases.js';
import { HISTORY_LIMIT, appendHistory, restarted, sameStatus, withAnalysisCondition, withDeployed, withDrift, withPhase, withStages, withStall, withWaiting } from '../../../src/controller/status.js';

const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-01T00:01:00.000Z';
const T2 = '2026-01-01T00:02:00.000Z';

function cond(status: ModelCheckpointStatus, type: string): Condition {
  const c = getCondition(status.conditions, type);
  assert.ok(c, `condition ${type} missing in ${JSON.stringify(status.conditions)}`);
  return c;
}

/** Ready/Reconciling/Stalled match kstatusOf and exist once each. */
function assertKstatus(status: ModelCheckpointStatus, phase: Phase, stalledReason?: string): void {
  const k = kstatusOf(phase, stalledReason);
  const b = (x: boolean): string => (x ? 'True' : 'False');
  assert.equal(cond(status, CONDITION.ready).status, b(k.ready));
  assert.equal(cond(status, CONDITION.reconciling).status, b(k.reconciling));
  assert.equal(cond(status, CONDITION.stalled).status, b(k.stalled));
  for (const t of [CONDITION.ready, CONDITION.reconciling, CONDITION.stalled]) {
    assert.equal(status.conditions!.filter((c) => c.type === t).length, 1, t);
  }
}

const pick = (c: Condition | undefined): unknown[] => [c?.status, c?.reason, c?.message, c?.observedGeneration];

describe('controller/status withPhase', () => {
  it('sets phase, observedGeneration, conditions and one history entry', () => {
    const s = withPhase({}, 'Fetching', 'Fetching', 'fetching x', 2, T0);
    assert.equal(s.phase, 'Fetching');
    assert.equal(s.observedGeneration, 2);
    assert.deepEqual(s.history, [{ time: T0, phase: 'Fetching', reason: 'Fetching', message: 'fetching x', generation: 2 }]);
    assertKstatus(s, 'Fetching');
    const ready = cond(s, CONDITION.ready);
    assert.equal(ready.reason, 'Fetching');
    assert.equal(ready.message, 'fetching x');
    assert.equal(ready.observedGeneration, 2);
    assert.equal(ready.lastTransitionTime, T0);
    const rec = cond(s, CONDITION.reconciling);
    assert.equal(rec.reason, 'Fetching');
    assert.equal(rec.message, 'fetching x');
    assert.equal(cond(s, CONDITION.stalled).reason, 'Fetching');
  });

  it('appends history only when the phase changes', () => {
    let s = withPhase({}, 'Pending', 'Pending', 'a', 1, T0);
    s = withPhase(s, 'Pending', 'Pending', 'b', 1, T1);
    assert.equal(s.history!.length, 1);
    s = withPhase(s, 'Fetching', 'Fetching', 'c', 1, T2);
    assert.deepEqual(s.history!.map((h) => h.phase), ['Pending', 'Fetching']);
  });

  it('caps history at the last 10 entries', () => {
    const phases: Phase[] = ['Pending', 'Fetching', 'Validating', 'Validated', 'Deploying', 'Deployed', 'Monitoring', 'Healthy', 'Superseded', 'Deployed', 'Monitoring', 'Healthy', 'RolledBack'];
    let s: ModelCheckpointStatus = {};
    phases.forEach((p, i) => {
      s = withPhase(s, p, p, `step ${i}`, 1, T0);
    });
    assert.equal(HISTORY_LIMIT, 10);
    assert.equal(s.history!.length, 10);
    assert.deepEqual(s.history!.map((h) => h.message), phases.map((_, i) => `step ${i}`).slice(-10));
    assert.equal(s.history!.at(-1)!.phase, 'RolledBack');
  });

  it('does not mutate the input status', () => {
    const input = withPhase({}, 'Pending', 'Pending', 'a', 1, T0);
    const snapshot = structuredClone(input);
    withPhase(input, 'Fetching', 'Fetching', 'b', 1, T1);
    assert.deepEqual(input, snapshot);
  });

  it('keeps other fields (stages, deployment, severity)', () => {
    const base: ModelCheckpointStatus = { severity: 'MINOR', deployment: { deployedAt: T0, deployment: 'd' }, reportConfigMap: 'r' };
    const s = withPhase(base, 'Deployed', 'Deployed', 'ok', 1, T1);
    assert.equal(s.severity, 'MINOR');
    assert.equal(s.reportConfigMap, 'r');
    assert.deepEqual(s.deployment, base.deployment);
  });

  it('sets Ready/Reconciling/Stalled consistently for every phase', () => {
    const all: Phase[] = ['Pending', 'Fetching', 'Validating', 'Validated', 'Deploying', 'Deployed', 'Monitoring', 'Healthy', 'Rejected', 'Failed', 'RolledBack', 'Superseded'];
    for (const p of all) {
      // from a status where every condition says the opposite
      const s = withPhase(withPhase({}, 'Healthy', 'Healthy', 'h', 1, T0), p, 'R', 'm', 1, T1);
      assertKstatus(s, p);
    }
  });

  it('terminal phases put the reason on Stalled; non-stalled conditions say the phase', () => {
    const s = withPhase({}, 'Rejected', 'HoldoutFailed', 'auc too low', 1, T0);
    const stalled = cond(s, CONDITION.stalled);
    assert.equal(stalled.status, 'True');
    assert.equal(stalled.reason, 'HoldoutFailed');
    assert.equal(stalled.message, 'auc too low');
    const rec = cond(s, CONDITION.reconciling);
    assert.equal(rec.status, 'False');
    assert.equal(rec.reason, 'Rejected');
    assert.equal(rec.message, 'phase Rejected');
  });

  it('keeps lastTransitionTime of a condition whose status did not change', () => {
    let s = withPhase({}, 'Pending', 'Pending', 'a', 1, T0);
    s = withPhase(s, 'Fetching', 'Fetching', 'b', 1, T1);
    assert.equal(cond(s, CONDITION.ready).lastTransitionTime, T0); // False → False
    assert.equal(cond(s, CONDITION.reconciling).lastTransitionTime, T0); // True → True
    assert.equal(cond(s, CONDITION.ready).message, 'b'); // but the message moves on
    s = withPhase(s, 'Deployed', 'Deployed', 'c', 1, T2);
    assert.equal(cond(s, CONDITION.ready).lastTransitionTime, T2); // False → True
    assert.equal(cond(s, CONDITION.reconciling).lastTransitionTime, T0);
    s = withPhase(s, 'Healthy', 'Healthy', 'd', 1, T2);
    assert.equal(cond(s, CONDITION.reconciling).status, 'False');
    assert.equal(cond(s, CONDITION.reconciling).lastTransitionTime, T2);
  });
});

describe('controller/status withStall and withWaiting', () => {
  it('withStall sets Stalled True with the reason, keeps the phase and adds no history', () => {
    const before = withPhase({}, 'Pending', 'Pending', 'accepted', 1, T0);
    const s = withStall(before, 'Pending', 'TargetNotFound', 'no Deployment ranker', 2, T1);
    assert.equal(s.phase, 'Pending');
    assert.equal(s.observedGeneration, 2);
    assert.deepEqual(s.history, before.history);
    assertKstatus(s, 'Pending', 'TargetNotFound');
    const st = cond(s, CONDITION.stalled);
    assert.equal(st.reason, 'TargetNotFound');
    assert.equal(st.message, 'no Deployment ranker');
    assert.equal(st.lastTransitionTime, T1);
    assert.equal(cond(s, CONDITION.reconciling).status, 'False');
  });

  it('a live checkpoint whose target vanished is not Ready while stalled', () => {
    const s = withStall(withPhase({}, 'Healthy', 'Healthy', 'ok', 1, T0), 'Healthy', 'TargetNotFound', 'gone', 1, T1);
    assert.equal(cond(s, CONDITION.ready).status, 'False');
    assert.equal(cond(s, CONDITION.stalled).status, 'True');
  });

  it('leaving a stall clears Stalled', () => {
    const stalled = withStall(withPhase({}, 'Pending', 'Pending', 'a', 1, T0), 'Pending', 'TargetNotFound', 'x', 1, T1);
    const s = withPhase(stalled, 'Fetching', 'Fetching', 'f', 1, T2);
    assertKstatus(s, 'Fetching');
    assert.equal(cond(s, CONDITION.stalled).lastTransitionTime, T2);
  });

  it('withWaiting keeps Reconciling True with the reason and message, not Stalled, no history', () => {
    const before = withPhase({}, 'Validated', 'Validated', 'passed', 1, T0);
    const s = withWaiting(before, 'Validated', 'AwaitingClaim', 'waiting for ctr-v1', 1, T1);
    assert.equal(s.phase, 'Validated');
    assertKstatus(s, 'Validated');
    const rec = cond(s, CONDITION.reconciling);
    assert.equal(rec.status, 'True');
    assert.equal(rec.reason, 'AwaitingClaim');
    assert.equal(rec.message, 'waiting for ctr-v1');
    assert.equal(rec.lastTransitionTime, T0);
    assert.equal(s.history!.length, 1);
  });

  it('withWaiting after withStall un-stalls', () => {
    const stalled = withStall(withPhase({}, 'Validated', 'Validated', 'p', 1, T0), 'Validated', 'TargetNotFound', 'x', 1, T1);
    const s = withWaiting(stalled, 'Validated', 'Paused', 'paused', 1, T2);
    assert.equal(cond(s, CONDITION.stalled).status, 'False');
    assert.equal(cond(s, CONDITION.reconciling).status, 'True');
  });
});

describe('controller/status withStages', () => {
  const stages: StageResult[] = [
    { stage: 'fetch', verdict: 'Passed', reason: 'Fetched', message: 'ok' },
    { stage: 'architecture', verdict: 'Skipped', reason: 'PolicySkip', message: 'skipped' },
    { stage: 'holdout', verdict: 'Failed', reason: 'ThresholdNotMet', message: 'auc 0.6 < 0.7' },
    { stage: 'benchmark', verdict: 'Error', reason: 'BenchmarkError', message: 'crashed' },
    { stage: 'regression', verdict: 'Passed', reason: 'NoRegression', message: 'fine', severity: 'NONE' },
  ];

  it('sets one condition per stage; Passed and Skipped count True, Failed and Error False', () => {
    const s = withStages({}, stages, 4, T0);
    const expected: Record<string, [string, string]> = {
      [CONDITION.fetched]: ['True', 'Fetched'],
      [CONDITION.architecture]: ['True', 'PolicySkip'],
      [CONDITION.holdout]: ['False', 'ThresholdNotMet'],
      [CONDITION.benchmark]: ['False', 'BenchmarkError'],
      [CONDITION.regression]: ['True', 'NoRegression'],
    };
    assert.equal(s.conditions!.length, 5);
    for (const [type, [status, reason]] of Object.entries(expected)) {
      const c = cond(s, type);
      assert.equal(c.status, status, type);
      assert.equal(c.reason, reason, type);
      assert.equal(c.observedGeneration, 4);
    }
    assert.deepEqual(s.stages, stages);
    assert.notEqual(s.stages, stages, 'copies the list');
  });

  it('updates stage conditions in place and keeps other conditions', () => {
    const first = withStages(withPhase({}, 'Validating', 'Validating', 'v', 1, T0), stages, 1, T0);
    const again = withStages(first, [{ stage: 'holdout', verdict: 'Passed', reason: 'Passed', message: 'ok now' }], 2, T1);
    assert.equal(again.conditions!.filter((c) => c.type === CONDITION.holdout).length, 1);
    assert.equal(cond(again, CONDITION.holdout).status, 'True');
    assert.equal(cond(again, CONDITION.holdout).lastTransitionTime, T1);
    assert.equal(cond(again, CONDITION.fetched).lastTransitionTime, T0);
    assert.ok(getCondition(again.conditions, CONDITION.ready));
    assert.deepEqual(again.stages!.map((x) => x.stage), ['holdout']);
  });
});

describe('controller/status restarted', () => {
  const old: ModelCheckpointStatus = (() => {
    let s = withPhase({}, 'Validating', 'Validating', 'v', 1, T0);
    s = withStages(s, [{ stage: 'fetch', verdict: 'Passed', reason: 'Fetched', message: 'ok' }], 1, T0);
    s = withPhase(s, 'Deployed', 'Deployed', 'd', 1, T0);
    return {
      ...s,
      conditions: [...s.conditions!, { type: CONDITION.deployed, status: 'True', reason: 'Deployed', message: 'rev 3', observedGeneration: 1, lastTransitionTime: T0 }, { type: CONDITION.analysis, status: 'True', reason: 'Healthy', message: 'fine', observedGeneration: 1, lastTransitionTime: T0 }],
      severity: 'MODERATE',
      reportConfigMap: 'ctr-v2-report',
      analysis: { startedAt: T0, decision: 'Continue' },
      deployment: { deployedAt: T0, deployment: 'ranker', revision: '3' },
      rolledBackGeneration: 1,
      validatedAgainst: { checkpoint: 'ctr-v1', digest: 'sha256:x' },
    };
  })();

  it('drops the old results and starts Pending at the new generation', () => {
    const s = restarted(old, 2, 'spec changed', T1);
    assert.equal(s.phase, 'Pending');
    assert.equal(s.observedGeneration, 2);
    assert.equal(s.stages, undefined);
    assert.equal(s.severity, undefined);
    assert.equal(s.reportConfigMap, undefined);
    assert.equal(s.analysis, undefined);
    assert.equal(s.validatedAgainst, undefined);
    assert.equal(getCondition(s.conditions, CONDITION.fetched), undefined);
    assert.equal(getCondition(s.conditions, CONDITION.analysis), undefined);
  });

  it('keeps the deployment record, rolledBackGeneration and history (plus the restart)', () => {
    const s = restarted(old, 2, 'spec changed', T1);
    assert.deepEqual(s.deployment, old.deployment);
    assert.equal(s.rolledBackGeneration, 1);
    assert.deepEqual(s.history!.slice(0, -1), old.history);
    assert.deepEqual(s.history!.at(-1), { time: T1, phase: 'Pending', reason: 'SpecChanged', message: 'spec changed', generation: 2 });
    assert.equal(cond(s, CONDITION.deployed).status, 'True');
  });

  it('sets kstatus for Pending: Reconciling True, not Ready', () => {
    const s = restarted(old, 2, 'spec changed', T1);
    assertKstatus(s, 'Pending');
    assert.equal(cond(s, CONDITION.ready).reason, 'SpecChanged');
    assert.equal(cond(s, CONDITION.ready).lastTransitionTime, T1); // True → False
  });

  it('appends a history entry even when restarting from Pending', () => {
    const pending = withPhase({}, 'Pending', 'Pending', 'a', 1, T0);
    const s = restarted(pending, 2, 'again', T1);
    assert.equal(s.history!.length, 2);
  });
});

describe('controller/status appendHistory', () => {
  it('never mutates and honours a custom limit', () => {
    const h = [{ time: T0, phase: 'Pending' as const, reason: 'a', message: 'a' }];
    const next = appendHistory(h, { time: T1, phase: 'Fetching', reason: 'b', message: 'b' }, 1);
    assert.equal(h.length, 1);
    assert.deepEqual(next.map((e) => e.reason), ['b']);
    assert.equal(appendHistory(undefined, h[0]!).length, 1);
  });

  it('drift, deployed and the live guard\'s condition are set here, not in the reconciler; the phase is left alone', () => {
    const base = withPhase({}, 'Healthy', 'AnalysisSucceeded', 'ok', 2, T0);
    const drift = withDrift(base, 'MODEL_URI changed by someone else', 2, T1);
    assert.equal(drift.phase, 'Healthy');
    assert.deepEqual(pick(getCondition(drift.conditions, CONDITION.ready)), ['False', 'Drift', 'MODEL_URI changed by someone else', 2]);
    const on = withDeployed(base, true, 'Deployed', 'pods available', 2, T1);
    assert.deepEqual(pick(getCondition(on.conditions, CONDITION.deployed)), ['True', 'Deployed', 'pods available', 2]);
    const off = withDeployed(on, false, 'Superseded', 'v2 took over', 3, T2);
    assert.deepEqual(pick(getCondition(off.conditions, CONDITION.deployed)), ['False', 'Superseded', 'v2 took over', 3]);
    const hold = withAnalysisCondition(base, 'False', 'NoRollbackPoint', 'holding', 2, T1);
    assert.deepEqual(pick(getCondition(hold.conditions, CONDITION.analysis)), ['False', 'NoRollbackPoint', 'holding', 2]);
    assert.equal(sameStatus(hold, withAnalysisCondition(hold, 'False', 'NoRollbackPoint', 'holding', 2, T2)), true, 'the same condition again changes nothing (its time is kept)');
    assert.equal(sameStatus(hold, withAnalysisCondition(hold, 'Unknown', 'AnalysisRunning', 'measuring', 2, T2)), false);
  });
});
