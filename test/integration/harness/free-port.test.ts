// freePort (test/harness/process.ts): the ports the harness hands its servers. Real sockets.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { freePort } from '../../harness/process.js';

describe('freePort', () => {
  it('hands out bindable ports below the kernel\'s ephemeral range, never the same one twice', async () => {
    const lo = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    const ports = await Promise.all(Array.from({ length: 50 }, () => freePort()));
    assert.equal(new Set(ports).size, ports.length, `a port handed out twice: ${ports.join(', ')}`);
    for (const p of ports) assert.ok(p >= 20_000 && p < lo, `port ${p} is not in [20000, ${lo})`);
    // Each one binds, as a server started next would.
    for (const p of ports.slice(0, 10)) {
      await new Promise<void>((resolve, reject) => {
        const srv = net.createServer();
        srv.once('error', reject);
        srv.listen(p, '127.0.0.1', () => srv.close(() => resolve()));
      });
    }
  });

  it('skips a port something else is listening on', async () => {
    const lo = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    // Someone else's listener on a port in the range, and the draw steered onto it first
    // (Math.random replaced for this call only: the fake is the draw, the sockets are real).
    const srv = net.createServer();
    const taken = await new Promise<number>((resolve, reject) => {
      const tryPort = (p: number): void => {
        srv.once('error', () => (p < lo - 1 ? tryPort(p + 1) : reject(new Error('no port to listen on'))));
        srv.listen(p, '127.0.0.1', () => resolve(p));
      };
      tryPort(30_000);
    });
    const random = Math.random;
    const draws = [(taken - 20_000) / (lo - 20_000), 0.5];
    Math.random = () => draws.shift() ?? random();
    try {
      const port = await freePort();
      assert.notEqual(port, taken, 'the port with a listener on it was handed out');
      assert.equal(draws.length, 0, 'the second draw was used');
    } finally {
      Math.random = random;
      srv.close();
    }
  });
});
