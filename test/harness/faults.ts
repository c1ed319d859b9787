// Helpers for the fault suite (test/integration/faults): a loopback HTTP server that trickles an
// artifact until told to let go, a watch that records every version of a checkpoint, a readiness
// sampler, a fast API client for write storms, and small readers of the Deployment's record.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Watch } from '@kubernetes/client-node';
import type { Counter } from 'prom-client';
import type { ModelCheckpoint } from '../../src/api/types.js';
import { KubeClient, paths } from '../../src/kube/client.js';
import type { ControlPlane } from './controlplane.js';
import { getJson } from './fixtures.js';
import { classifierModel } from './models.js';
import { waitFor } from './process.js';

// ---------------------------------------------------------------------------------------------
// A trickling HTTP server

export interface TrickleServer {
  /** http://127.0.0.1:<port>/<name> */
  url(name: string): string;
  /** Requests received so far, per file name. */
  requests(name: string): number;
  /** Responses whose client went away before the whole body was sent. */
  readonly abandoned: number;
  /** Responses sent in full. */
  readonly completed: number;
  /** While held, bodies trickle (a few bytes a tick) and never finish. */
  hold(): void;
  /** Sends what is left of every body at once, and serves later requests at full speed. */
  release(): void;
  /** Resolves once `n` requests for `name` have received their first bytes. */
  waitForRequests(name: string, n?: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startTrickleServer(files: Record<string, Uint8Array | string>, opts: { chunkBytes?: number; everyMs?: number; held?: boolean } = {}): Promise<TrickleServer> {
  const chunk = opts.chunkBytes ?? 256;
  const every = opts.everyMs ?? 100;
  let held = opts.held ?? true;
  const counts = new Map<string, number>();
  let abandoned = 0;
  let completed = 0;
  const wakers = new Set<() => void>();
  const server = http.createServer((req, res) => {
    const name = decodeURIComponent((req.url ?? '/').slice(1).split('?')[0] ?? '');
    const body = files[name];
    if (body === undefined) {
      res.writeHead(404).end();
      return;
    }
    const bytes = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    counts.set(name, (counts.get(name) ?? 0) + 1);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) });
    let sent = 0;
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      wakers.delete(tick);
    };
    const tick = (): void => {
      if (done) return;
      const n = held ? Math.min(chunk, bytes.length - sent - 1) : bytes.length - sent;
      if (n > 0) {
        res.write(bytes.subarray(sent, sent + n));
        sent += n;
      }
      if (sent >= bytes.length) {
        finish();
        completed++;
        res.end();
        return;
      }
      clearTimeout(timer);
      timer = setTimeout(tick, every);
    };
    res.on('close', () => {
      if (!done && sent < bytes.length) abandoned++;
      finish();
    });
    wakers.add(tick);
    tick();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (name) => `http://127.0.0.1:${port}/${encodeURIComponent(name)}`,
    requests: (name) => counts.get(name) ?? 0,
    get abandoned() {
      return abandoned;
    },
    get completed() {
      return completed;
    },
    hold() {
      held = true;
    },
    release() {
      held = false;
      for (const w of [...wakers]) w();
    },
    waitForRequests: (name, n = 1, timeoutMs = 30_000) => waitFor(`${n} request(s) for ${name}`, async () => ((counts.get(name) ?? 0) >= n ? true : undefined), timeoutMs, 50).then(() => undefined),
    close: () =>
      new Promise<void>((resolve) => {
        held = false;
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// Models that take a while to validate

/**
 * A 1024x1024 classifier (4 MiB of weights): one batch of 64 takes several milliseconds, so the
 * benchmark gate with `slowBenchmark(runs)` runs for roughly `runs` x 8 ms.
 */
export function heavyClassifier(seed = 1): Uint8Array {
  return classifierModel({ features: 1024, classes: 1024, seed });
}

export const slowBenchmark = (runs: number): { batchSizes: number[]; warmupRuns: number; runs: number } => ({ batchSizes: [64], warmupRuns: 1, runs });

// ---------------------------------------------------------------------------------------------
// Cache folder

/** Temp files in a validator's cache folder: `.partial-*` downloads and anything not named by a digest. */
export function tempFilesIn(cacheDir: string): string[] {
  const dir = path.join(cacheDir, 'sha256');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => !/^[0-9a-f]{64}$/.test(f));
}

// ---------------------------------------------------------------------------------------------
// The API, fast and direct

/** A client without the operator's polite rate limit, for storms and raw reads. */
export function apiClient(cp: ControlPlane, fieldManager = 'fault-suite'): KubeClient {
  return new KubeClient(cp.kubeConfig(), { qps: 5000, burst: 5000, fieldManager });
}

export interface DeploymentView {
  metadata: { uid: string; generation: number; resourceVersion: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec: { template: { metadata: { annotations?: Record<string, string> }; spec: { containers: Array<{ name: string; env?: Array<{ name: string; value: string }> }> } } };
  status?: { observedGeneration?: number };
}

export async function readDeployment(cp: ControlPlane, ns: string, name: string): Promise<DeploymentView | undefined> {
  return apiClient(cp).find<DeploymentView>(paths.deployment(ns, name));
}

export function envOf(d: DeploymentView, container = 'server'): Record<string, string> {
  return Object.fromEntries((d.spec.template.spec.containers.find((c) => c.name === container)?.env ?? []).map((e) => [e.name, e.value]));
}

/** deployment.kubernetes.io/revision of every ReplicaSet in the namespace, sorted. */
export async function revisions(cp: ControlPlane, ns: string): Promise<string[]> {
  const list = await getJson<{ items: Array<{ metadata: { annotations?: Record<string, string> } }> }>(cp, ns, 'replicasets');
  return list.items.map((rs) => rs.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? '?').sort();
}

export async function waitForRevision(cp: ControlPlane, ns: string, revision: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(`ReplicaSet revision ${revision} in ${ns}`, async () => ((await revisions(cp, ns)).includes(revision) ? true : undefined), timeoutMs);
}

interface EventList {
  items: Array<{ reason?: string; note?: string; regarding?: { name?: string; kind?: string } }>;
}

/** events.k8s.io Events about one checkpoint. */
export async function checkpointEvents(cp: ControlPlane, ns: string, name: string): Promise<EventList['items']> {
  const list = await apiClient(cp).get<EventList>(paths.events(ns));
  return list.items.filter((e) => e.regarding?.kind === 'ModelCheckpoint' && e.regarding.name === name);
}

// ---------------------------------------------------------------------------------------------
// Every version of a checkpoint, as a watch delivers them

export interface CheckpointRecorder {
  readonly versions: ModelCheckpoint[];
  stop(): void;
}

/** Watches one checkpoint from now on (re-watching from the last version if the stream ends). */
export async function recordCheckpoint(cp: ControlPlane, ns: string, name: string): Promise<CheckpointRecorder> {
  const versions: ModelCheckpoint[] = [];
  const watch = new Watch(cp.kubeConfig());
  let stopped = false;
  let controller: AbortController | undefined;
  let rv = '';
  const start = async (): Promise<void> => {
    if (stopped) return;
    const query: Record<string, string> = { fieldSelector: `metadata.name=${name}` };
    if (rv) query.resourceVersion = rv;
    controller = await watch.watch(paths.checkpoints(ns), query, (type: string, obj: ModelCheckpoint) => {
      if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') {
        versions.push(obj);
        rv = obj.metadata.resourceVersion ?? rv;
      }
    }, () => {
      if (!stopped) setTimeout(() => void start(), 100);
    });
  };
  await start();
  return {
    versions,
    stop() {
      stopped = true;
      controller?.abort();
    },
  };
}

/** The sum of a prom-client counter over its labels (e.g. the in-process operator's deploysTotal). */
export async function counterValue(counter: Counter): Promise<number> {
  return (await counter.get()).values.reduce((a, v) => a + v.value, 0);
}

// ---------------------------------------------------------------------------------------------
// Readiness and logs

export interface Sample {
  at: number;
  ok: boolean;
}

/** Polls a /readyz URL every `everyMs` until stopped. */
export function sampleReadiness(url: string, everyMs = 100): { samples: Sample[]; stop(): Promise<void> } {
  const samples: Sample[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const at = Date.now();
      let ok = false;
      try {
        const r = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(3000) });
        ok = r.status === 200;
        await r.body?.cancel();
      } catch {
        ok = false;
      }
      samples.push({ at, ok });
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    samples,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

export interface LogLine {
  level?: string;
  message?: string;
  [k: string]: unknown;
}

/** The JSON lines of an operator process's log (other lines skipped). */
export function logLines(logPath: string): LogLine[] {
  if (!existsSync(logPath)) return [];
  const out: LogLine[] = [];
  for (const line of readFileSync(logPath, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as LogLine);
    } catch {
      // a line cut by a kill
    }
  }
  return out;
}

export async function waitForLog(logPath: string, pred: (l: LogLine) => boolean, what: string, timeoutMs = 30_000): Promise<LogLine> {
  return waitFor(`log line: ${what} in ${logPath}`, async () => logLines(logPath).find(pred), timeoutMs, 100);
}

/** Reconcile steps an operator process logged for one checkpoint (needs --log-level=debug). */
export function stepsLogged(logPath: string, ns: string, name: string): string[] {
  return logLines(logPath)
    .filter((l) => l.message === 'reconcile step' && l.namespace === ns && l.name === name)
    .map((l) => String(l.step));
}
