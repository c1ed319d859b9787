// A kubelet stand-in for one Deployment: nothing runs pods on this machine, so this watches the
// Deployment (a read every 200 ms) and, whenever the model env of its container changes
// (MODEL_URI, MODEL_DIGEST, MODEL_VERSION), starts the reference inference server
// (src/server/main.ts, a real child process) with the pod template's env plus PORT on a free
// loopback port, waits for /v2/health/ready, registers it as a Prometheus scrape target
// (labels namespace, deployment, version, pod), moves traffic to it, and only then stops the
// old one: a rolling update with maxUnavailable 0. A stable loopback "Service" URL proxies to
// whichever pod is serving, so a load generator keeps one URL across rollouts.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { AppsV1Api, type V1Deployment } from '@kubernetes/client-node';
import { DEFAULT_MODEL_ENV, DIGEST_ENV, VERSION_ENV } from '../../src/api/types.js';
import { repoRoot } from './binaries.js';
import type { ControlPlane } from './controlplane.js';
import { freePort, startProcess, stopProcess, waitFor, type Managed } from './process.js';
import type { PrometheusHandle } from './prometheus.js';

export interface PodRunnerOptions {
  /** The container whose env carries the model (default "server"). */
  container?: string;
  /** Where to register each pod as a scrape target. */
  prometheus?: PrometheusHandle;
  /** The scrape job name (default "inference"). */
  job?: string;
  /** The env var holding the model URI (default MODEL_URI). */
  modelEnv?: string;
  /** How often the Deployment is read (default 200 ms). */
  pollMs?: number;
  /** Called synchronously the moment traffic moves to a new pod (before the old one stops). */
  onServe?: (pod: ServingPod) => void;
}

export interface ServingPod {
  /** MODEL_VERSION of the pod. */
  version: string;
  /** The pod's own URL, http://127.0.0.1:<port>. */
  url: string;
  /** MODEL_DIGEST and MODEL_URI of the pod. */
  digest: string;
  uri: string;
  /** Prometheus instance label (host:port). */
  instance: string;
  /** Wall-clock ms when the Deployment change was seen and when the pod took traffic. */
  seenAt: number;
  servingAt: number;
}

export interface PodRunner {
  /** The stable "Service" URL: proxies every request to the serving pod (503 while there is none). */
  url: string;
  /** The pod taking traffic now. */
  current(): ServingPod | undefined;
  /** Resolves once a pod of version `v` takes traffic (at once if it already does). */
  waitForVersion(v: string, timeoutMs?: number): Promise<ServingPod>;
  /** The versions that took traffic, in order (a rollback shows as the old version again). */
  history(): string[];
  /** Pods that exited before they became ready, with their log path (a crash loop shows here). */
  failures(): Array<{ version: string; code: number | null; logPath: string }>;
  /** Stops watching, the proxy and every pod; removes their scrape targets. */
  stop(): Promise<void>;
}

interface Pod extends ServingPod {
  proc: Managed;
  name: string;
  inFlight: number;
}

interface ModelEnv {
  key: string;
  uri: string;
  digest: string;
  version: string;
  env: Record<string, string>;
}

const serverMain = path.join(repoRoot, 'src', 'server', 'main.ts');
// Resolved from the repository, not with import.meta.resolve: mocha require()s test files, tsx
// compiles them to CommonJS, where import.meta.resolve does not exist, and a throw here would
// make mocha fall back to import() and load a second copy of the harness (whose shared control
// plane the root hook then never stops).
const tsxLoader = pathToFileURL(createRequire(path.join(repoRoot, 'package.json')).resolve('tsx')).href;

function modelEnvOf(d: V1Deployment, container: string, modelEnv: string): ModelEnv | undefined {
  const c = d.spec?.template?.spec?.containers?.find((x) => x.name === container);
  if (!c) return undefined;
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
  const uri = env[modelEnv];
  if (!uri) return undefined;
  const digest = env[DIGEST_ENV] ?? '';
  const version = env[VERSION_ENV] ?? 'unknown';
  return { key: `${uri}\n${digest}\n${version}`, uri, digest, version, env };
}

export async function startPodRunner(cp: ControlPlane, namespace: string, deployment: string, opts: PodRunnerOptions = {}): Promise<PodRunner> {
  const container = opts.container ?? 'server';
  const job = opts.job ?? 'inference';
  const modelEnv = opts.modelEnv ?? DEFAULT_MODEL_ENV;
  const pollMs = opts.pollMs ?? 200;
  const apps = cp.kubeConfig().makeApiClient(AppsV1Api);
  const logDir = mkdtempSync(path.join(os.tmpdir(), `modelgate-pods-${deployment}-`));

  let stopped = false;
  let serving: Pod | undefined;
  let starting: Pod | undefined;
  let desired: ModelEnv | undefined;
  let podSeq = 0;
  const served: string[] = [];
  const failed: Array<{ version: string; code: number | null; logPath: string }> = [];
  const listeners = new Set<() => void>();
  const retired = new Set<Promise<void>>();

  // --- the Service: a loopback proxy to the serving pod -----------------------------------
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const proxy = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    const pod = serving;
    if (!pod) {
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"no pod is serving"}');
      return;
    }
    pod.inFlight += 1;
    let done = false;
    const finish = (): void => {
      if (!done) {
        done = true;
        pod.inFlight -= 1;
      }
    };
    const target = new URL(req.url ?? '/', pod.url);
    const upstream = http.request(target, { method: req.method, headers: req.headers, agent }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
      up.on('end', finish);
      up.on('error', finish);
    });
    upstream.on('error', (err) => {
      finish();
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `pod ${pod.name}: ${err.message}` }));
    });
    res.on('close', finish);
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const serviceUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;

  // --- pods --------------------------------------------------------------------------------
  const killPod = async (pod: Pod): Promise<void> => {
    opts.prometheus?.removeTarget(job, pod.instance);
    await stopProcess(pod.proc, 5000);
  };

  const startPod = async (want: ModelEnv, seenAt: number): Promise<void> => {
    for (let attempt = 0; !stopped && desired === want; attempt += 1) {
      const port = await freePort();
      const name = `${deployment}-${(podSeq += 1)}`;
      const logPath = path.join(logDir, `${name}.log`);
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        LOG_LEVEL: 'warn',
        ...want.env,
        PORT: String(port),
        HOST: '127.0.0.1',
      };
      const proc = startProcess(`pod ${name}`, process.execPath, ['--import', tsxLoader, serverMain], logPath, env);
      const url = `http://127.0.0.1:${port}`;
      const pod: Pod = { version: want.version, digest: want.digest, uri: want.uri, url, instance: `127.0.0.1:${port}`, seenAt, servingAt: 0, proc, name, inFlight: 0 };
      starting = pod;
      const ready = await waitFor(`pod ${name} ready`, async () => {
        if (stopped || desired !== want) return false;
        if (proc.child.exitCode !== null || proc.child.signalCode !== null) return false;
        const r = await fetch(`${url}/v2/health/ready`, { signal: AbortSignal.timeout(1000) });
        await r.arrayBuffer();
        return r.ok ? true : undefined;
      }, 24 * 3600_000, 50).catch(() => false);
      if (starting === pod) starting = undefined;
      if (!ready || stopped || desired !== want) {
        if (proc.child.exitCode !== null && desired === want && !stopped) failed.push({ version: want.version, code: proc.child.exitCode, logPath });
        await killPod(pod);
        if (stopped || desired !== want) return;
        // A crash before ready: restart with a back-off, as the kubelet would.
        await new Promise((r) => setTimeout(r, Math.min(5000, 500 * 2 ** attempt)));
        continue;
      }
      opts.prometheus?.addTarget(job, pod.instance, { namespace, deployment, version: want.version, pod: name });
      const old = serving;
      pod.servingAt = Date.now();
      serving = pod;
      served.push(pod.version);
      opts.onServe?.(pod);
      for (const l of [...listeners]) l();
      if (old) {
        // Drain: let requests already on the old pod finish (at most 2 s), then stop it.
        const retire = (async () => {
          const until = Date.now() + 2000;
          while (old.inFlight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
          await killPod(old);
        })();
        retired.add(retire);
        void retire.finally(() => retired.delete(retire));
      }
      return;
    }
  };

  let rollout: Promise<void> = Promise.resolve();
  const observe = (d: V1Deployment): void => {
    const want = modelEnvOf(d, container, modelEnv);
    if (!want || want.key === desired?.key) return;
    desired = want;
    const seenAt = Date.now();
    // A newer change cancels a pod still starting (its readiness loop sees `desired` move on).
    rollout = rollout.then(() => startPod(want, seenAt)).catch(() => undefined);
  };

  const poll = async (): Promise<void> => {
    while (!stopped) {
      try {
        observe(await apps.readNamespacedDeployment({ name: deployment, namespace }));
      } catch {
        // not there yet, or the apiserver is restarting: read again next time
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  };
  const polling = poll();

  return {
    url: serviceUrl,
    current: () => (serving ? toServing(serving) : undefined),
    async waitForVersion(v, timeoutMs = 60_000) {
      if (serving?.version === v) return toServing(serving);
      return new Promise<ServingPod>((resolve, reject) => {
        const check = (): void => {
          if (serving?.version !== v) return;
          cleanup();
          resolve(toServing(serving));
        };
        const timer = setTimeout(() => {
          cleanup();
          const tail = failed.length > 0 ? `; failed pods: ${failed.map((f) => `${f.version} exit ${f.code} (${f.logPath})`).join(', ')}` : '';
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${deployment} to serve ${v}; serving ${serving?.version ?? 'nothing'}, history [${served.join(', ')}]${tail}`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
      });
    },
    history: () => [...served],
    failures: () => [...failed],
    async stop() {
      if (stopped) return;
      stopped = true;
      await polling;
      await rollout;
      await Promise.allSettled([...retired]);
      await new Promise<void>((resolve) => {
        proxy.close(() => resolve());
        proxy.closeAllConnections();
      });
      agent.destroy();
      for (const p of [starting, serving]) if (p) await killPod(p);
      serving = undefined;
      rmSync(logDir, { recursive: true, force: true });
    },
  };
}

function toServing(p: Pod): ServingPod {
  return { version: p.version, url: p.url, digest: p.digest, uri: p.uri, instance: p.instance, seenAt: p.seenAt, servingAt: p.servingAt };
}
