import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { Counter, register as globalRegister } from 'prom-client';
import { startHealthServer, type HealthServer } from '../../src/observability/health.js';
import { childLogger, createLogger, newReconcileId } from '../../src/observability/logger.js';
import { OperatorMetrics } from '../../src/observability/metrics.js';

describe('observability', () => {
  describe('health server (real HTTP on loopback)', () => {
    let server: HealthServer | undefined;
    afterEach(async () => {
      await server?.close();
      server = undefined;
    });

    it('serves the operator registry at /metrics, not the global one', async () => {
      const metrics = new OperatorMetrics();
      new Counter({ name: 'stray_global_total', help: 'in the global registry' });
      try {
        metrics.observeReconcile('success', 0.02);
        metrics.observeReconcile('error', 0.5);
        metrics.rollbacksTotal.inc({ reason: 'AnalysisFailed' });
        metrics.gateResultTotal.inc({ stage: 'holdout', verdict: 'Passed' });
        metrics.informerUp.set({ resource: 'modelcheckpoints' }, 1);
        metrics.setCheckpointCounter(() => ({ Validated: 2, Monitoring: 1 }));
        metrics.recordMeasurement({ namespace: 'ns', checkpoint: 'c1', metric: 'conversion-rate', phase: 'Successful', value: 0.021 });

        server = await startHealthServer({ host: '127.0.0.1', port: 0, registry: metrics.registry });
        const res = await fetch(`${server.url}/metrics`);
        assert.equal(res.status, 200);
        assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
        const text = await res.text();
        assert.match(text, /^modelgate_reconcile_total\{result="success"\} 1$/m);
        assert.match(text, /^modelgate_reconcile_errors_total 1$/m);
        assert.match(text, /^modelgate_reconcile_duration_seconds_count 2$/m);
        assert.match(text, /^modelgate_rollbacks_total\{reason="AnalysisFailed"\} 1$/m);
        assert.match(text, /^modelgate_gate_result_total\{stage="holdout",verdict="Passed"\} 1$/m);
        assert.match(text, /^modelgate_informer_up\{resource="modelcheckpoints"\} 1$/m);
        assert.match(text, /^modelgate_checkpoints\{phase="Validated"\} 2$/m);
        assert.match(text, /^modelgate_checkpoints\{phase="Rejected"\} 0$/m, 'every phase has a series');
        assert.match(text, /^modelgate_analysis_measurement\{namespace="ns",checkpoint="c1",metric="conversion-rate"\} 0\.021$/m);
        assert.match(text, /^modelgate_analysis_measurements_total\{metric="conversion-rate",phase="Successful"\} 1$/m);
        for (const name of ['modelgate_deploys_total', 'modelgate_workqueue_depth', 'modelgate_workqueue_queue_duration_seconds', 'modelgate_workqueue_retries_total',
          'modelgate_validation_duration_seconds']) {
          assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
        }
        assert.match(text, /^process_cpu_user_seconds_total /m, 'default process metrics');
        assert.doesNotMatch(text, /stray_global_total/);

        metrics.forgetCheckpoint('ns', 'c1');
        assert.doesNotMatch(await (await fetch(`${server.url}/metrics`)).text(), /modelgate_analysis_measurement\{/);
      } finally {
        globalRegister.removeSingleMetric('stray_global_total');
      }
    });

    it('flips /readyz to 503 naming the failing checks, and back', async () => {
      let synced = false;
      server = await startHealthServer({
        host: '127.0.0.1', port: 0, checkTimeoutMs: 200, checks: { informers: () => synced },
      });
      let res = await fetch(`${server.url}/readyz`);
      assert.equal(res.status, 503);
      let body = (await res.json()) as { failing: string[]; checks: Record<string, string> };
      assert.deepEqual(body.failing, ['informers']);

      synced = true;
      server.setCheck('cache-dir', async () => ({ ok: true }));
      res = await fetch(`${server.url}/readyz`);
      assert.equal(res.status, 200);
      body = (await res.json()) as typeof body;
      assert.deepEqual(body.failing, []);
      assert.deepEqual(body.checks, { 'cache-dir': 'ok', informers: 'ok' });

      server.setCheck('apiserver', () => ({ ok: false, message: 'watch expired' }));
      server.setCheck('throws', () => { throw new Error('boom'); });
      server.setCheck('hangs', () => new Promise<boolean>(() => undefined));
      res = await fetch(`${server.url}/readyz`);
      assert.equal(res.status, 503);
      body = (await res.json()) as typeof body;
      assert.deepEqual(body.failing, ['apiserver', 'hangs', 'throws']);
      assert.equal(body.checks.apiserver, 'watch expired');
      assert.equal(body.checks.throws, 'boom');
      assert.match(body.checks.hangs ?? '', /no answer within 200 ms/);

      for (const name of ['apiserver', 'throws', 'hangs']) server.removeCheck(name);
      assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
    });

    it('answers /healthz while the event loop runs, and refuses other paths and methods', async () => {
      server = await startHealthServer({ host: '127.0.0.1', port: 0 });
      const res = await fetch(`${server.url}/healthz`);
      assert.equal(res.status, 200);
      const body = (await res.json()) as { status: string; eventLoopDelayMs: number };
      assert.equal(body.status, 'ok');
      assert.equal(typeof body.eventLoopDelayMs, 'number');
      assert.equal((await fetch(`${server.url}/nope`)).status, 404);
      assert.equal((await fetch(`${server.url}/metrics`)).status, 404, 'no registry given');
      assert.equal((await fetch(`${server.url}/healthz`, { method: 'POST', body: 'x' })).status, 405);
    });

    it('fails /healthz after the event loop was blocked past the limit', async () => {
      server = await startHealthServer({ host: '127.0.0.1', port: 0, maxEventLoopDelayMs: 100 });
      const until = Date.now() + 800;
      while (Date.now() < until) { /* block the loop */ }
      const res = await fetch(`${server.url}/healthz`);
      assert.equal(res.status, 503);
      assert.equal(((await res.json()) as { status: string }).status, 'event loop blocked');
    });

    it('serves only /metrics on a separate metrics port', async () => {
      const metrics = new OperatorMetrics({ defaultMetrics: false });
      metrics.deploysTotal.inc();
      server = await startHealthServer({ host: '127.0.0.1', port: 0, metricsPort: 0, registry: metrics.registry });
      assert.notEqual(server.metricsUrl, server.url);
      assert.match(await (await fetch(`${server.metricsUrl}/metrics`)).text(), /^modelgate_deploys_total 1$/m);
      assert.equal((await fetch(`${server.metricsUrl}/healthz`)).status, 404);
      assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    });

    it('fails to start on a port in use, and releases nothing it did not get', async () => {
      server = await startHealthServer({ host: '127.0.0.1', port: 0 });
      const port = Number(new URL(server.url).port);
      await assert.rejects(startHealthServer({ host: '127.0.0.1', port }), /EADDRINUSE/);
    });
  });

  describe('logger', () => {
    function capture(): { stream: PassThrough; lines: () => Record<string, unknown>[] } {
      const stream = new PassThrough();
      let text = '';
      stream.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      return {
        stream,
        lines: () => text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>),
      };
    }
    const tick = () => new Promise((resolve) => setImmediate(resolve));

    it('writes JSON lines with a timestamp, and child fields on every line', async () => {
      const out = capture();
      const root = createLogger({ level: 'info', stream: out.stream, fields: { component: 'operator' } });
      const reconcileId = newReconcileId();
      const log = childLogger({ namespace: 'team-a', name: 'ctr-1.1.0', phase: 'Validating', reconcileId }, root);
      log.info('gate passed', { stage: 'holdout' });
      log.debug('not written at info level');
      childLogger({ phase: 'Validated' }, log).warn('phase changed');
      log.error('fetch failed', { err: new Error('connection refused') });
      await tick();

      const lines = out.lines();
      assert.equal(lines.length, 3);
      const [first, second, third] = lines;
      assert.equal(first?.message, 'gate passed');
      assert.equal(first?.level, 'info');
      assert.equal(first?.stage, 'holdout');
      assert.equal(first?.component, 'operator');
      assert.ok(!Number.isNaN(Date.parse(String(first?.timestamp))), 'timestamp on every line');
      for (const line of lines) {
        assert.equal(line.namespace, 'team-a');
        assert.equal(line.name, 'ctr-1.1.0');
        assert.equal(line.reconcileId, reconcileId);
        assert.ok(typeof line.timestamp === 'string');
      }
      assert.equal(first?.phase, 'Validating');
      assert.equal(second?.phase, 'Validated', 'a grandchild overrides the phase');
      const err = third?.err as { message?: string; stack?: string } | undefined;
      assert.equal(err?.message, 'connection refused');
      assert.match(err?.stack ?? '', /Error: connection refused/);
    });

    it('honours the configured level', async () => {
      const out = capture();
      const log = createLogger({ level: 'debug', stream: out.stream });
      log.debug('visible');
      log.silly('hidden');
      await tick();
      assert.deepEqual(out.lines().map((l) => l.message), ['visible']);
    });
  });
});
