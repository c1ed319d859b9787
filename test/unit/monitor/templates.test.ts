// Template resolution without any server: args filled in (escaped where they land), defaults,
// the errors that name the template, the field and the fix, and the merge with inline metrics.
import assert from 'node:assert/strict';
import { REASON } from '../../../src/api/reasons.js';
import type { AnalysisMetricSpec, AnalysisSpec, AnalysisTemplate, AnalysisTemplateSpec } from '../../../src/api/types.js';
import { renderQuery } from '../../../src/monitor/analysis.js';
import { hasAnalysis, refKey, resolveAnalysis, templateKey, type FetchedTemplate, type Resolution } from '../../../src/monitor/templates.js';

const NOW = '2026-12-02T00:00:00.000Z';
const NS = 'ads';

function template(name: string, spec: AnalysisTemplateSpec, cluster = false, meta: Partial<AnalysisTemplate['metadata']> = {}): AnalysisTemplate {
  return {
    apiVersion: 'modelgate.io/v1alpha1',
    kind: cluster ? 'ClusterModelAnalysisTemplate' : 'ModelAnalysisTemplate',
    metadata: { name, ...(cluster ? {} : { namespace: NS }), uid: `uid-${name}`, resourceVersion: '42', generation: 1, ...meta },
    spec,
  };
}

const latency: AnalysisTemplateSpec = {
  args: [{ name: 'service' }, { name: 'quantile', value: '0.95' }],
  metrics: [{
    name: 'latency',
    direction: 'LowerIsBetter',
    query: 'histogram_quantile({{args.quantile}}, sum by (le) (rate(http_bucket{service="{{args.service}}",version="{{version}}"}[5m])))',
    max: 0.25,
  }],
};

const fetched = (...pairs: Array<[string, AnalysisTemplate | undefined, boolean?]>): FetchedTemplate[] =>
  pairs.map(([name, t, cluster]) => ({ ref: cluster ? { name, clusterScope: true } : { name }, template: t }));

function ok(r: Resolution): Extract<Resolution, { ok: true }>['analysis'] {
  assert.ok(r.ok, r.ok ? '' : `${r.reason}: ${r.message}`);
  return r.analysis;
}
function failed(r: Resolution, reason: string): string {
  assert.equal(r.ok, false, 'resolution should fail');
  assert.ok(!r.ok);
  assert.equal(r.reason, reason, r.message);
  return r.message;
}

describe('analysis templates: resolution', () => {
  it('fills the args into the query and keeps the per-measurement placeholders for later', () => {
    const spec: AnalysisSpec = { templates: [{ name: 'lat' }], args: [{ name: 'service', value: 'ranker' }] };
    const a = ok(resolveAnalysis(spec, NS, fetched(['lat', template('lat', latency)]), NOW));
    assert.equal(a.resolvedAt, NOW);
    assert.equal(a.metrics.length, 1);
    assert.equal(a.metrics[0]?.query, 'histogram_quantile(0.95, sum by (le) (rate(http_bucket{service="ranker",version="{{version}}"}[5m])))');
    assert.equal(a.metrics[0]?.max, 0.25);
    // The analyzer's own pass fills the rest, as for an inline metric.
    assert.equal(renderQuery(a.metrics[0]!.query, { version: 'v2' }), 'histogram_quantile(0.95, sum by (le) (rate(http_bucket{service="ranker",version="v2"}[5m])))');
    assert.deepEqual(a.templates, [{
      kind: 'ModelAnalysisTemplate', name: 'lat', namespace: NS, uid: 'uid-lat', resourceVersion: '42', generation: 1,
      args: [{ name: 'quantile', value: '0.95' }, { name: 'service', value: 'ranker' }], metrics: ['latency'],
    }]);
  });

  it('gives two checkpoints their own queries from one template', () => {
    const t = template('lat', latency);
    const a = ok(resolveAnalysis({ templates: [{ name: 'lat' }], args: [{ name: 'service', value: 'a' }] }, NS, fetched(['lat', t]), NOW));
    const b = ok(resolveAnalysis({ templates: [{ name: 'lat' }], args: [{ name: 'service', value: 'b' }, { name: 'quantile', value: '0.5' }] }, NS, fetched(['lat', t]), NOW));
    assert.match(a.metrics[0]!.query, /^histogram_quantile\(0\.95, .*service="a"/);
    assert.match(b.metrics[0]!.query, /^histogram_quantile\(0\.5, .*service="b"/);
    assert.equal(t.spec.metrics[0]?.query, latency.metrics[0]?.query, 'the template object is not changed');
  });

  it('escapes an arg value for the string it lands in, so it cannot change the query', () => {
    const spec: AnalysisSpec = { templates: [{ name: 'lat' }], args: [{ name: 'service', value: 'x"} or vector(1) or x{a="' }] };
    const q = ok(resolveAnalysis(spec, NS, fetched(['lat', template('lat', latency)]), NOW)).metrics[0]!.query;
    assert.ok(q.includes('service="x\\"} or vector(1) or x{a=\\""'), q);
    const regex = template('re', { args: [{ name: 'pods' }], metrics: [{ name: 'm', direction: 'HigherIsBetter', query: 'up{pod=~"{{args.pods}}"}' }] });
    const r = ok(resolveAnalysis({ templates: [{ name: 're' }], args: [{ name: 'pods', value: 'a.b' }] }, NS, fetched(['re', regex]), NOW));
    assert.equal(r.metrics[0]?.query, 'up{pod=~"a\\\\.b"}');
  });

  it('refuses an arg value outside quotes that is neither an identifier nor a number, naming template and field', () => {
    const spec: AnalysisSpec = { templates: [{ name: 'lat' }], args: [{ name: 'service', value: 's' }, { name: 'quantile', value: '0.9) or vector(1' }] };
    const msg = failed(resolveAnalysis(spec, NS, fetched(['lat', template('lat', latency)]), NOW), REASON.InvalidTemplate);
    assert.match(msg, /ModelAnalysisTemplate lat in namespace ads/);
    assert.match(msg, /spec\.metrics\[latency\]\.query/);
    assert.match(msg, /\{\{args\.quantile\}\} outside quotes/);
    assert.match(msg, /plain identifier or number/);
  });

  it('a missing required arg names the template, the arg, where it is used and what to add', () => {
    const msg = failed(resolveAnalysis({ templates: [{ name: 'lat' }] }, NS, fetched(['lat', template('lat', latency)]), NOW), REASON.InvalidTemplate);
    assert.match(msg, /ModelAnalysisTemplate lat in namespace ads needs a value for arg service/);
    assert.match(msg, /used in spec\.metrics\[latency\]\.query/);
    assert.match(msg, /add \{name: service, value: \.\.\.\} to the checkpoint's spec\.analysis\.args/);
  });

  it('an {{args.x}} the template does not declare, and an unknown placeholder, are errors naming both', () => {
    const t = template('lat', { args: [{ name: 'service' }], metrics: [{ name: 'm', direction: 'HigherIsBetter', query: 'up{a="{{args.servce}}"}' }] });
    const msg = failed(resolveAnalysis({ templates: [{ name: 'lat' }], args: [{ name: 'service', value: 's' }] }, NS, fetched(['lat', t]), NOW), REASON.InvalidTemplate);
    assert.match(msg, /spec\.metrics\[m\]\.query uses \{\{args\.servce\}\}, but the template declares no arg named servce \(it declares service\)/);
    const u = template('u', { metrics: [{ name: 'm', direction: 'HigherIsBetter', query: 'up', baselineQuery: 'up{a="{{modle}}"}' }] });
    const msg2 = failed(resolveAnalysis({ templates: [{ name: 'u', clusterScope: true }] }, NS, fetched(['u', u, true]), NOW), REASON.InvalidTemplate);
    assert.match(msg2, /ClusterModelAnalysisTemplate u: spec\.metrics\[m\]\.baselineQuery uses unknown placeholder \{\{modle\}\}/);
    assert.match(msg2, /\{\{model\}\}/);
  });

  it('an arg value holding {{ }} is refused (it would become a placeholder of the second pass)', () => {
    const msg = failed(resolveAnalysis({ templates: [{ name: 'lat' }], args: [{ name: 'service', value: '{{checkpoint}}' }] }, NS, fetched(['lat', template('lat', latency)]), NOW), REASON.InvalidTemplate);
    assert.match(msg, /arg service contains \{\{ or \}\}/);
  });

  it('a checkpoint arg that no template declares is an error (a typo would otherwise go unnoticed)', () => {
    const spec: AnalysisSpec = { templates: [{ name: 'lat' }], args: [{ name: 'service', value: 's' }, { name: 'quantil', value: '0.5' }] };
    const msg = failed(resolveAnalysis(spec, NS, fetched(['lat', template('lat', latency)]), NOW), REASON.InvalidTemplate);
    assert.match(msg, /spec\.analysis\.args quantil is declared by none of the templates \(lat\)/);
    const none = failed(resolveAnalysis({ metrics: [], args: [{ name: 'x', value: '1' }] }, NS, [], NOW), REASON.InvalidTemplate);
    assert.match(none, /no template/);
  });

  it('a missing template is TemplateNotFound, listing each one with its scope and what to do', () => {
    const spec: AnalysisSpec = { templates: [{ name: 'lat' }, { name: 'shared', clusterScope: true }, { name: 'here' }] };
    const msg = failed(resolveAnalysis(spec, NS, fetched(['lat', undefined], ['shared', undefined, true], ['here', template('here', latency)]), NOW), REASON.TemplateNotFound);
    assert.match(msg, /ModelAnalysisTemplate lat in namespace ads \(spec\.analysis\.templates\[0\]\)/);
    assert.match(msg, /ClusterModelAnalysisTemplate shared \(spec\.analysis\.templates\[1\]\)/);
    assert.doesNotMatch(msg, /here/);
    assert.match(msg, /create it/);
    assert.match(msg, /resumes by itself/);
  });

  it('merges templates and inline metrics: inline replaces a template metric of the same name', () => {
    const inline: AnalysisMetricSpec = { name: 'latency', direction: 'LowerIsBetter', query: 'my_latency', max: 0.1 };
    const extra: AnalysisMetricSpec = { name: 'cvr', direction: 'HigherIsBetter', query: 'cvr', min: 0.01 };
    const errors = template('errors', { metrics: [{ name: 'errors', direction: 'LowerIsBetter', query: 'errs', max: 0.01 }] }, true);
    const spec: AnalysisSpec = { templates: [{ name: 'lat' }, { name: 'errors', clusterScope: true }], args: [{ name: 'service', value: 's' }], metrics: [inline, extra] };
    const a = ok(resolveAnalysis(spec, NS, fetched(['lat', template('lat', latency)], ['errors', errors, true]), NOW));
    assert.deepEqual(a.metrics.map((m) => m.name), ['latency', 'errors', 'cvr']);
    assert.deepEqual(a.metrics[0], inline);
    assert.deepEqual(a.templates.map((t) => [t.kind, t.name, t.namespace, t.metrics]), [
      ['ModelAnalysisTemplate', 'lat', NS, []],
      ['ClusterModelAnalysisTemplate', 'errors', undefined, ['errors']],
    ]);
  });

  it('two templates with the same metric, or one template listed twice, are errors', () => {
    const a = template('a', { metrics: [{ name: 'm', direction: 'HigherIsBetter', query: 'up' }] });
    const b = template('b', { metrics: [{ name: 'm', direction: 'HigherIsBetter', query: 'up' }] }, true);
    const msg = failed(resolveAnalysis({ templates: [{ name: 'a' }, { name: 'b', clusterScope: true }] }, NS, fetched(['a', a], ['b', b, true]), NOW), REASON.InvalidTemplate);
    assert.match(msg, /metric m is defined by both ModelAnalysisTemplate a in namespace ads and ClusterModelAnalysisTemplate b/);
    // Same name in both scopes is two templates; the same reference twice is a mistake.
    const twice = failed(resolveAnalysis({ templates: [{ name: 'a' }, { name: 'a' }] }, NS, fetched(['a', a], ['a', a]), NOW), REASON.InvalidTemplate);
    assert.match(twice, /spec\.analysis\.templates\[1\] references ModelAnalysisTemplate a in namespace ads a second time/);
  });

  it('more than 16 metrics in all is an error', () => {
    const many = template('many', { metrics: Array.from({ length: 10 }, (_, i) => ({ name: `t${i}`, direction: 'HigherIsBetter' as const, query: 'up' })) });
    const inline = Array.from({ length: 7 }, (_, i) => ({ name: `i${i}`, direction: 'HigherIsBetter' as const, query: 'up' }));
    const msg = failed(resolveAnalysis({ templates: [{ name: 'many' }], metrics: inline }, NS, fetched(['many', many]), NOW), REASON.InvalidTemplate);
    assert.match(msg, /resolves to 17 metrics/);
  });

  it('inline metrics alone resolve to themselves, untouched', () => {
    const m: AnalysisMetricSpec = { name: 'cvr', direction: 'HigherIsBetter', query: 'x{v="{{version}}"}' };
    assert.deepEqual(ok(resolveAnalysis({ metrics: [m] }, NS, [], NOW)), { resolvedAt: NOW, templates: [], metrics: [m] });
  });

  it('keys match between a reference and the watched object, by scope', () => {
    assert.equal(refKey({ name: 'lat' }, NS), templateKey('ModelAnalysisTemplate', 'lat', NS));
    assert.equal(refKey({ name: 'lat', clusterScope: true }, NS), templateKey('ClusterModelAnalysisTemplate', 'lat'));
    assert.notEqual(refKey({ name: 'lat' }, 'a'), refKey({ name: 'lat' }, 'b'));
    assert.equal(refKey({ name: 'lat', clusterScope: true }, 'a'), refKey({ name: 'lat', clusterScope: true }, 'b'));
  });

  it('hasAnalysis: metrics or templates', () => {
    assert.equal(hasAnalysis(undefined), false);
    assert.equal(hasAnalysis({ metrics: [] }), false);
    assert.equal(hasAnalysis({ templates: [{ name: 't' }] }), true);
    assert.equal(hasAnalysis({ metrics: [{ name: 'm', direction: 'HigherIsBetter', query: 'up' }] }), true);
  });
});
