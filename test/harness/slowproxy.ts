// A TLS proxy in front of the test apiserver that answers chosen requests late: the write lands
// (and its watch event goes out) at once, but its response reaches the client `delayMs` later.
// That makes "the watch event arrives before the write's own response" happen every time.
// Two more faults no real part produces on demand (this proxy is a FAKE network path, the
// apiserver behind it is real): `hang` holds chosen requests without forwarding them or ever
// answering (a connection that hangs), and silence() mutes the watch streams open now (the
// connection stays open, no byte arrives: a silent watch).
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { ControlPlane } from './controlplane.js';
import { kubeconfigYaml } from './pki.js';

export interface SlowProxy {
  /** A kubeconfig (admin credentials) that talks to the apiserver through the proxy. */
  kubeconfigPath: string;
  /** Requests the proxy delayed so far. */
  readonly delayed: number;
  /** Requests the proxy held without forwarding (hang) so far. */
  readonly hung: number;
  /** Every request seen, in order, as "METHOD url". */
  readonly seen: readonly string[];
  /** Mutes the open watch responses whose url matches: no more bytes, the connection stays open. Returns how many. */
  silence(match: (url: string) => boolean): number;
  close(): Promise<void>;
}

export interface SlowProxyOptions {
  delayMs?: number;
  match?: (method: string, url: string) => boolean;
  /** Asked per request: true holds it forever (never forwarded, never answered). */
  hang?: (method: string, url: string) => boolean;
}

export async function startSlowProxy(cp: ControlPlane, opts: SlowProxyOptions): Promise<SlowProxy> {
  const pki = path.join(cp.dir, 'pki');
  const read = (f: string): Buffer => readFileSync(path.join(pki, f));
  const upstream = new URL(cp.server);
  const agent = new https.Agent({ ca: read('ca.crt'), cert: read('admin.crt'), key: read('admin.key'), keepAlive: true });
  let delayed = 0;
  let hung = 0;
  const seen: string[] = [];
  const watches = new Map<http.IncomingMessage, { url: string; res: http.ServerResponse }>();
  const server = https.createServer({ cert: read('apiserver.crt'), key: read('apiserver.key') }, (req, res) => {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    seen.push(`${method} ${url}`);
    if (opts.hang?.(method, url)) {
      hung++;
      req.resume();
      return; // never answered; closeAllConnections ends it
    }
    const slow = opts.match?.(method, url) ?? false;
    const headers = { ...req.headers, host: upstream.host };
    const up = https.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent }, (ur) => {
      const send = (): void => {
        res.writeHead(ur.statusCode ?? 502, ur.headers as http.OutgoingHttpHeaders);
        // A watch answers its headers at once and its body only with the first event.
        res.flushHeaders();
        ur.pipe(res);
        if (/[?&]watch=(true|1)/.test(url)) {
          watches.set(ur, { url, res });
          ur.on('close', () => watches.delete(ur));
        }
      };
      if (slow) {
        delayed++;
        setTimeout(send, opts.delayMs ?? 0);
      } else send();
    });
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kubeconfigPath = path.join(cp.dir, `slowproxy-${Date.now().toString(36)}.kubeconfig`);
  writeFileSync(kubeconfigPath, kubeconfigYaml(url, path.join(pki, 'ca.crt'), path.join(pki, 'admin.crt'), path.join(pki, 'admin.key'), 'modelgate-admin'), { mode: 0o600 });
  return {
    kubeconfigPath,
    get delayed() {
      return delayed;
    },
    get hung() {
      return hung;
    },
    seen,
    silence(match) {
      let n = 0;
      for (const [ur, w] of watches) {
        if (!match(w.url)) continue;
        ur.unpipe(w.res);
        ur.resume(); // keep draining upstream, deliver nothing
        watches.delete(ur);
        n++;
      }
      return n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
        agent.destroy();
      }),
  };
}
