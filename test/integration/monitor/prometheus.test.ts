// A real Prometheus scraping a real inference server on loopback: the client's answers, the
// judge on them, a conversion-rate drop from the load generator, and Prometheus going away and
// coming back. One Prometheus (1 s scrapes) for the file; file_sd adds targets within ~5 s.
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { AnalysisMetricSpec, AnalysisSpec } from '../../../src/api/types.js';
import { AnalysisReasons } from '../../../src/api/reasons.js';
import { decide, judge, renderQuery, updateCounts } from '../../../src/monitor/analysis.js';
import { PrometheusClient, type QueryResult } from '../../../src/monitor/prometheus.js';
import { startInferenceServer, type InferenceServer } from '../../../src/server/app.js';
import { startLoad } from '../../harness/loadgen.js';
import { classifierModel, tempDir, writeArtifact } from '../../harness/models.js';
import { waitFor } from '../../harness/process.js';
import { startPrometheus, type PrometheusHandle } from '../../harness/prometheus.js';

const vars = { model: 'ranker', version: 'v2', namespace: 'ads', deployment: 'ranker', checkpoint: 'ranker-v2' };
const CONVERSION_RATE =
  'sum(modelgate_outcome_conversions_total{model="{{model}}",version="{{version}}"}) / sum(modelgate_outcome_clicks_total{model="{{model}}",version="{{version}}"})';

const OUTCOMES_TOKEN = 'outcomes-token-for-the-prometheus-test';

function scalarOf(r: QueryResult): number | undefined {
  if (r.kind === 'scalar') return r.value;
  if (r.kind === 'vector' && r.samples.length === 1) return r.samples[0]?.value;
  return undefined;
}

describe('monitor against a real Prometheus', function () {
  this.timeout(90_000);
  let dir: string;
  let prom: PrometheusHandle;
  let server: InferenceServer;
  let client: PrometheusClient;
  let instance: string;

  /** Polls until the query's single value satisfies `ok`, and returns it. */
  const valueWhen = (promql: string, ok: (v: number) => boolean, timeoutMs = 15_000): Promise<number> =>
    waitFor(
      `${promql} to reach the expected value`,
      async () => {
        const v = scalarOf(await client.query(promql));
        return v !== undefined && ok(v) ? v : undefined;
      },
      timeoutMs,
      250,
    );

  before(async () => {
    dir = await tempDir('modelgate-monitor-');
    const model = await writeArtifact(dir, 'model.onnx', classifierModel({ features: 4, classes: 3 }));
    [prom, server] = await Promise.all([
      startPrometheus({ scrapeInterval: 1 }),
      startInferenceServer({ modelPath: model.path, modelName: 'ranker', modelVersion: 'v2', expectedDigest: model.digest, outcomesToken: OUTCOMES_TOKEN }),
    ]);
    client = new PrometheusClient({ url: prom.url, timeoutMs: 3000 });
    instance = new URL(server.url).host;
    prom.addTarget('inference', instance, { namespace: 'ads', deployment: 'ranker' });
    await prom.waitForTargetUp('inference', instance, 20_000);
  });

  after(async () => {
    await prom?.stop();
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('gets a real vector with the target labels file_sd gave it', async () => {
    const r = await client.query(renderQuery('modelgate_model_ready{model="{{model}}",namespace="{{namespace}}"}', vars));
    assert.equal(r.kind, 'vector');
    assert.ok(r.kind === 'vector');
    assert.equal(r.samples.length, 1);
    assert.equal(r.samples[0]?.value, 1);
    assert.deepEqual(r.samples[0]?.labels, {
      __name__: 'modelgate_model_ready',
      deployment: 'ranker',
      instance,
      job: 'inference',
      model: 'ranker',
      namespace: 'ads',
      version: 'v2',
    });
    const scalar = await client.query('scalar(vector(1)) / 0');
    assert.deepEqual(scalar, { kind: 'scalar', value: Number.POSITIVE_INFINITY });
    const nan = await client.query('vector(0) / 0');
    assert.ok(nan.kind === 'vector' && Number.isNaN(nan.samples[0]?.value));
  });

  it('judges an empty vector Inconclusive and a refused query Error/BadQuery', async () => {
    const spec: AnalysisMetricSpec = { name: 'ready', query: 'modelgate_model_ready{version="{{version}}"}', direction: 'HigherIsBetter', min: 1 };
    const empty = await client.query(renderQuery(spec.query, { ...vars, version: 'v-none' }));
    assert.deepEqual(empty, { kind: 'vector', samples: [] });
    assert.equal(judge(spec, empty, undefined, undefined, { at: new Date() }).phase, 'Inconclusive');

    const bad = await client.query('sum(rate(modelgate_inference_requests_total[1m])');
    assert.ok(bad.kind === 'error');
    assert.equal(bad.errorType, 'BadQuery');
    assert.equal(judge(spec, bad, undefined, undefined, { at: new Date() }).phase, 'Error');

    const range = await client.query('up[1m]');
    assert.ok(range.kind === 'error' && range.errorType === 'BadQuery' && /range vector/.test(range.message));
  });

  it('turns outcome events into a conversion-rate series Prometheus can query', async () => {
    const res = await fetch(`${server.url}/v2/models/ranker/outcomes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${OUTCOMES_TOKEN}` },
      body: JSON.stringify({ clicks: 99, conversions: 19, events: [{ type: 'click' }, { type: 'conversion', revenue: 5 }] }),
    });
    assert.equal(res.status, 200);
    const query = renderQuery(CONVERSION_RATE, vars);
    const v = await valueWhen(query, (x) => Math.abs(x - 0.2) < 1e-9);
    assert.equal(v, 0.2);
    const metric: AnalysisMetricSpec = { name: 'conversion-rate', query: CONVERSION_RATE, direction: 'HigherIsBetter', min: 0.1, maxRelativeDegradation: 0.1 };
    const ok = judge(metric, await client.query(query), 0.21, undefined, { at: new Date(), query });
    assert.equal(ok.phase, 'Successful', ok.message);
    assert.equal(ok.severity, 'MINOR');
  });

  it('sees a 40% conversion-rate drop from the load generator and decides Rollback', async function () {
    this.timeout(60_000);
    const clicks = 'sum(modelgate_outcome_clicks_total{model="ranker"})';
    const convs = 'sum(modelgate_outcome_conversions_total{model="ranker"})';
    const read = async (): Promise<[number, number]> => [
      scalarOf(await client.query(clicks)) ?? NaN,
      scalarOf(await client.query(convs)) ?? NaN,
    ];
    const [k0, c0] = await read();
    const load = startLoad({ url: server.url, model: 'ranker', rate: 40, durationMs: 20_000, clickThroughRate: 0.5, conversionRate: 0.5, outcomesToken: OUTCOMES_TOKEN });
    await new Promise((r) => setTimeout(r, 2500));
    const phase1 = load.stats();
    load.setConversionRate(0.3); // 40% lower
    await new Promise((r) => setTimeout(r, 2500));
    const final = await load.stop();
    assert.equal(final.inferenceErrors, 0, final.lastError);
    assert.equal(final.outcomeErrors, 0, final.lastError);
    assert.ok(final.inferences >= 120, `only ${final.inferences} inferences in 5 s at 40/s`);
    assert.ok(Math.abs(phase1.conversions / phase1.clicks - 0.5) < 0.05, JSON.stringify(phase1));

    // Prometheus holds exactly what the generator sent once it has scraped after the stop.
    await valueWhen(clicks, (v) => v === k0 + final.clicks);
    const [k1, c1] = await read();
    assert.equal(c1 - c0, final.conversions);
    const second = (final.conversions - phase1.conversions) / (final.clicks - phase1.clicks);
    assert.ok(Math.abs(second - 0.3) < 0.05, `second-phase conversion rate ${second}`);
    assert.ok(k1 > k0);

    // The judge on the second phase's rate against the first phase's baseline: CRITICAL -> Rollback.
    const spec: AnalysisSpec = {
      durationSeconds: 600,
      metrics: [{ name: 'conversion-rate', query: CONVERSION_RATE, direction: 'HigherIsBetter', maxRelativeDegradation: 0.1 }],
    };
    const metric = spec.metrics?.[0] as AnalysisMetricSpec;
    const secondPhase = `(${convs} - ${c0 + phase1.conversions}) / (${clicks} - ${k0 + phase1.clicks})`;
    const measurement = judge(metric, await client.query(secondPhase), phase1.conversions / phase1.clicks, undefined, { at: new Date() });
    assert.equal(measurement.phase, 'Failed', measurement.message);
    assert.equal(measurement.severity, 'CRITICAL');
    const decision = decide(spec, updateCounts(undefined, [measurement]), [measurement], 30);
    assert.equal(decision.action, 'Rollback');
    assert.equal(decision.reason, AnalysisReasons.CriticalRegression);
  });

  it('answers Error/Unreachable while Prometheus is down, and measurements resume after a restart', async function () {
    this.timeout(60_000);
    const metric: AnalysisMetricSpec = { name: 'ready', query: 'modelgate_model_ready{model="{{model}}"}', direction: 'HigherIsBetter', min: 1 };
    const query = renderQuery(metric.query, vars);
    await prom.kill();
    const down = await client.query(query);
    assert.ok(down.kind === 'error');
    assert.equal(down.errorType, 'Unreachable');
    const m1 = judge(metric, down, undefined, undefined, { at: new Date() });
    assert.equal(m1.phase, 'Error');
    let counts = updateCounts(undefined, [m1, m1]);
    assert.equal(counts.ready?.error, 2);

    const restartedAt = Date.now() / 1000;
    await prom.restart();
    // Data from before the crash survives (WAL replay) ...
    const before = await client.query('count(up{job="inference"})');
    assert.equal(scalarOf(before), 1);
    // ... and fresh scrapes arrive after the restart.
    await valueWhen(`max(timestamp(up{job="inference",instance="${instance}"}))`, (t) => t > restartedAt, 20_000);
    const m2 = judge(metric, await client.query(query), undefined, undefined, { at: new Date() });
    assert.equal(m2.phase, 'Successful', m2.message);
    counts = updateCounts(counts, [m2]);
    assert.deepEqual(counts.ready, { successful: 1, failed: 0, inconclusive: 0, error: 0 });
  });

  it('removes a target at run time', async function () {
    this.timeout(30_000);
    prom.removeTarget('inference', instance);
    await waitFor(
      'the target to leave Prometheus',
      async () => {
        const res = await fetch(`${prom.url}/api/v1/targets?state=active`);
        const body = (await res.json()) as { data: { activeTargets: Array<{ labels: Record<string, string> }> } };
        return body.data.activeTargets.some((t) => t.labels.instance === instance) ? undefined : true;
      },
      20_000,
      250,
    );
  });
});

describe('PrometheusClient against misbehaving loopback servers', () => {
  let hung: TcpServer;
  let broken: Server;
  const sockets = new Set<Socket>();

  before(async () => {
    hung = createTcpServer((s) => sockets.add(s)); // accepts, never answers
    broken = createHttpServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('upstream connect error');
    });
    await Promise.all([
      new Promise<void>((r) => hung.listen(0, '127.0.0.1', r)),
      new Promise<void>((r) => broken.listen(0, '127.0.0.1', r)),
    ]);
  });

  after(async () => {
    for (const s of sockets) s.destroy();
    await Promise.all([new Promise((r) => hung.close(r)), new Promise((r) => broken.close(r))]);
  });

  it('reports Timeout for a server that never answers', async () => {
    const port = (hung.address() as AddressInfo).port;
    const started = Date.now();
    const r = await new PrometheusClient({ url: `http://127.0.0.1:${port}`, timeoutMs: 300 }).query('up');
    assert.ok(r.kind === 'error');
    assert.equal(r.errorType, 'Timeout');
    assert.ok(Date.now() - started < 2000);
  });

  it('reports ServerError for a 503 without a Prometheus body, and honours the caller signal', async () => {
    const port = (broken.address() as AddressInfo).port;
    const client = new PrometheusClient({ url: `http://127.0.0.1:${port}/` });
    const r = await client.query('up');
    assert.ok(r.kind === 'error');
    assert.equal(r.errorType, 'ServerError');
    assert.match(r.message, /HTTP 503/);
    const hungPort = (hung.address() as AddressInfo).port;
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const cancelled = await new PrometheusClient({ url: `http://127.0.0.1:${hungPort}` }).query('up', undefined, ac.signal);
    assert.ok(cancelled.kind === 'error' && /cancelled/.test(cancelled.message));
  });
});
