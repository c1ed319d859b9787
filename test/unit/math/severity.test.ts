import assert from 'node:assert/strict';
import {
  compareMetric, DEFAULT_BANDS, resolveBands, severityAtLeast, severityOf, validateBands, worstSeverity,
} from '../../../src/math/severity.js';

const worse = (fraction: number): number => compareMetric('accuracy', 1 - fraction, 1, 'HigherIsBetter').degradation;

describe('math/severity', () => {
  it('measures degradation as the fraction by which the candidate is worse', () => {
    const higher = compareMetric('accuracy', 0.8, 0.9, 'HigherIsBetter');
    assert.equal(higher.metric, 'accuracy');
    assert.ok(Math.abs(higher.absolute - -0.1) < 1e-12);
    assert.ok(Math.abs(higher.relative - -0.1 / 0.9) < 1e-12);
    assert.ok(Math.abs(higher.degradation - 0.1 / 0.9) < 1e-12);
    const lower = compareMetric('logLoss', 0.6, 0.5, 'LowerIsBetter');
    assert.ok(Math.abs(lower.degradation - 0.2) < 1e-12);
    assert.ok(compareMetric('logLoss', 0.4, 0.5, 'LowerIsBetter').degradation < 0);
    assert.ok(compareMetric('accuracy', 0.95, 0.9, 'HigherIsBetter').degradation < 0);
    assert.ok(Object.is(compareMetric('auc', 0.7, 0.7, 'HigherIsBetter').degradation, 0));
    // a negative baseline: relative change keeps the sign of the raw change
    assert.ok(Math.abs(compareMetric('pnl', -2, -1, 'HigherIsBetter').degradation - 1) < 1e-12);
  });

  it('never divides by a zero baseline: 0 for no change, ±Infinity otherwise', () => {
    assert.deepEqual(
      [compareMetric('errorRate', 0, 0, 'LowerIsBetter')].map(({ absolute, relative, degradation }) => [absolute, relative, degradation]),
      [[0, 0, 0]],
    );
    assert.equal(compareMetric('errorRate', 0.01, 0, 'LowerIsBetter').degradation, Infinity);
    assert.equal(compareMetric('ctr', 0.01, 0, 'HigherIsBetter').degradation, -Infinity);
    assert.equal(compareMetric('ctr', -0.01, 0, 'HigherIsBetter').degradation, Infinity);
    assert.equal(severityOf(compareMetric('errorRate', 0.01, 0, 'LowerIsBetter').degradation), 'CRITICAL');
    assert.equal(severityOf(compareMetric('ctr', 0.01, 0, 'HigherIsBetter').degradation), 'NONE');
  });

  it('gives NaN degradation for NaN on either side, which is CRITICAL', () => {
    for (const [c, b] of [[NaN, 1], [1, NaN], [NaN, NaN], [1, Infinity]] as const) {
      const d = compareMetric('auc', c, b, 'HigherIsBetter').degradation;
      assert.ok(Number.isNaN(d), `${c} vs ${b}`);
      assert.equal(severityOf(d), 'CRITICAL');
    }
  });

  it('puts band edges where their decimal value says', () => {
    assert.equal(severityOf(worse(0)), 'NONE');
    assert.equal(severityOf(-0.5), 'NONE');
    assert.equal(severityOf(worse(0.03)), 'MINOR');
    assert.equal(severityOf(worse(0.05)), 'MINOR'); // exactly 5% (0.050000000000000044 in doubles)
    assert.equal(severityOf(0.0501), 'MODERATE');
    assert.equal(severityOf(worse(0.15)), 'MODERATE');
    assert.equal(severityOf(worse(0.2)), 'SEVERE');
    assert.equal(severityOf(worse(0.25)), 'SEVERE');
    assert.equal(severityOf(worse(0.3)), 'SEVERE');
    assert.equal(severityOf(0.3001), 'CRITICAL');
    assert.equal(severityOf(worse(0.4)), 'CRITICAL');
    assert.equal(severityOf(Infinity), 'CRITICAL');
    // LowerIsBetter: 20% higher log loss is SEVERE too
    assert.equal(severityOf(compareMetric('logLoss', 0.6, 0.5, 'LowerIsBetter').degradation), 'SEVERE');
  });

  it('honours custom bands', () => {
    const bands = { minor: 0.01, moderate: 0.02, severe: 0.03 };
    assert.equal(severityOf(0.015, bands), 'MODERATE');
    assert.equal(severityOf(0.04, bands), 'CRITICAL');
    assert.equal(severityOf(0.015), 'MINOR');
  });

  it('orders severities', () => {
    assert.equal(worstSeverity([]), 'NONE');
    assert.equal(worstSeverity(['MINOR', 'SEVERE', 'NONE', 'MODERATE']), 'SEVERE');
    assert.equal(worstSeverity(new Set(['CRITICAL', 'MINOR'] as const)), 'CRITICAL');
    assert.ok(severityAtLeast('SEVERE', 'SEVERE'));
    assert.ok(severityAtLeast('CRITICAL', 'SEVERE'));
    assert.ok(!severityAtLeast('MODERATE', 'SEVERE'));
    assert.ok(severityAtLeast('NONE', 'NONE'));
  });

  it('validates bands and names the offending field', () => {
    assert.equal(validateBands(DEFAULT_BANDS), undefined);
    assert.deepEqual(DEFAULT_BANDS, { minor: 0.05, moderate: 0.15, severe: 0.3 });
    assert.match(validateBands({ minor: 0, moderate: 0.1, severe: 0.2 }) ?? '', /bands\.minor/);
    assert.match(validateBands({ minor: 0.1, moderate: NaN, severe: 0.2 }) ?? '', /bands\.moderate/);
    assert.match(validateBands({ minor: 0.1, moderate: 0.2, severe: 11 }) ?? '', /bands\.severe.*\(0, 10\]/);
    assert.match(validateBands({ minor: 0.2, moderate: 0.1, severe: 0.3 }) ?? '', /bands\.moderate.*greater than bands\.minor/);
    assert.match(validateBands({ minor: 0.1, moderate: 0.3, severe: 0.3 }) ?? '', /bands\.severe/);
    assert.match(validateBands({ minor: 0.1, moderate: 0.2 } as never) ?? '', /bands\.severe/);
    assert.equal(validateBands({ minor: 0.5, moderate: 2, severe: 10 }), undefined);
    assert.deepEqual(resolveBands({ severe: 0.5 }), { minor: 0.05, moderate: 0.15, severe: 0.5 });
  });
});
