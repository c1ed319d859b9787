// ArtifactFetcher against a REAL loopback HTTP server (node:http on 127.0.0.1, allowlisted by
// host:port) and real files: digests, limits, deadlines, retries, redirects and the SSRF guard.
import assert from 'node:assert/strict';
import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { StageError } from '../../../src/validation/contract.js';
import { ArtifactFetcher, forbiddenAddressKind } from '../../../src/validation/fetch.js';
import type { FetcherOptions } from '../../../src/validation/fetch.js';
import { sha256Digest, tempDir } from '../../harness/models.js';

const BODY = Buffer.from('modelgate artifact body '.repeat(1000));
const DIGEST = sha256Digest(BODY);

async function rejectsWith(p: Promise<unknown>, reason: string, pattern?: RegExp): Promise<StageError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof StageError, `expected StageError ${reason}, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    if (pattern) assert.match(err.message, pattern);
    return err;
  }
  assert.fail(`expected StageError ${reason}, but the fetch succeeded`);
}

describe('ArtifactFetcher (real loopback HTTP server)', function () {
  this.timeout(30_000);
  let server: http.Server;
  let base: string;
  let hostPort: string;
  let cacheDir: string;
  const hits = new Map<string, number>();

  before(async () => {
    server = http.createServer((req, res) => {
      const url = req.url ?? '/';
      hits.set(url, (hits.get(url) ?? 0) + 1);
      if (url === '/ok') {
        res.writeHead(200, { 'content-length': BODY.length });
        res.end(BODY);
      } else if (url === '/flaky') {
        // 503 twice, then the body.
        if ((hits.get(url) ?? 0) <= 2) {
          res.writeHead(503);
          res.end('busy');
        } else res.end(BODY);
      } else if (url === '/missing') {
        res.writeHead(404);
        res.end('no such model');
      } else if (url === '/always-500') {
        res.writeHead(500);
        res.end();
      } else if (url === '/huge-chunked') {
        // No Content-Length: the fetcher must count and cut.
        res.writeHead(200, { 'transfer-encoding': 'chunked' });
        const chunk = Buffer.alloc(64 * 1024, 7);
        let sent = 0;
        const pump = (): void => {
          while (sent < 50 * 1024 * 1024) {
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        res.on('close', () => (sent = Infinity));
        pump();
      } else if (url === '/huge-declared') {
        res.writeHead(200, { 'content-length': 10 * 1024 * 1024 });
        res.write(Buffer.alloc(1024));
      } else if (url === '/trickle') {
        res.writeHead(200, { 'content-length': BODY.length });
        let i = 0;
        const t = setInterval(() => {
          if (res.destroyed || i >= BODY.length) return clearInterval(t);
          res.write(BODY.subarray(i, i + 1));
          i++;
        }, 50);
        res.on('close', () => clearInterval(t));
      } else if (url === '/half-then-ok') {
        // First request: half the body, then the connection drops (a store restarting). Later: all of it.
        res.writeHead(200, { 'content-length': BODY.length });
        if ((hits.get(url) ?? 0) === 1) {
          res.write(BODY.subarray(0, Math.floor(BODY.length / 2)));
          setTimeout(() => res.destroy(), 50);
        } else res.end(BODY);
      } else if (url === '/to-metadata') {
        res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' });
        res.end();
      } else if (url === '/to-metadata-https') {
        res.writeHead(302, { location: 'https://169.254.169.254/latest/meta-data/' });
        res.end();
      } else if (url === '/to-loopback-name') {
        res.writeHead(301, { location: 'https://internal.example.test/model.onnx' });
        res.end();
      } else if (url === '/to-ok') {
        res.writeHead(302, { location: '/ok' });
        res.end();
      } else if (url === '/loop') {
        res.writeHead(302, { location: '/loop' });
        res.end();
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    hostPort = `127.0.0.1:${port}`;
    base = `http://${hostPort}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  beforeEach(async () => {
    cacheDir = await tempDir('modelgate-cache-');
  });

  const fetcher = (extra: Partial<FetcherOptions> = {}): ArtifactFetcher =>
    new ArtifactFetcher({ cacheDir, trustedHosts: [hostPort], retries: 2, backoffMs: 20, maxBackoffMs: 100, ...extra });

  const leftovers = async (): Promise<string[]> => (await readdir(path.join(cacheDir, 'sha256')).catch(() => [])).filter((n) => n.startsWith('.partial-'));

  it('streams an allowlisted http artifact into <cacheDir>/sha256/<hex> and verifies the digest', async () => {
    const f = fetcher();
    const got = await f.fetch({ uri: `${base}/ok`, digest: DIGEST }, new AbortController().signal);
    assert.equal(got.path, path.join(cacheDir, 'sha256', DIGEST.slice('sha256:'.length)));
    assert.equal(got.sizeBytes, BODY.length);
    assert.deepEqual(await leftovers(), []);
    // A second fetch is served from the verified cache without a request.
    const before = hits.get('/ok');
    await f.fetch({ uri: `${base}/ok`, digest: DIGEST }, new AbortController().signal);
    assert.equal(hits.get('/ok'), before);
  });

  it('digest mismatch: DigestMismatch (terminal) and no file left in the cache', async () => {
    const wrong = sha256Digest('something else');
    const err = await rejectsWith(fetcher().fetch({ uri: `${base}/ok`, digest: wrong }, new AbortController().signal), 'DigestMismatch', /not the declared/);
    assert.equal(err.terminal, true);
    assert.deepEqual(await readdir(path.join(cacheDir, 'sha256')), []);
  });

  it('404: FetchFailed naming the status, terminal, without retries', async () => {
    hits.delete('/missing');
    const err = await rejectsWith(fetcher().fetch({ uri: `${base}/missing`, digest: DIGEST }, new AbortController().signal), 'FetchFailed', /HTTP 404/);
    assert.equal(err.terminal, true);
    assert.equal(hits.get('/missing'), 1);
  });

  it('5xx: retried with backoff and then succeeds; a persistent 500 gives FetchFailed after the retries', async () => {
    hits.delete('/flaky');
    const got = await fetcher().fetch({ uri: `${base}/flaky`, digest: DIGEST }, new AbortController().signal);
    assert.equal(got.sizeBytes, BODY.length);
    assert.equal(hits.get('/flaky'), 3);
    hits.delete('/always-500');
    const err = await rejectsWith(fetcher().fetch({ uri: `${base}/always-500`, digest: sha256Digest('other') }, new AbortController().signal), 'FetchFailed', /after 3 attempt/);
    assert.equal(err.terminal, false, 'a store that keeps answering 5xx may recover: transient, the operator retries later');
    assert.equal(hits.get('/always-500'), 3);
  });

  it('connection refused is transient: bounded retries, then FetchFailed', async () => {
    const s = http.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    const f = fetcher({ trustedHosts: [`127.0.0.1:${port}`] });
    await rejectsWith(f.fetch({ uri: `http://127.0.0.1:${port}/x`, digest: DIGEST }, new AbortController().signal), 'FetchFailed', /ECONNREFUSED|attempt/);
  });

  it('oversize without Content-Length: cut at the limit, ArtifactTooLarge, no partial file left', async () => {
    const err = await rejectsWith(
      fetcher({ maxBytes: 1024 * 1024 }).fetch({ uri: `${base}/huge-chunked`, digest: DIGEST }, new AbortController().signal),
      'ArtifactTooLarge',
    );
    assert.equal(err.terminal, true);
    assert.deepEqual(await leftovers(), []);
  });

  it("the artifact's sizeBytes lowers the limit; a declared Content-Length over it is refused at once", async () => {
    await rejectsWith(fetcher().fetch({ uri: `${base}/ok`, digest: DIGEST, sizeBytes: 100 }, new AbortController().signal), 'ArtifactTooLarge', /100 bytes/);
    await rejectsWith(fetcher({ maxBytes: 1024 * 1024 }).fetch({ uri: `${base}/huge-declared`, digest: DIGEST }, new AbortController().signal), 'ArtifactTooLarge');
    assert.deepEqual(await leftovers(), []);
  });

  it('a trickling server is cut by the deadline and the partial file removed', async () => {
    const t0 = Date.now();
    await rejectsWith(
      fetcher({ deadlineMs: 600, retries: 0 }).fetch({ uri: `${base}/trickle`, digest: DIGEST }, new AbortController().signal),
      'FetchFailed',
      /deadline/,
    );
    assert.ok(Date.now() - t0 < 5000, 'the deadline cut the transfer');
    assert.deepEqual(await leftovers(), []);
  });

  it('a body cut off mid-way is retried into a fresh partial file and then succeeds (fake store that drops the connection)', async () => {
    hits.delete('/half-then-ok');
    const got = await fetcher().fetch({ uri: `${base}/half-then-ok`, digest: DIGEST }, new AbortController().signal);
    assert.equal(got.sizeBytes, BODY.length);
    assert.equal(hits.get('/half-then-ok'), 2, 'one retry after the cut');
    assert.deepEqual(await leftovers(), []);
  });

  it('an abort signal stops the download and removes the partial file', async () => {
    const ac = new AbortController();
    const p = fetcher().fetch({ uri: `${base}/trickle`, digest: DIGEST }, ac.signal);
    setTimeout(() => ac.abort(new Error('checkpoint deleted')), 300);
    await assert.rejects(p, /checkpoint deleted/);
    assert.deepEqual(await leftovers(), []);
  });

  it('redirect to 169.254.169.254 (cloud metadata) is ForbiddenDestination', async () => {
    // Over plain http it is refused as an untrusted http host; over https by its address.
    await rejectsWith(fetcher().fetch({ uri: `${base}/to-metadata`, digest: DIGEST }, new AbortController().signal), 'ForbiddenDestination');
    await rejectsWith(fetcher().fetch({ uri: `${base}/to-metadata-https`, digest: DIGEST }, new AbortController().signal), 'ForbiddenDestination', /169\.254\.169\.254.*link-local/);
  });

  it('redirect to a name that resolves to loopback is refused when that host is not allowlisted', async () => {
    // The resolver stands in for DNS (names in .test never resolve); the check runs at connect time.
    const f = fetcher({ resolve: async () => [{ address: '127.0.0.1', family: 4 }] });
    await rejectsWith(f.fetch({ uri: `${base}/to-loopback-name`, digest: DIGEST }, new AbortController().signal), 'ForbiddenDestination', /127\.0\.0\.1.*loopback/);
  });

  it('an allowlisted name connects to the vetted address returned by the lookup (and follows a relative redirect)', async () => {
    const port = hostPort.split(':')[1]!;
    const looked: string[] = [];
    const f = fetcher({
      trustedHosts: [`models.example.test:${port}`],
      resolve: async (h) => {
        looked.push(h);
        return [{ address: '127.0.0.1', family: 4 }];
      },
    });
    const got = await f.fetch({ uri: `http://models.example.test:${port}/to-ok`, digest: DIGEST }, new AbortController().signal);
    assert.equal(got.sizeBytes, BODY.length);
    assert.ok(looked.includes('models.example.test'));
  });

  it('the same loopback server is refused when it is not allowlisted', async () => {
    await rejectsWith(fetcher({ trustedHosts: [] }).fetch({ uri: `${base}/ok`, digest: DIGEST }, new AbortController().signal), 'ForbiddenDestination', /not in the operator's trusted hosts/);
    await rejectsWith(fetcher({ trustedHosts: [] }).fetch({ uri: `https://${hostPort}/ok`, digest: DIGEST }, new AbortController().signal), 'ForbiddenDestination', /loopback/);
  });

  it('more than 5 redirects: FetchFailed', async () => {
    await rejectsWith(fetcher().fetch({ uri: `${base}/loop`, digest: DIGEST }, new AbortController().signal), 'FetchFailed', /redirected more than 5/);
  });

  it('classifies private, loopback, link-local, CGNAT and IPv4-mapped IPv6 addresses', () => {
    for (const ip of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '0.0.0.0', '100.64.0.1', '::1', '::', 'fe80::1', 'fc00::1', 'fd12:3456::1', '::ffff:127.0.0.1', '::ffff:169.254.169.254', '::ffff:7f00:1', '::ffff:10.0.0.1']) {
      assert.ok(forbiddenAddressKind(ip), `${ip} must be forbidden`);
    }
    for (const ip of ['8.8.8.8', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) {
      assert.equal(forbiddenAddressKind(ip), undefined, `${ip} is public`);
    }
  });

  it('file:// only under the configured roots; .. and symlinks out of the root are refused', async () => {
    const root = await tempDir('modelgate-root-');
    const outside = await tempDir('modelgate-outside-');
    await mkdir(path.join(root, 'models'));
    await writeFile(path.join(root, 'models', 'm.onnx'), BODY);
    await writeFile(path.join(outside, 'secret.onnx'), BODY);
    await symlink(path.join(outside, 'secret.onnx'), path.join(root, 'models', 'link.onnx'));
    const f = fetcher({ fileRoots: [root] });
    const sig = new AbortController().signal;
    const got = await f.fetch({ uri: `file://${root}/models/m.onnx`, digest: DIGEST }, sig);
    assert.equal(got.sizeBytes, BODY.length);
    await rejectsWith(f.fetch({ uri: `file://${root}/models/../../${path.basename(outside)}/secret.onnx`, digest: DIGEST }, sig), 'ForbiddenDestination');
    await rejectsWith(f.fetch({ uri: `file://${root}/models/link.onnx`, digest: DIGEST }, sig), 'ForbiddenDestination', /symbolic link/);
    await rejectsWith(f.fetch({ uri: `file://${outside}/secret.onnx`, digest: DIGEST }, sig), 'ForbiddenDestination');
    await rejectsWith(fetcher().fetch({ uri: `file://${root}/models/m.onnx`, digest: DIGEST }, sig), 'ForbiddenDestination', /none configured/);
  });

  it('sweepPartials() removes temp files an earlier run left behind', async () => {
    await mkdir(path.join(cacheDir, 'sha256'), { recursive: true });
    await writeFile(path.join(cacheDir, 'sha256', '.partial-deadbeef'), 'half a model');
    assert.equal(await fetcher().sweepPartials(), 1);
    assert.deepEqual(await leftovers(), []);
  });
});
