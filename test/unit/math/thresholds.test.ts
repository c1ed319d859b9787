import assert from 'node:assert/strict';
import { checkThresholds } from '../../../src/math/thresholds.js';

describe('math/thresholds', () => {
  const metrics = { accuracy: 0.91, logLoss: 0.3, auc: NaN };

  it('passes values within inclusive bounds', () => {
    const [a, b, c] = checkThresholds(metrics, [
      { metric: 'accuracy', min: 0.9 },
      { metric: 'logLoss', max: 0.3 },
      { metric: 'accuracy', min: 0.91, max: 0.95 },
    ]);
    assert.deepEqual([a?.passed, b?.passed, c?.passed], [true, true, true]);
    assert.equal(a?.value, 0.91);
    assert.equal(a?.min, 0.9);
    assert.ok(!('max' in (a ?? {})));
    assert.match(a?.message ?? '', /accuracy 0\.91 within min 0\.9/);
  });

  it('fails values outside the bounds with the numbers in the message', () => {
    const [a, b] = checkThresholds(metrics, [{ metric: 'accuracy', min: 0.95 }, { metric: 'logLoss', max: 0.25 }]);
    assert.equal(a?.passed, false);
    assert.equal(a?.message, 'accuracy 0.91 is below the minimum 0.95');
    assert.equal(b?.passed, false);
    assert.equal(b?.message, 'logLoss 0.3 is above the maximum 0.25');
  });

  it('fails a missing or NaN metric, naming it and what to do', () => {
    const [missing, nan] = checkThresholds(metrics, [{ metric: 'f1', min: 0.5 }, { metric: 'auc', min: 0.5 }]);
    assert.equal(missing?.passed, false);
    assert.ok(Number.isNaN(missing?.value));
    assert.match(missing?.message ?? '', /metric f1 was not computed \(available: accuracy, auc, logLoss\); fix/);
    assert.equal(nan?.passed, false);
    assert.match(nan?.message ?? '', /metric auc is NaN.*fix/);
  });

  it('fails thresholds that cannot pass or check nothing', () => {
    const [none, inverted] = checkThresholds(metrics, [{ metric: 'accuracy' }, { metric: 'accuracy', min: 0.9, max: 0.8 }]);
    assert.equal(none?.passed, false);
    assert.match(none?.message ?? '', /neither min nor max/);
    assert.equal(inverted?.passed, false);
    assert.match(inverted?.message ?? '', /min 0\.9 above max 0\.8/);
    assert.deepEqual(checkThresholds(metrics, []), []);
  });
});
