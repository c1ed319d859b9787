// A webhook receiver for the demo on 127.0.0.1: keeps every notification the operator sends to
// the demo namespace, so the demo can print the one about its rollback.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Notification } from '../../src/notify/payload.js';

export interface WebhookReceiver {
  /** On the host's loopback. */
  url: string;
  port: number;
  received: Notification[];
  /** The first notification matching, waiting up to `timeoutMs`. */
  waitFor(match: (n: Notification) => boolean, timeoutMs: number): Promise<Notification | undefined>;
  stop(): Promise<void>;
}

export async function startReceiver(): Promise<WebhookReceiver> {
  const received: Notification[] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      try {
        received.push(JSON.parse(raw) as Notification);
        res.statusCode = 204;
      } catch {
        res.statusCode = 400;
      }
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/modelgate`,
    port,
    received,
    async waitFor(match, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = received.find(match);
        if (hit || Date.now() >= deadline) return hit;
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    stop: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
