// The Prometheus client against fake Prometheus servers on loopback, each a fault no real
// Prometheus produces on demand: one that streams an answer without end, one that declares a huge
// answer, one that never answers, and ones that redirect to the cloud metadata address
// (169.254.169.254). Each is cut off or refused, and the connection is closed, not left open.
import assert from 'node:assert/strict';

import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { PrometheusClient, type QueryResult } from '../../../src/monitor/prometheus.js';
import { DestinationGuard } from '../../../src/validation/fetch.js';
import { waitFor } from '../../harness/process.js';

const OK = JSON.stringify({ status: 'success', data: { resultType: 'scalar', result: [0, '1'] } });

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string; closed: () => number }> {
  let closed = 0;
  const server = createHttpServer(handler);
  server.on('connection', (s) => s.on('close', () => closed++));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, closed: () => closed };
}

const errorOf = (r: QueryResult): { errorType: string; message: string } => {
  assert.equal(r.kind, 'error', `expected an error, got ${JSON.stringify(r)}`);
  return r as { errorType: string; message: string };
};

describe('PrometheusClient against fake Prometheus servers (size cap, timeout, redirects)', function () {
  this.timeout(30_000);
  const servers: Array<Server | TcpServer> = [];
  const sockets = new Set<Socket>();
  after(async () => {
    for (const s of sockets) s.destroy();
    for (const s of servers) {
      if ('closeAllConnections' in s) s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  it('cuts off a fake Prometheus that streams an answer without end at the size cap, and closes the connection', async () => {
    let sent = 0;
    let streaming = 0;
    const fake = await listen((_req, res) => {
      streaming++;
      res.writeHead(200, { 'content-type': 'application/json' }); // no content-length: chunked, endless
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      res.write('{"status":"success","data":{"resultType":"vector","result":[');
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk)) sent += chunk.length;
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    });
    servers.push(fake.server);
    const started = Date.now();
    const r = await new PrometheusClient({ url: fake.url, timeoutMs: 20_000, maxResponseBytes: 256 * 1024 }).query('up');
    const e = errorOf(r);
    assert.equal(e.errorType, 'TooLarge');
    assert.match(e.message, /more than 262144 bytes; the answer was cut off/);
    assert.match(e.message, /--prometheus-max-response-bytes/);
    assert.ok(Date.now() - started < 5_000, `cut off after ${Date.now() - started} ms, not at the 20 s timeout`);
    assert.equal(streaming, 1);
    await waitFor('the fake to see its connection closed', async () => (fake.closed() >= 1 ? true : undefined), 5_000, 20);
    const before = sent;
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(sent, before, 'nothing more is sent once the client cut the answer off');
    assert.ok(sent < 32 * 1024 * 1024, `the fake sent ${sent} bytes before the cut`);
  });

  it('refuses an answer from a fake Prometheus that declares a length over the cap, unread', async () => {
    const fake = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(1024 ** 3) });
      res.write('{');
    });
    servers.push(fake.server);
    const e = errorOf(await new PrometheusClient({ url: fake.url, timeoutMs: 5_000, maxResponseBytes: 4096 }).query('up'));
    assert.equal(e.errorType, 'TooLarge');
    await waitFor('the fake to see its connection closed', async () => (fake.closed() >= 1 ? true : undefined), 5_000, 20);
  });

  it('aborts a query to a fake Prometheus that never answers at its timeout, closing the socket', async () => {
    let socketClosed = false;
    const hung = createTcpServer((s) => {
      sockets.add(s);
      s.resume(); // read (and drop) the request, so the client's close is seen
      s.on('close', () => (socketClosed = true));
    });
    servers.push(hung);
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    const started = Date.now();
    const e = errorOf(await new PrometheusClient({ url: `http://127.0.0.1:${(hung.address() as AddressInfo).port}`, timeoutMs: 400 }).query('up'));
    const took = Date.now() - started;
    assert.equal(e.errorType, 'Timeout');
    assert.match(e.message, /did not answer within 400 ms; the query was aborted/);
    assert.ok(took >= 350 && took < 3_000, `took ${took} ms`);
    await waitFor('the aborted query to close its socket', async () => (socketClosed ? true : undefined), 5_000, 20);
  });

  it('a caller signal (the reconcile deadline) aborts a query to a fake Prometheus that never answers', async () => {
    const hung = createTcpServer((s) => sockets.add(s));
    servers.push(hung);
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('the reconcile passed its deadline of 200 ms')), 200);
    const started = Date.now();
    const e = errorOf(await new PrometheusClient({ url: `http://127.0.0.1:${(hung.address() as AddressInfo).port}`, timeoutMs: 20_000 }).query('up', undefined, ac.signal));
    assert.equal(e.errorType, 'Timeout');
    assert.match(e.message, /cancelled by the caller \(the reconcile passed its deadline of 200 ms\)/);
    assert.ok(Date.now() - started < 3_000);
  });

  describe('a fake Prometheus that redirects to the metadata address 169.254.169.254', () => {
    let fake: Awaited<ReturnType<typeof listen>>;
    let location = '';
    before(async () => {
      fake = await listen((_req, res) => {
        res.writeHead(307, { location });
        res.end();
      });
      servers.push(fake.server);
    });
    // The operator's guard: loopback trusted (the tests' stores), a name that resolves to the metadata address.
    const resolve = async (host: string) => (host === 'metadata.internal' ? [{ address: '169.254.169.254', family: 4 }] : [{ address: '127.0.0.1', family: 4 }]);
    const guard = new DestinationGuard(['127.0.0.1', 'localhost'], resolve);

    for (const [target, expect] of [
      ['http://169.254.169.254/latest/meta-data/iam/security-credentials/', /redirects to http:\/\/169\.254\.169\.254: .*plain http to a host not in the operator's trusted hosts/],
      ['https://169.254.169.254/latest/meta-data/', /resolves to 169\.254\.169\.254, a link-local \(cloud metadata\) address; refused/],
      ['https://metadata.internal/computeMetadata/v1/', /metadata\.internal resolves to 169\.254\.169\.254, a link-local \(cloud metadata\) address; refused/],
    ] as const) {
      it(`refuses ${target} through the artifact fetcher's address policy`, async () => {
        location = target;
        const e = errorOf(await new PrometheusClient({ url: fake.url, timeoutMs: 3_000, guard }).query('up'));
        assert.equal(e.errorType, 'Refused');
        assert.match(e.message, expect);
      });
    }

    it('refuses any redirect off the operator\'s Prometheus URLs when there is no guard', async () => {
      location = 'http://169.254.169.254/latest/meta-data/';
      const e = errorOf(await new PrometheusClient({ url: fake.url, timeoutMs: 3_000 }).query('up'));
      assert.equal(e.errorType, 'Refused');
      assert.match(e.message, /not one of the operator's Prometheus URLs; refused \(add it to --prometheus-urls/);
    });
  });

  it('follows a redirect within the allowed URLs and to a vetted trusted host, re-sending the query', async () => {
    const queries: string[] = [];
    const target = await listen((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        queries.push(`${req.url} ${new URLSearchParams(body).get('query')}`);
        if (req.url === '/moved/api/v1/query') {
          res.writeHead(308, { location: `http://localhost:${(target.server.address() as AddressInfo).port}/final/api/v1/query` });
          return res.end();
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(OK);
      });
    });
    servers.push(target.server);
    const redirecting = await listen((_req, res) => {
      res.writeHead(307, { location: `${target.url}/moved/api/v1/query` });
      res.end();
    });
    servers.push(redirecting.server);
    const guard = new DestinationGuard(['localhost'], async () => [{ address: '127.0.0.1', family: 4 }]);
    const r = await new PrometheusClient({ url: redirecting.url, allowedUrls: [`${target.url}/moved`], guard, timeoutMs: 3_000 }).query('sum(up)');
    assert.deepEqual(r, { kind: 'scalar', value: 1 });
    assert.deepEqual(queries, ['/moved/api/v1/query sum(up)', '/final/api/v1/query sum(up)']);
  });

  it('stops after the redirect limit', async () => {
    const loop = await listen((req, res) => {
      res.writeHead(307, { location: req.url ?? '/' });
      res.end();
    });
    servers.push(loop.server);
    const e = errorOf(await new PrometheusClient({ url: loop.url, timeoutMs: 3_000, maxRedirects: 2 }).query('up'));
    assert.equal(e.errorType, 'Refused');
    assert.match(e.message, /redirected more than 2 times/);
  });
});

