import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { PrometheusClient } from '../../src/monitor/prometheus.js';
import { OperatorMetrics } from '../../src/observability/metrics.js';
import { countingErrors } from '../../src/operator/wiring.js';

/** A loopback port nobody listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('operator metrics for the alerts and the dashboard', () => {
  it('modelgate_checkpoint_phase_seconds says how long each checkpoint has been in its phase, at scrape time', async () => {
    let ages = [{ namespace: 'ml', name: 'ranker-2', phase: 'Validated', since: '2030-01-01T00:00:00Z' }];
    const m = new OperatorMetrics({ defaultMetrics: false, phaseAges: () => ages, now: () => Date.parse('2030-01-01T00:30:00Z') });
    assert.match(await m.render(), /^modelgate_checkpoint_phase_seconds\{namespace="ml",checkpoint="ranker-2",phase="Validated"\} 1800$/m);
    ages = [];
    assert.doesNotMatch(await m.render(), /ranker-2/, 'a checkpoint that moved on leaves no series');
  });

  it('modelgate_leader starts at 0, and the bounds a measurement is judged against are series until the checkpoint is forgotten', async () => {
    const m = new OperatorMetrics({ defaultMetrics: false });
    assert.match(await m.render(), /^modelgate_leader 0$/m);
    m.recordMeasurement({ namespace: 'ml', checkpoint: 'c', metric: 'ctr', phase: 'Successful', value: 0.05, bounds: { min: 0.02, baseline: 0.049 } });
    const text = await m.render();
    assert.match(text, /^modelgate_analysis_bound\{namespace="ml",checkpoint="c",metric="ctr",bound="min"\} 0\.02$/m);
    assert.match(text, /^modelgate_analysis_bound\{namespace="ml",checkpoint="c",metric="ctr",bound="baseline"\} 0\.049$/m);
    assert.doesNotMatch(text, /bound="max"/);
    m.forgetCheckpoint('ml', 'c');
    assert.doesNotMatch(await m.render(), /modelgate_analysis_bound\{/);
  });

  it('a guard query to an unreachable Prometheus (real client, closed loopback port) counts as error="Unreachable"', async () => {
    const m = new OperatorMetrics({ defaultMetrics: false });
    const provider = countingErrors(new PrometheusClient({ url: `http://127.0.0.1:${await closedPort()}` }), () => m);
    const r = await provider.measure('up');
    assert.equal(r.kind, 'error');
    assert.match(await m.render(), /^modelgate_prometheus_query_errors_total\{error="Unreachable"\} 1$/m);
  });
});
