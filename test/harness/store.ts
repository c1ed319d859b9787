// The local cluster's model store: a plain HTTP file server inside the pod network, on the
// bridge address, so the operator's pods and the inference pods fetch models over the network
// (never through a shared disk). The host puts files in its folder; only pods and processes in
// the pod network namespace talk to it. deploy/local names its address as a trusted host.
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bridgeAddress, type LocalNode } from './node.js';
import { startProcess, stopProcess, waitFor, type Managed } from './process.js';

export const storePort = 8099;

// Serves <dir>/<name> for GET /<name> (one path segment, no dot files); 404 otherwise. Logs each
// request as one line so a test can see who fetched what. A store that stalls: while
// <dir>/<name>.hang exists, a GET of <name> gets its headers and then no byte of the body (the
// connection stays open), as a wedged store or a dead proxy behaves. A slow store: while
// <dir>/<name>.delay holds a number of milliseconds, a GET of <name> gets its headers at once and
// its body that much later.
const SERVER = `
const http = require('node:http'), fs = require('node:fs'), path = require('node:path');
const [dir, host, port] = process.argv.slice(1);
http.createServer((req, res) => {
  const name = decodeURIComponent(new URL(req.url, 'http://x').pathname.slice(1));
  const file = path.join(dir, name);
  console.log(JSON.stringify({ method: req.method, path: req.url, from: req.socket.remoteAddress }));
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(name) || !fs.existsSync(file)) { res.writeHead(404).end('not found'); return; }
  const size = fs.statSync(file).size;
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
  if (req.method === 'HEAD') { res.end(); return; }
  if (fs.existsSync(file + '.hang')) { res.flushHeaders(); return; }
  if (fs.existsSync(file + '.delay')) {
    res.flushHeaders();
    setTimeout(() => fs.createReadStream(file).pipe(res), Number(fs.readFileSync(file + '.delay', 'utf8')));
    return;
  }
  fs.createReadStream(file).pipe(res);
}).listen(Number(port), host, () => console.log(JSON.stringify({ listening: host + ':' + port })));
`;

export interface ModelStore {
  /** http://10.244.0.1:8099: reachable from pods and the pod network only. */
  url: string;
  dir: string;
  /** Copies a file in; returns its URI for pods. */
  put(file: string, name?: string): string;
  /** Puts other bytes under a name already served (a moved tag, a corrupted upload). */
  overwrite(name: string, bytes: Uint8Array): void;
  /** From now on a GET of `name` sends headers and then nothing (see SERVER). */
  hang(name: string): void;
  /** From now on a GET of `name` sends headers at once and the body `ms` later. */
  delay(name: string, ms: number): void;
  /** Ends hang() and delay() for `name`: later GETs are served at once (those in flight stay as they are). */
  steady(name: string): void;
  /** Request lines the server logged (method, path, remote address). */
  requests(): Promise<Array<{ method: string; path: string; from: string }>>;
  stop(): Promise<void>;
}

export async function startModelStore(node: LocalNode, dir: string): Promise<ModelStore> {
  mkdirSync(dir, { recursive: true });
  const logPath = path.join(dir, '..', `store-${path.basename(dir)}.log`);
  const m: Managed = startProcess('model-store', node.inNetns[0]!, [...node.inNetns.slice(1), process.execPath, '-e', SERVER, dir, bridgeAddress, String(storePort)], logPath);
  const { readFile } = await import('node:fs/promises');
  const lines = async (): Promise<Array<Record<string, string>>> =>
    (await readFile(logPath, 'utf8').catch(() => '')).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, string>);
  await waitFor('model store listening', async () => {
    if (m.child.exitCode !== null) throw new Error(`the model store exited ${m.child.exitCode}: ${await readFile(logPath, 'utf8').catch(() => '')}`);
    return (await lines()).some((l) => l.listening) ? true : undefined;
  }, 15_000, 100);
  const url = `http://${bridgeAddress}:${storePort}`;
  return {
    url,
    dir,
    put(file, name = path.basename(file)) {
      copyFileSync(file, path.join(dir, name));
      return `${url}/${name}`;
    },
    overwrite(name, bytes) {
      writeFileSync(path.join(dir, name), bytes);
    },
    hang(name) {
      writeFileSync(path.join(dir, `${name}.hang`), '');
    },
    delay(name, ms) {
      writeFileSync(path.join(dir, `${name}.delay`), String(ms));
    },
    steady(name) {
      for (const f of [`${name}.hang`, `${name}.delay`]) rmSync(path.join(dir, f), { force: true });
    },
    async requests() {
      return (await lines()).filter((l) => l.method) as Array<{ method: string; path: string; from: string }>;
    },
    stop: () => stopProcess(m),
  };
}
