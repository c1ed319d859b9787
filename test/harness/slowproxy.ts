// A TLS proxy in front of the test apiserver that answers chosen requests late: the write lands
// (and its watch event goes out) at once, but its response reaches the client `delayMs` later.
// That makes "the watch event arrives before the write's own response" happen every time.
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
  close(): Promise<void>;
}

export async function startSlowProxy(cp: ControlPlane, opts: { delayMs: number; match: (method: string, url: string) => boolean }): Promise<SlowProxy> {
  const pki = path.join(cp.dir, 'pki');
  const read = (f: string): Buffer => readFileSync(path.join(pki, f));
  const upstream = new URL(cp.server);
  const agent = new https.Agent({ ca: read('ca.crt'), cert: read('admin.crt'), key: read('admin.key'), keepAlive: true });
  let delayed = 0;
  const server = https.createServer({ cert: read('apiserver.crt'), key: read('apiserver.key') }, (req, res) => {
    const slow = opts.match(req.method ?? 'GET', req.url ?? '/');
    const headers = { ...req.headers, host: upstream.host };
    const up = https.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent }, (ur) => {
      const send = (): void => {
        res.writeHead(ur.statusCode ?? 502, ur.headers as http.OutgoingHttpHeaders);
        ur.pipe(res);
      };
      if (slow) {
        delayed++;
        setTimeout(send, opts.delayMs);
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
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
        agent.destroy();
      }),
  };
}
