import assert from 'node:assert/strict';
import { CONDITION, getCondition, isTrue, judgedSeverity, removeCondition, setCondition, truncate } from '../../src/api/conditions.js';
import type { Condition } from '../../src/api/types.js';

const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-01T00:05:00.000Z';

describe('api/conditions setCondition', () => {
  it('appends a new condition with the time, generation and input', () => {
    const list = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'Pending', message: 'waiting' }, 3, T0);
    assert.deepEqual(list, [{ type: 'Ready', status: 'False', reason: 'Pending', message: 'waiting', observedGeneration: 3, lastTransitionTime: T0 }]);
  });

  it('keeps lastTransitionTime when only reason, message or generation change', () => {
    const a = setCondition([], { type: 'Ready', status: 'False', reason: 'A', message: 'a' }, 1, T0);
    const b = setCondition(a, { type: 'Ready', status: 'False', reason: 'B', message: 'b' }, 2, T1);
    assert.equal(b[0]!.lastTransitionTime, T0);
    assert.equal(b[0]!.reason, 'B');
    assert.equal(b[0]!.message, 'b');
    assert.equal(b[0]!.observedGeneration, 2);
  });

  it('moves lastTransitionTime when the status changes, including to and from Unknown', () => {
    let l = setCondition([], { type: 'Ready', status: 'False', reason: 'A', message: 'a' }, 1, T0);
    l = setCondition(l, { type: 'Ready', status: 'True', reason: 'A', message: 'a' }, 1, T1);
    assert.equal(l[0]!.lastTransitionTime, T1);
    l = setCondition(l, { type: 'Ready', status: 'Unknown', reason: 'A', message: 'a' }, 1, T0);
    assert.equal(l[0]!.lastTransitionTime, T0);
  });

  it('replaces in place, keeps order and other types, never duplicates, never mutates', () => {
    const start: Condition[] = [
      { type: 'A', status: 'True', reason: 'r', message: 'm', lastTransitionTime: T0 },
      { type: 'B', status: 'True', reason: 'r', message: 'm', lastTransitionTime: T0 },
      { type: 'C', status: 'True', reason: 'r', message: 'm', lastTransitionTime: T0 },
    ];
    const frozen = structuredClone(start);
    const next = setCondition(start, { type: 'B', status: 'False', reason: 'x', message: 'y' }, 1, T1);
    assert.deepEqual(next.map((c) => c.type), ['A', 'B', 'C']);
    assert.equal(next[1]!.status, 'False');
    assert.deepEqual(start, frozen);
    assert.notEqual(next, start);
    const more = setCondition(next, { type: 'D', status: 'True', reason: 'x', message: 'y' }, 1, T1);
    assert.deepEqual(more.map((c) => c.type), ['A', 'B', 'C', 'D']);
  });

  it('truncates long messages to 1024 characters', () => {
    const l = setCondition([], { type: 'Ready', status: 'True', reason: 'R', message: 'x'.repeat(5000) }, 1, T0);
    assert.equal(l[0]!.message.length, 1024);
    assert.ok(l[0]!.message.endsWith('…'));
  });

  it('getCondition, isTrue and removeCondition', () => {
    const l = setCondition(setCondition([], { type: CONDITION.ready, status: 'True', reason: 'R', message: '' }, 1, T0), { type: CONDITION.stalled, status: 'False', reason: 'R', message: '' }, 1, T0);
    assert.equal(getCondition(l, CONDITION.ready)?.status, 'True');
    assert.equal(getCondition(l, 'Nope'), undefined);
    assert.equal(getCondition(undefined, CONDITION.ready), undefined);
    assert.equal(isTrue(l, CONDITION.ready), true);
    assert.equal(isTrue(l, CONDITION.stalled), false);
    assert.equal(isTrue(undefined, CONDITION.ready), false);
    assert.deepEqual(removeCondition(l, CONDITION.ready).map((c) => c.type), [CONDITION.stalled]);
    assert.deepEqual(removeCondition(undefined, CONDITION.ready), []);
  });

  it('condition types are distinct CamelCase words', () => {
    const types = Object.values(CONDITION);
    assert.equal(new Set(types).size, types.length);
    for (const t of types) assert.match(t, /^[A-Z][A-Za-z]+$/);
  });
});

describe('api/conditions truncate', () => {
  it('leaves strings up to max alone', () => {
    assert.equal(truncate('', 5), '');
    assert.equal(truncate('abcde', 5), 'abcde');
  });

  it('cuts longer strings to exactly max characters ending in an ellipsis', () => {
    assert.equal(truncate('abcdef', 5), 'abcd…');
    assert.equal(truncate('abcdef', 5).length, 5);
    assert.equal(truncate('ab', 1), '…');
  });

  it('never splits a surrogate pair (the result stays well-formed UTF-16)', () => {
    // 1022 ASCII characters then an emoji (2 UTF-16 units) straddling the cut at 1023
    const s = `${'a'.repeat(1022)}😀 and more text after it`;
    const out = truncate(s, 1024);
    assert.ok(out.length <= 1024);
    assert.doesNotMatch(out, /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/, 'lone surrogate in the truncated message');
  });
});

describe('api/conditions judgedSeverity', () => {
  const stage = (name: 'architecture' | 'regression', verdict: 'Passed' | 'Failed' | 'Skipped' | 'Error') => ({ stage: name, verdict, reason: 'R', message: 'm' });

  it('is undefined when the regression gate never compared (rejected by architecture, or skipped)', () => {
    assert.equal(judgedSeverity({ severity: 'NONE', stages: [stage('architecture', 'Failed')] }), undefined);
    assert.equal(judgedSeverity({ severity: 'NONE', stages: [stage('architecture', 'Passed'), stage('regression', 'Skipped')] }), undefined);
    assert.equal(judgedSeverity({ severity: 'NONE' }), undefined);
    assert.equal(judgedSeverity(undefined), undefined);
  });

  it('is the status severity when the regression gate passed or failed', () => {
    assert.equal(judgedSeverity({ severity: 'NONE', stages: [stage('regression', 'Passed')] }), 'NONE');
    assert.equal(judgedSeverity({ severity: 'SEVERE', stages: [stage('regression', 'Failed')] }), 'SEVERE');
  });
});
