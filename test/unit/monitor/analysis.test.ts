import assert from 'node:assert/strict';
import type { AnalysisMetricSpec, AnalysisSpec, Measurement } from '../../../src/api/types.js';
import { AnalysisReasons } from '../../../src/api/reasons.js';
import {
  appendMeasurements,
  decide,
  judge,
  renderQuery,
  templatePlaceholders,
  updateCounts,
  type CountsByMetric,
} from '../../../src/monitor/analysis.js';
import type { QueryResult } from '../../../src/monitor/prometheus.js';

const at = '2026-11-01T00:00:00.000Z';
const vector = (...values: number[]): QueryResult => ({
  kind: 'vector',
  samples: values.map((value, i) => ({ labels: { pod: `p${i}` }, value })),
});
const cvr: AnalysisMetricSpec = { name: 'conversion-rate', query: 'q', direction: 'HigherIsBetter' };
const latency: AnalysisMetricSpec = { name: 'p95-latency', query: 'q', direction: 'LowerIsBetter' };
const m = (metric: string, phase: Measurement['phase'], extra: Partial<Measurement> = {}): Measurement => ({ metric, phase, at, ...extra });

describe('monitor/analysis renderQuery', () => {
  const vars = { model: 'ctr', version: '1.2', namespace: 'ads', deployment: 'ranker', checkpoint: 'ctr-v2' };

  it('fills every placeholder inside label matchers', () => {
    assert.equal(
      renderQuery('sum(rate(x{model="{{model}}", version="{{ version }}", namespace="{{namespace}}", pod=~"{{deployment}}-.*"}[5m]))', vars),
      'sum(rate(x{model="ctr", version="1.2", namespace="ads", pod=~"ranker-.*"}[5m]))',
    );
  });

  it('escapes quotes and backslashes so a value cannot break out of the string', () => {
    const q = renderQuery('x{model="{{model}}"}', { model: 'a"} or vector(1) #\\' });
    assert.equal(q, 'x{model="a\\"} or vector(1) #\\\\"}');
    assert.equal(renderQuery("x{model='{{model}}'}", { model: "it's" }), "x{model='it\\'s'}");
  });

  it('regex-escapes values inside =~ matchers', () => {
    assert.equal(renderQuery('x{version=~"{{version}}"}', { version: '1.2+b' }), 'x{version=~"1\\\\.2\\\\+b"}');
    assert.equal(renderQuery('x{version!~`{{version}}`}', { version: '1.2' }), 'x{version!~`1\\.2`}');
  });

  it('refuses unknown placeholders, naming them', () => {
    assert.throws(() => renderQuery('x{a="{{pod}}", b="{{model}}", c="{{ region }}"}', vars), /unknown placeholders \{\{pod\}\}, \{\{region\}\}/);
    assert.deepEqual(templatePlaceholders('{{model}} {{ pod }} {{model}}'), ['model', 'pod']);
  });

  it('refuses a placeholder without a value and an unsafe value outside quotes', () => {
    assert.throws(() => renderQuery('x{a="{{checkpoint}}"}', { model: 'm' }), /\{\{checkpoint\}\} has no value/);
    assert.equal(renderQuery('{{model}}_requests_total', { model: 'ctr_v2' }), 'ctr_v2_requests_total');
    assert.throws(() => renderQuery('{{model}}_total', { model: 'a or b' }), /outside quotes/);
  });
});

describe('monitor/analysis judge', () => {
  it('turns each error type into an Error measurement', () => {
    for (const errorType of ['Unreachable', 'BadQuery', 'Timeout', 'ServerError'] as const) {
      const r = judge(cvr, { kind: 'error', errorType, message: 'boom' }, 0.2, undefined, { at });
      assert.equal(r.phase, 'Error');
      assert.match(r.message ?? '', new RegExp(errorType));
    }
  });

  it('is Inconclusive for an empty vector, NaN, too few series, and a missing baseline', () => {
    assert.equal(judge(cvr, vector(), 0.2, undefined, { at }).phase, 'Inconclusive');
    assert.equal(judge(cvr, vector(Number.NaN), 0.2, undefined, { at }).phase, 'Inconclusive');
    assert.equal(judge(cvr, { kind: 'scalar', value: Number.NaN }, undefined, undefined, { at }).phase, 'Inconclusive');
    assert.equal(judge(cvr, vector(0.2), 0.2, undefined, { at, minSamples: 2 }).phase, 'Inconclusive');
    // A NaN beside passing series is not a pass ...
    assert.equal(judge({ ...cvr, min: 0.1 }, vector(0.2, Number.NaN), undefined, undefined, { at }).phase, 'Inconclusive');
    // ... but a failing series still fails.
    assert.equal(judge({ ...cvr, min: 0.1 }, vector(0.05, Number.NaN), undefined, undefined, { at }).phase, 'Failed');
    const noBase = judge({ ...cvr, maxRelativeDegradation: 0.1 }, vector(0.2), undefined, undefined, { at });
    assert.equal(noBase.phase, 'Inconclusive');
    assert.match(noBase.message ?? '', /no usable baseline/);
  });

  it('is Successful within bounds, with value, baseline and severity recorded', () => {
    const r = judge({ ...cvr, min: 0.1, maxRelativeDegradation: 0.1 }, vector(0.195), 0.2, undefined, { at, query: 'q1' });
    assert.equal(r.phase, 'Successful');
    assert.equal(r.value, 0.195);
    assert.equal(r.baseline, 0.2);
    assert.equal(r.severity, 'MINOR');
    assert.equal(r.query, 'q1');
    assert.equal(r.at, at);
  });

  it('fails absolute bounds on the worst series in each direction', () => {
    const low = judge({ ...cvr, min: 0.1 }, vector(0.3, 0.05, 0.2), undefined, undefined, { at });
    assert.equal(low.phase, 'Failed');
    assert.equal(low.value, 0.05);
    assert.match(low.message ?? '', /pod="p1"/);
    const high = judge({ ...latency, max: 0.25 }, vector(0.1, 0.3, 0.2), undefined, undefined, { at });
    assert.equal(high.phase, 'Failed');
    assert.equal(high.value, 0.3);
    assert.equal(high.bound, 'max 0.25');
    // +Inf latency is a value, and a bad one.
    assert.equal(judge({ ...latency, max: 1 }, vector(0.1, Number.POSITIVE_INFINITY), undefined, undefined, { at }).phase, 'Failed');
  });

  it('compares the worst series with the baseline for the relative bound', () => {
    // HigherIsBetter: the lowest series (0.17, 15% worse) counts, not the mean.
    const r = judge({ ...cvr, maxRelativeDegradation: 0.1 }, vector(0.25, 0.17, 0.22), 0.2, undefined, { at });
    assert.equal(r.phase, 'Failed');
    assert.equal(r.value, 0.17);
    assert.equal(r.severity, 'MODERATE');
    // LowerIsBetter: the highest series counts.
    const l = judge({ ...latency, maxRelativeDegradation: 0.1 }, vector(0.1, 0.125), 0.1, undefined, { at });
    assert.equal(l.phase, 'Failed');
    assert.equal(l.value, 0.125);
    // Better than baseline is fine.
    assert.equal(judge({ ...latency, maxRelativeDegradation: 0.1 }, vector(0.05), 0.1, undefined, { at }).severity, 'NONE');
  });

  it('handles a zero baseline without dividing by zero', () => {
    const spec = { ...latency, maxRelativeDegradation: 0.1 };
    const same = judge(spec, vector(0), 0, undefined, { at });
    assert.equal(same.phase, 'Successful');
    const worse = judge(spec, vector(0.01), 0, undefined, { at });
    assert.equal(worse.phase, 'Inconclusive');
    assert.equal(worse.severity, undefined, 'no CRITICAL fast path from an undefined ratio');
    assert.match(worse.message ?? '', /baseline of 0/);
    // An absolute bound still decides.
    assert.equal(judge({ ...spec, max: 0.005 }, vector(0.01), 0, undefined, { at }).phase, 'Failed');
  });

  it('marks a CRITICAL degradation Failed even without a relative bound, using the given bands', () => {
    const r = judge(cvr, vector(0.12), 0.2, undefined, { at }); // 40% worse
    assert.equal(r.phase, 'Failed');
    assert.equal(r.severity, 'CRITICAL');
    const wide = judge(cvr, vector(0.12), 0.2, { minor: 0.1, moderate: 0.3, severe: 0.5 }, { at });
    assert.equal(wide.phase, 'Successful');
    assert.equal(wide.severity, 'SEVERE');
  });
});

describe('monitor/analysis counts and measurements', () => {
  it('counts totals, and errors only while consecutive', () => {
    let c: CountsByMetric = updateCounts(undefined, [m('a', 'Error'), m('a', 'Error'), m('b', 'Successful')]);
    assert.deepEqual(c.a, { successful: 0, failed: 0, inconclusive: 0, error: 2 });
    c = updateCounts(c, [m('a', 'Inconclusive')]);
    assert.deepEqual(c.a, { successful: 0, failed: 0, inconclusive: 1, error: 0 });
    c = updateCounts(c, [m('a', 'Failed'), m('a', 'Inconclusive')]);
    assert.deepEqual(c.a, { successful: 0, failed: 1, inconclusive: 2, error: 0 });
    assert.deepEqual(c.b, { successful: 1, failed: 0, inconclusive: 0, error: 0 });
  });

  it('keeps the newest N measurements per metric, in order', () => {
    const list = Array.from({ length: 5 }, (_, i) => m('a', 'Successful', { value: i }));
    const out = appendMeasurements(list, [m('b', 'Failed'), m('a', 'Successful', { value: 5 })], 3);
    assert.deepEqual(
      out.map((x) => `${x.metric}${x.value ?? ''}`),
      ['a3', 'a4', 'b', 'a5'],
    );
  });
});

describe('monitor/analysis decide', () => {
  const spec: AnalysisSpec = { durationSeconds: 60, metrics: [cvr, latency] };
  const ok = (n = 1): CountsByMetric => ({
    [cvr.name]: { successful: n, failed: 0, inconclusive: 0, error: 0 },
    [latency.name]: { successful: n, failed: 0, inconclusive: 0, error: 0 },
  });
  const bothOk = [m(cvr.name, 'Successful'), m(latency.name, 'Successful')];

  it('rolls back at once on a CRITICAL measurement, whatever the limits', () => {
    const s: AnalysisSpec = { ...spec, metrics: [{ ...cvr, failureLimit: 5 }, latency] };
    const d = decide(s, ok(), [m(cvr.name, 'Failed', { severity: 'CRITICAL', message: 'cvr fell 40%' }), m(latency.name, 'Successful')], 1);
    assert.equal(d.action, 'Rollback');
    assert.equal(d.reason, AnalysisReasons.CriticalRegression);
    assert.equal(d.message, 'cvr fell 40%');
  });

  it('rolls back when failures exceed failureLimit (default 0)', () => {
    const counts = { ...ok(), [cvr.name]: { successful: 3, failed: 1, inconclusive: 0, error: 0 } };
    const d = decide(spec, counts, [m(cvr.name, 'Failed'), m(latency.name, 'Successful')], 10);
    assert.equal(d.action, 'Rollback');
    assert.equal(d.reason, AnalysisReasons.FailureLimitExceeded);
    assert.match(d.message, /conversion-rate failed 1 time, beyond its failureLimit of 0/);
    const tolerant: AnalysisSpec = { ...spec, metrics: [{ ...cvr, failureLimit: 1 }, latency] };
    assert.equal(decide(tolerant, counts, bothOk, 10).action, 'Continue');
  });

  it('holds by default when errors or inconclusives exceed their limits, or does what onError/onInconclusive say', () => {
    const errs = { ...ok(), [latency.name]: { successful: 1, failed: 0, inconclusive: 0, error: 4 } };
    assert.equal(decide(spec, errs, bothOk, 10).action, 'Hold');
    assert.equal(decide(spec, errs, bothOk, 10).reason, AnalysisReasons.ErrorLimitExceeded);
    assert.equal(decide({ ...spec, onError: 'Rollback' }, errs, bothOk, 10).action, 'Rollback');
    const atLimit = { ...ok(), [latency.name]: { successful: 1, failed: 0, inconclusive: 0, error: 3 } };
    assert.equal(decide(spec, atLimit, bothOk, 10).action, 'Continue');

    const inc = { ...ok(), [cvr.name]: { successful: 1, failed: 0, inconclusive: 4, error: 0 } };
    const d = decide(spec, inc, bothOk, 10);
    assert.equal(d.action, 'Hold');
    assert.equal(d.reason, AnalysisReasons.InconclusiveLimitExceeded);
    assert.equal(decide({ ...spec, onInconclusive: 'Rollback' }, inc, bothOk, 10).action, 'Rollback');
    const tight: AnalysisSpec = { ...spec, metrics: [{ ...cvr, inconclusiveLimit: 0 }, latency] };
    assert.equal(decide(tight, { ...ok(), [cvr.name]: { successful: 1, failed: 0, inconclusive: 1, error: 0 } }, bothOk, 10).action, 'Hold');
  });

  it('is Healthy only after durationSeconds, with a successful measurement for every metric', () => {
    assert.equal(decide(spec, ok(), bothOk, 59).action, 'Continue');
    assert.equal(decide(spec, ok(), bothOk, 59).reason, AnalysisReasons.Running);
    const d = decide(spec, ok(), bothOk, 60);
    assert.equal(d.action, 'Healthy');
    assert.equal(d.reason, AnalysisReasons.AnalysisSucceeded);
    // A metric never measured successfully: not healthy, however long it ran.
    const noLatency = { [cvr.name]: { successful: 5, failed: 0, inconclusive: 0, error: 0 } };
    const waiting = decide(spec, noLatency, [m(cvr.name, 'Successful')], 600);
    assert.equal(waiting.action, 'Continue');
    assert.equal(waiting.reason, AnalysisReasons.AwaitingSuccessfulMeasurement);
    assert.match(waiting.message, /p95-latency/);
    // The newest measurement missing data: not healthy either.
    assert.equal(decide(spec, ok(3), [m(cvr.name, 'Successful'), m(latency.name, 'Inconclusive')], 600).action, 'Continue');
    // Default duration is 600 s.
    assert.equal(decide({ metrics: spec.metrics }, ok(), bothOk, 599).action, 'Continue');
    assert.equal(decide({ metrics: spec.metrics }, ok(), bothOk, 600).action, 'Healthy');
  });

  it('never declares Healthy with durationSeconds 0, or with no metrics', () => {
    const d = decide({ ...spec, durationSeconds: 0 }, ok(100), bothOk, 1e9);
    assert.equal(d.action, 'Continue');
    assert.equal(d.reason, AnalysisReasons.WatchingIndefinitely);
    assert.equal(decide({ metrics: [] }, {}, [], 1e9).action, 'Hold');
  });

  it('every reason is a distinct CamelCase string', () => {
    const values = Object.values(AnalysisReasons);
    assert.equal(new Set(values).size, values.length);
    for (const v of values) assert.match(v, /^[A-Z][A-Za-z]+$/);
  });
});
