// The operator's Prometheus allow-list: which URLs a checkpoint may name, and what the analyzer
// does with one it may not (holds, names the field and the setting, asks nothing).
import assert from 'node:assert/strict';
import type { ModelCheckpoint } from '../../../src/api/types.js';
import { REASON } from '../../../src/api/reasons.js';
import { PrometheusAnalyzer } from '../../../src/monitor/guard.js';
import { normalizePrometheusUrl, PrometheusUrlPolicy, type MetricProvider } from '../../../src/monitor/prometheus.js';

const checkpoint = (prometheusUrl?: string): ModelCheckpoint => ({
  apiVersion: 'modelgate.io/v1alpha1',
  kind: 'ModelCheckpoint',
  metadata: { name: 'c', namespace: 'tenant-a', generation: 1 },
  spec: {
    model: 'ranker',
    version: 'v2',
    artifact: { uri: 'file:///m.onnx', digest: `sha256:${'0'.repeat(64)}` },
    target: { deployment: 'ranker' },
    analysis: { ...(prometheusUrl ? { prometheusUrl } : {}), intervalSeconds: 1, metrics: [{ name: 'up', direction: 'HigherIsBetter', query: 'vector(1)', min: 0 }] },
  },
} as unknown as ModelCheckpoint);

describe('Prometheus URL allow-list (monitor/prometheus.ts, monitor/guard.ts)', () => {
  it('normalizes a URL: no trailing slash, query or fragment; other schemes are none', () => {
    assert.equal(normalizePrometheusUrl('http://Prom:9090/'), 'http://prom:9090');
    assert.equal(normalizePrometheusUrl('https://p.example/prefix/?x=1#f'), 'https://p.example/prefix');
    assert.equal(normalizePrometheusUrl('file:///etc/passwd'), undefined);
    assert.equal(normalizePrometheusUrl('not a url'), undefined);
  });

  it('allows exactly the configured URLs, compared after normalizing', () => {
    const p = new PrometheusUrlPolicy(['http://prom:9090', undefined, 'https://p.example/prefix/']);
    assert.deepEqual(p.urls, ['http://prom:9090', 'https://p.example/prefix']);
    assert.ok(p.allows('http://prom:9090/'));
    assert.ok(p.allows('https://p.example/prefix'));
    for (const u of ['http://prom:9091', 'https://prom:9090', 'http://169.254.169.254', 'https://p.example/other', 'http://prom:9090@evil:80', 'gopher://prom:9090']) {
      assert.equal(p.allows(u), false, u);
    }
  });

  it('a redirect is covered only inside an allowed URL: same origin, path under its prefix', () => {
    const p = new PrometheusUrlPolicy(['http://prom:9090', 'https://p.example/prefix']);
    assert.ok(p.covers(new URL('http://prom:9090/api/v1/query')));
    assert.ok(p.covers(new URL('https://p.example/prefix/api/v1/query')));
    assert.equal(p.covers(new URL('https://p.example/prefixed/api')), false);
    assert.equal(p.covers(new URL('https://p.example/api/v1/query')), false);
    assert.equal(p.covers(new URL('http://169.254.169.254/latest/meta-data/')), false);
  });

  const recording = (): { provider: (url: string) => MetricProvider; asked: string[] } => {
    const asked: string[] = [];
    return {
      asked,
      provider: (url) => ({
        measure: async () => {
          asked.push(url);
          return { kind: 'scalar', value: 1 };
        },
      }),
    };
  };

  it('holds a checkpoint whose spec.analysis.prometheusUrl is not allowed, naming the field and the setting, and asks nothing', async () => {
    const r = recording();
    const a = new PrometheusAnalyzer({ provider: r.provider, defaultUrl: 'http://prom:9090', urls: new PrometheusUrlPolicy(['http://prom:9090', 'http://prom-b:9090']) });
    const out = await a.analyze(checkpoint('http://169.254.169.254/latest'), new Date());
    assert.equal(out.action, 'Hold');
    assert.equal(out.reason, REASON.PrometheusUrlNotAllowed);
    assert.match(out.message, /spec\.analysis\.prometheusUrl "http:\/\/169\.254\.169\.254\/latest" is not one of/);
    assert.match(out.message, /http:\/\/prom:9090, http:\/\/prom-b:9090/);
    assert.match(out.message, /--prometheus-urls \(env MODELGATE_PROMETHEUS_URLS\)/);
    assert.deepEqual(r.asked, []);
    assert.equal(out.analysis.measurements, undefined, 'nothing was measured');
  });

  it('refusal() gives the same reason for the reconciler to stall on before the deploy, and nothing for an allowed or absent URL', () => {
    const a = new PrometheusAnalyzer({ provider: recording().provider, defaultUrl: 'http://prom:9090', urls: new PrometheusUrlPolicy(['http://prom:9090']) });
    assert.equal(a.refusal(checkpoint('http://10.0.0.1:9090'))?.reason, REASON.PrometheusUrlNotAllowed);
    assert.match(a.refusal(checkpoint('http://10.0.0.1:9090'))?.message ?? '', /resumes once its spec names an allowed URL/);
    assert.equal(a.refusal(checkpoint('http://prom:9090/')), undefined);
    assert.equal(a.refusal(checkpoint()), undefined);
  });

  it('measures at an allowed URL, and at the default when the checkpoint names none', async () => {
    const r = recording();
    const a = new PrometheusAnalyzer({ provider: r.provider, defaultUrl: 'http://prom:9090', urls: new PrometheusUrlPolicy(['http://prom:9090', 'http://prom-b:9090']) });
    assert.equal((await a.analyze(checkpoint('http://prom-b:9090/'), new Date())).reason !== REASON.PrometheusUrlNotAllowed, true);
    assert.equal((await a.analyze(checkpoint(), new Date())).reason !== REASON.PrometheusUrlNotAllowed, true);
    assert.deepEqual(r.asked, ['http://prom-b:9090/', 'http://prom:9090']);
  });

  it('without a policy only the default URL is allowed', async () => {
    const r = recording();
    const a = new PrometheusAnalyzer({ provider: r.provider, defaultUrl: 'http://prom:9090' });
    assert.equal((await a.analyze(checkpoint('http://elsewhere:9090'), new Date())).reason, REASON.PrometheusUrlNotAllowed);
    assert.deepEqual(r.asked, []);
  });

  it('stops measuring and records nothing once the reconcile signal is aborted', async () => {
    const r = recording();
    const a = new PrometheusAnalyzer({ provider: r.provider, defaultUrl: 'http://prom:9090' });
    const ac = new AbortController();
    ac.abort(new Error('the reconcile passed its deadline of 30000 ms'));
    await assert.rejects(a.analyze(checkpoint(), new Date(), ac.signal), /deadline of 30000 ms/);
    assert.deepEqual(r.asked, []);
  });
});
