import assert from 'node:assert/strict';
import type { AnalysisMetricSpec } from '../../../src/api/types.js';
import { baselineFrom, baselineQueries } from '../../../src/monitor/baseline.js';

const deployedAt = new Date('2026-11-01T00:00:00.000Z');
const now = new Date('2026-11-01T00:10:00.000Z');
const metric: AnalysisMetricSpec = { name: 'latency', query: 'rate(x{version="{{version}}"}[1m])', direction: 'LowerIsBetter', maxRelativeDegradation: 0.1 };

describe('monitor/baseline', () => {
  describe('baselineQueries', () => {
    it('averages the previous version over the window before the rollout, then falls back to the instant value there', () => {
      assert.deepEqual(baselineQueries(metric, { version: 'v1' }, undefined, deployedAt, now), [
        ['avg_over_time(((rate(x{version="v1"}[1m])) >= -Inf)[600s:])', deployedAt],
        ['rate(x{version="v1"}[1m])', deployedAt],
      ]);
    });

    it('rounds the window and keeps it at least one second', () => {
      assert.match(baselineQueries(metric, { version: 'v1' }, 90.4, deployedAt, now)[0]![0], /\[90s:\]\)$/);
      assert.match(baselineQueries(metric, { version: 'v1' }, 0, deployedAt, now)[0]![0], /\[1s:\]\)$/);
    });

    it('asks an explicit baselineQuery alone, now', () => {
      const explicit = { ...metric, baselineQuery: 'avg(x{version="{{version}}"})' };
      assert.deepEqual(baselineQueries(explicit, { version: 'v1' }, 300, deployedAt, now), [['avg(x{version="v1"})', now]]);
    });

    it('throws as renderQuery does on a placeholder without a value', () => {
      assert.throws(() => baselineQueries(metric, {}, undefined, deployedAt, now), /has no value/);
    });
  });

  describe('baselineFrom', () => {
    it('is the mean of the finite values of a vector, or a scalar', () => {
      const samples = [1, 3, Number.NaN, Number.POSITIVE_INFINITY].map((value) => ({ labels: {}, value }));
      assert.equal(baselineFrom({ kind: 'vector', samples }), 2);
      assert.equal(baselineFrom({ kind: 'scalar', value: 0.5 }), 0.5);
    });

    it('is undefined for an empty vector, no finite value, or an error', () => {
      assert.equal(baselineFrom({ kind: 'vector', samples: [] }), undefined);
      assert.equal(baselineFrom({ kind: 'scalar', value: Number.NaN }), undefined);
      assert.equal(baselineFrom({ kind: 'error', errorType: 'Unreachable', message: 'down' }), undefined);
    });
  });
});
