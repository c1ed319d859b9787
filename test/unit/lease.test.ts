// LeaderElector's deadline and request budget, against a FAKE apiserver (a loopback http server
// that keeps one Lease and can hang: a request that never answers is a fault the real apiserver
// does not produce on demand). The real-control-plane version is
// test/integration/faults/lease-loss.test.ts.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../../src/kube/client.js';
import { LeaderElector } from '../../src/kube/lease.js';

interface FakeApiserver {
  url: string;
  hang: boolean;
  /** Lease writes (POST, PUT) answered. */
  writes: number;
  /** Requests held by `hang` whose client gave up (closed the connection). */
  abandoned: number;
  lease?: { metadata: Record<string, unknown>; spec: Record<string, unknown> };
  close(): Promise<void>;
}

async function fakeApiserver(): Promise<FakeApiserver> {
  const state: Omit<FakeApiserver, 'url' | 'close'> = { hang: false, writes: 0, abandoned: 0 };
  let rv = 1;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (state.hang) {
        res.on('close', () => state.abandoned++);
        return;
      }
      const json = (status: number, obj: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(obj));
      };
      if (req.method === 'GET') return state.lease ? json(200, state.lease) : json(404, { kind: 'Status', reason: 'NotFound', message: 'not found' });
      const obj = JSON.parse(body) as NonNullable<FakeApiserver['lease']>;
      if (req.method === 'PUT' && obj.metadata.resourceVersion !== state.lease?.metadata.resourceVersion) return json(409, { kind: 'Status', reason: 'Conflict', message: 'conflict' });
      state.writes++;
      state.lease = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++rv) } };
      json(req.method === 'POST' ? 201 : 200, state.lease);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return Object.assign(state, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  }) as FakeApiserver;
}

function clientFor(url: string, opts: { qps?: number; burst?: number } = {}): KubeClient {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server: url, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'c', cluster: 'fake', user: 'u' }],
    currentContext: 'c',
  });
  return new KubeClient(kc, opts);
}

describe('kube/lease LeaderElector (fake apiserver)', function () {
  this.timeout(20_000);
  let api: FakeApiserver;
  let elector: LeaderElector | undefined;

  beforeEach(async () => {
    api = await fakeApiserver();
  });
  afterEach(async () => {
    elector?.stop();
    elector = undefined;
    await api.close();
  });

  it('requests that hang end leadership at the renew deadline, before the lease expires, and the hung request is aborted', async () => {
    elector = new LeaderElector(clientFor(api.url), { namespace: 'ns', name: 'l', identity: 'a', leaseDurationSeconds: 3, renewDeadlineMs: 1500, retryPeriodMs: 200 });
    let lostAt = 0;
    let why = '';
    await elector.acquire((w) => {
      lostAt = Date.now();
      why = w;
    });
    assert.equal(elector.isLeader, true);
    await new Promise((r) => setTimeout(r, 600));
    const lastRenew = Date.parse(String(api.lease?.spec.renewTime));
    api.hang = true;
    const hungAt = Date.now();
    await new Promise((r) => setTimeout(r, 2500));
    assert.ok(lostAt > 0, 'leadership was given up');
    assert.equal(elector.isLeader, false);
    assert.match(why, /no lease renewal for \d+ ms \(deadline 1500 ms, lease 3 s\)/);
    assert.ok(lostAt - lastRenew >= 1500 - 50, `gave up ${lostAt - lastRenew} ms after the last renewal: not before the deadline`);
    assert.ok(lostAt - lastRenew < 3000, `gave up ${lostAt - lastRenew} ms after the last renewal: after the lease expired`);
    assert.ok(lostAt - hungAt < 1600, 'a hanging request does not hold the deadline back');
    assert.ok(api.abandoned >= 1, 'the hung renewal request was aborted');
  });

  it('renews on its own budget: a shared client limiter with no tokens left does not delay renewals', async () => {
    const client = clientFor(api.url, { qps: 0.1, burst: 1 });
    // Drain the shared limiter: the next request on it waits 10 s.
    await client.request('GET', '/api/v1/namespaces/ns/configmaps/x').catch(() => undefined);
    const queued = client.request('GET', '/api/v1/namespaces/ns/configmaps/y').catch(() => undefined);
    elector = new LeaderElector(client, { namespace: 'ns', name: 'l', identity: 'a', leaseDurationSeconds: 3, renewDeadlineMs: 1500, retryPeriodMs: 200 });
    let lost = false;
    await elector.acquire(() => (lost = true));
    const before = api.writes;
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(lost, false, 'still the leader');
    assert.ok(api.writes - before >= 5, `${api.writes - before} renewals in 2.5 s`);
    elector.stop();
    void queued;
  });

  it('refuses a renew deadline not shorter than the lease', () => {
    assert.throws(() => new LeaderElector(clientFor(api.url), { namespace: 'ns', name: 'l', identity: 'a', leaseDurationSeconds: 3, renewDeadlineMs: 3000 }), /shorter than the lease duration/);
  });
});
