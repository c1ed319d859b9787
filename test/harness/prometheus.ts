// A real Prometheus server for tests, benchmarks and the demo: our own config in a temp dir,
// TSDB in that dir, a free loopback port, file-based service discovery so targets come and go
// at run time, and teardown on stop() and on process exit (the temp dir is always removed).
// startPodNetworkPrometheus() runs it the way users' clusters do instead: inside the node's
// network namespace on the bridge address, finding pods with kubernetes_sd_configs (role pod,
// through the apiserver relay, as a ServiceAccount that may only read pods) and scraping pod
// IPs; the host reaches it through a socat relay over a unix socket.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { cacheRoot, executable, repoRoot } from './binaries.js';
import { bridgeAddress } from './node.js';
import type { NodeCluster } from './nodecluster.js';
import { pidRunning, podNetworkCredentials } from './podnetwork.js';
import { freePort, startProcess, stopProcess, waitFor, type Managed } from './process.js';

export interface PrometheusOptions {
  /** Scrape interval: seconds or a Prometheus duration such as "500ms" (default 1s). */
  scrapeInterval?: number | string;
  /** Rule evaluation interval (default: the scrape interval). */
  evaluationInterval?: number | string;
  /** Rule files (absolute paths) to load, e.g. alerting rules for benchmarks. */
  ruleFiles?: string[];
  /** Rule file content (YAML) written into the temp dir and loaded. */
  rules?: string;
  /** The prometheus binary (default: PROMETHEUS_BINARY, /usr/bin/prometheus, then PATH). */
  binary?: string;
  /** How long to wait for /-/ready (default 30000). */
  readyTimeoutMs?: number;
  /** Extra command-line flags. */
  extraArgs?: string[];
}

export interface PrometheusHandle {
  /** http://127.0.0.1:<port>: where this process (the host) queries it. */
  url: string;
  /** Where pods and processes in the pod network query it (pod-network mode only). */
  podNetworkUrl?: string;
  port: number;
  /** The temp dir holding config, targets, rules, data and log. */
  dir: string;
  dataDir: string;
  configPath: string;
  logPath: string;
  /** Adds (or relabels) a scrape target; Prometheus picks it up within about a second. */
  addTarget(job: string, target: string, labels?: Record<string, string>): void;
  removeTarget(job: string, target: string): void;
  /** Resolves once Prometheus has scraped `instance` of `job` successfully. */
  waitForTargetUp(job: string, instance: string, timeoutMs?: number): Promise<void>;
  running(): boolean;
  /** SIGTERM, wait, remove the temp dir. Idempotent. The handle is unusable afterwards. */
  stop(): Promise<void>;
  /** SIGKILL (for fault tests); the data dir stays, so restart() can bring it back. */
  kill(): Promise<void>;
  /** Stops it if running, then starts it again on the same port with the same data dir. */
  restart(): Promise<void>;
  /** What a stopped Prometheus left behind (processes, its temp dir). Empty is clean. */
  leftovers(): string[];
}

export interface PodNetworkPrometheusOptions extends PrometheusOptions {
  /** Port on the bridge address (default 9090): pods use http://10.244.0.1:<port>. */
  port?: number;
  /** Namespaces kubernetes_sd watches (default: all; the ClusterRole allows all). */
  namespaces?: string[];
  /** The ServiceAccount it authenticates as (default monitoring/prometheus). */
  serviceAccount?: string;
  serviceAccountNamespace?: string;
}

/** Where a Prometheus runs: on the host's loopback, or in the pod network behind a relay. */
interface Placement {
  /** argv prefix (nsenter --net=... --) or none. */
  prefix: string[];
  listen: string;
  extraScrapeConfigs: string[];
  /** Starts relays (handed to `track` as they start) once the temp dir exists; returns the host port to query. */
  setup?: (dir: string, track: (m: Managed) => void) => Promise<number>;
  podNetworkUrl?: string;
  /** Writes files (credentials) into the temp dir before the config. */
  prepare?: (dir: string) => Promise<void>;
}

const INSTALL_HINT =
  'Prometheus is not installed: run `apt-get install -y prometheus` (Debian package prometheus, 2.42) or set PROMETHEUS_BINARY to a prometheus 2.x binary.';


function findBinary(explicit?: string): string | undefined {
  const candidates = [explicit, process.env.PROMETHEUS_BINARY, '/usr/bin/prometheus'];
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) if (dir) candidates.push(path.join(dir, 'prometheus'));
  return candidates.find((c): c is string => typeof c === 'string' && c !== '' && executable(c));
}

function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout: 15 * 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ ok: !err, output: `${stdout}${stderr}` });
    });
  });
}

let installing: Promise<string> | undefined;

/**
 * The path of a prometheus binary. When none is found and we run as root with apt-get, installs
 * the Debian package (with a temporary policy-rc.d so the package's own service never starts:
 * tests always run their own server on their own port). Otherwise throws, saying what to install.
 */
export function ensurePrometheusBinary(binary?: string): Promise<string> {
  const found = findBinary(binary);
  if (found) return Promise.resolve(found);
  installing ??= (async () => {
    const aptGet = '/usr/bin/apt-get';
    if (process.getuid?.() !== 0 || !existsSync(aptGet)) throw new Error(INSTALL_HINT);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const policy = '/usr/sbin/policy-rc.d';
    const ownPolicy = !existsSync(policy);
    if (ownPolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
    try {
      let r = await sh(aptGet, ['install', '-y', '--no-install-recommends', 'prometheus'], env);
      if (!r.ok) {
        await sh(aptGet, ['update'], env);
        r = await sh(aptGet, ['install', '-y', '--no-install-recommends', 'prometheus'], env);
      }
      const after = findBinary(binary);
      if (!r.ok || !after) throw new Error(`${INSTALL_HINT} (apt-get install failed: ${r.output.trim().split('\n').slice(-3).join(' | ')})`);
      return after;
    } finally {
      if (ownPolicy) rmSync(policy, { force: true });
    }
  })();
  installing.catch(() => {
    installing = undefined;
  });
  return installing;
}

const k8sSd = new Map<string, boolean>();
/**
 * Whether a prometheus binary has Kubernetes service discovery compiled in: an error message of
 * that package is in the binary (the `kubernetes_sd_configs` key is not: SD keys are built at run time).
 */
export function hasKubernetesSd(binary: string): boolean {
  let v = k8sSd.get(binary);
  if (v === undefined) {
    v = readFileSync(binary).includes('unknown Kubernetes SD role');
    k8sSd.set(binary, v);
  }
  return v;
}

/**
 * A prometheus binary with kubernetes_sd_configs. Debian's package has none (its packaging
 * removed Kubernetes discovery with client-go), so unless PROMETHEUS_K8S_BINARY or the installed
 * binary has it, the version pinned in tools/prometheus/go.mod is built once from the Go module
 * proxy into ~/.cache/modelgate/prometheus/<version>/ (scripts/build-prometheus.sh, minutes).
 */
export async function ensureKubernetesSdPrometheus(log: (l: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<string> {
  const explicit = process.env.PROMETHEUS_K8S_BINARY;
  if (explicit) {
    if (!executable(explicit) || !hasKubernetesSd(explicit)) throw new Error(`PROMETHEUS_K8S_BINARY=${explicit} is not a prometheus binary with Kubernetes service discovery.`);
    return explicit;
  }
  const installed = findBinary();
  if (installed && hasKubernetesSd(installed)) return installed;
  const mod = /require\s+github\.com\/prometheus\/prometheus\s+(v\S+)/.exec(readFileSync(path.join(repoRoot, 'tools', 'prometheus', 'go.mod'), 'utf8'))?.[1];
  if (!mod) throw new Error('tools/prometheus/go.mod does not pin github.com/prometheus/prometheus');
  const dir = path.join(cacheRoot(), 'prometheus', `v2.${mod.replace(/^v0\./, '')}`);
  const built = path.join(dir, 'prometheus');
  if (executable(built)) return built;
  log(`building Prometheus ${mod} with Kubernetes service discovery into ${dir} (Debian's package has none): first run only, several minutes`);
  const r = spawnSync('bash', [path.join(repoRoot, 'scripts', 'build-prometheus.sh'), dir], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0 || !executable(built)) throw new Error(`building Prometheus failed (exit ${r.status}): see the Go output above, or set PROMETHEUS_K8S_BINARY`);
  return built;
}

function duration(v: number | string | undefined, fallback: string): string {
  if (v === undefined) return fallback;
  return typeof v === 'number' ? `${Math.round(v * 1000)}ms` : v;
}

// Every temp dir we made, removed on exit (process.ts kills the children on exit and on signals).
const dirs = new Set<string>();
let exitHooked = false;
function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', () => {
    for (const d of dirs) {
      try {
        rmSync(d, { recursive: true, force: true, maxRetries: 3 });
      } catch {
        // best effort at exit
      }
    }
  });
}

async function tail(file: string, lines = 15): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export async function startPrometheus(opts: PrometheusOptions = {}): Promise<PrometheusHandle> {
  return start(opts, { prefix: [], listen: '', extraScrapeConfigs: [] });
}

/** The `kubernetes-pods` scrape config (YAML lines under scrape_configs): role pod, the usual annotations. */
export function kubernetesPodsScrapeConfig(sd: { apiServer: string; caFile: string; tokenFile: string; namespaces?: string[] }): string[] {
  return [
    '  - job_name: kubernetes-pods',
    '    kubernetes_sd_configs:',
    '      - role: pod',
    `        api_server: ${JSON.stringify(sd.apiServer)}`,
    '        tls_config:',
    `          ca_file: ${JSON.stringify(sd.caFile)}`,
    '        authorization:',
    `          credentials_file: ${JSON.stringify(sd.tokenFile)}`,
    ...(sd.namespaces ? ['        namespaces:', `          names: [${sd.namespaces.map((n) => JSON.stringify(n)).join(', ')}]`] : []),
    '    relabel_configs:',
    // Only pods that ask for it, and not the ones that have finished.
    '      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]',
    '        action: keep',
    '        regex: "true"',
    '      - source_labels: [__meta_kubernetes_pod_phase]',
    '        action: drop',
    '        regex: Succeeded|Failed',
    '      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path]',
    '        action: replace',
    '        target_label: __metrics_path__',
    '        regex: (.+)',
    '      - source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]',
    '        action: replace',
    '        regex: ([^:]+)(?::\\d+)?;(\\d+)',
    '        replacement: $1:$2',
    '        target_label: __address__',
    '      - source_labels: [__meta_kubernetes_namespace]',
    '        target_label: namespace',
    '      - source_labels: [__meta_kubernetes_pod_name]',
    '        target_label: pod',
    '      - source_labels: [__meta_kubernetes_pod_label_app]',
    '        target_label: app',
  ];
}

/**
 * Prometheus inside the node's network namespace, listening on 10.244.0.1:<port> (9090), with
 * a `kubernetes-pods` job: kubernetes_sd_configs role pod through the apiserver relay at
 * 10.244.0.1:6443 (the control plane's CA; a TokenRequest token of monitoring/prometheus,
 * which may only get, list and watch pods), keeping pods annotated prometheus.io/scrape "true"
 * at prometheus.io/port and prometheus.io/path, with namespace, pod and app as target labels.
 * `url` is a host loopback port relayed (socat, unix socket) to it; `podNetworkUrl` is what
 * pods use. The file-SD job of startPrometheus() is there too (addTarget), for pod-network
 * addresses.
 */
export async function startPodNetworkPrometheus(c: NodeCluster, opts: PodNetworkPrometheusOptions = {}): Promise<PrometheusHandle> {
  const port = opts.port ?? 9090;
  const listen = `${bridgeAddress}:${port}`;
  let creds: Awaited<ReturnType<typeof podNetworkCredentials>> | undefined;
  const sd = (): string[] => {
    if (!creds) throw new Error('credentials are written before the config');
    return kubernetesPodsScrapeConfig({ ...creds, ...(opts.namespaces ? { namespaces: opts.namespaces } : {}) });
  };
  const placement: Placement = {
    prefix: c.node.inNetns,
    listen,
    podNetworkUrl: `http://${listen}`,
    get extraScrapeConfigs() {
      return sd();
    },
    async prepare(dir) {
      creds = await podNetworkCredentials(c, dir, opts.serviceAccount ?? 'prometheus', opts.serviceAccountNamespace);
    },
    // Host loopback port -> unix socket -> the bridge address inside the namespace (never a
    // pod-network address from the host's own namespace: that would leave the machine).
    async setup(dir, track) {
      const sock = path.join(dir, 'prometheus.sock');
      const hostPort = await freePort();
      track(startProcess('prometheus-relay-netns', 'nsenter', [...c.node.inNetns.slice(1), 'socat', `UNIX-LISTEN:${sock},fork`, `TCP:${listen}`], path.join(dir, 'relay-netns.log')));
      await waitFor('the Prometheus relay socket', async () => (existsSync(sock) ? true : undefined), 10_000, 50);
      track(startProcess('prometheus-relay-host', 'socat', [`TCP-LISTEN:${hostPort},bind=127.0.0.1,fork,reuseaddr`, `UNIX-CONNECT:${sock}`], path.join(dir, 'relay-host.log')));
      return hostPort;
    },
  };
  return start({ ...opts, binary: opts.binary ?? (await ensureKubernetesSdPrometheus()) }, placement);
}

async function start(opts: PrometheusOptions, place: Placement): Promise<PrometheusHandle> {
  const binary = await ensurePrometheusBinary(opts.binary);
  hookExit();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'modelgate-prometheus-'));
  dirs.add(dir);
  const relays: Managed[] = [];
  const cleanupEarly = async (): Promise<void> => {
    for (const r of relays) await stopProcess(r, 2000);
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    dirs.delete(dir);
  };
  let hostPort: number;
  try {
    await place.prepare?.(dir);
    if (place.setup) {
      hostPort = await place.setup(dir, (m) => relays.push(m));
    } else {
      hostPort = await freePort();
    }
  } catch (err) {
    await cleanupEarly();
    throw err;
  }
  const dataDir = path.join(dir, 'data');
  const targetsDir = path.join(dir, 'targets');
  mkdirSync(dataDir);
  mkdirSync(targetsDir);
  const configPath = path.join(dir, 'prometheus.yml');
  const logPath = path.join(dir, 'prometheus.log');

  const scrape = duration(opts.scrapeInterval, '1s');
  const evaluation = duration(opts.evaluationInterval, scrape);
  const ruleFiles = [...(opts.ruleFiles ?? [])];
  if (opts.rules !== undefined) {
    const rulesPath = path.join(dir, 'rules.yml');
    writeFileSync(rulesPath, opts.rules);
    ruleFiles.push(rulesPath);
  }
  // One scrape config over every targets/*.json; each target group carries its own `job`
  // label, which Prometheus keeps instead of job_name, so jobs need no config reload.
  const config = [
    'global:',
    `  scrape_interval: ${scrape}`,
    `  scrape_timeout: ${scrape}`,
    `  evaluation_interval: ${evaluation}`,
    ...(ruleFiles.length > 0 ? ['rule_files:', ...ruleFiles.map((f) => `  - ${JSON.stringify(f)}`)] : []),
    'scrape_configs:',
    '  - job_name: file_sd',
    '    file_sd_configs:',
    `      - files: [${JSON.stringify(path.join(targetsDir, '*.json'))}]`,
    '        refresh_interval: 1s',
    ...place.extraScrapeConfigs,
    '',
  ].join('\n');
  writeFileSync(configPath, config);

  const targets = new Map<string, Map<string, Record<string, string>>>();
  const writeJob = (job: string): void => {
    const file = path.join(targetsDir, `${encodeURIComponent(job)}.json`);
    const entries = targets.get(job);
    if (!entries || entries.size === 0) {
      if (existsSync(file)) unlinkSync(file);
      return;
    }
    const groups = [...entries].map(([target, labels]) => ({ targets: [target], labels: { ...labels, job } }));
    const tmp = `${file}.tmp`; // not matched by *.json, so Prometheus never reads a half-written file
    writeFileSync(tmp, JSON.stringify(groups, null, 2));
    renameSync(tmp, file);
  };

  const port = hostPort;
  const url = `http://127.0.0.1:${port}`;
  const args = [
    ...place.prefix.slice(1),
    binary,
    `--config.file=${configPath}`,
    `--storage.tsdb.path=${dataDir}`,
    `--storage.tsdb.retention.time=6h`,
    `--web.listen-address=${place.listen || `127.0.0.1:${port}`}`,
    '--web.enable-lifecycle',
    '--log.level=warn',
    ...(opts.extraArgs ?? []),
  ];
  const readyTimeout = opts.readyTimeoutMs ?? 30_000;
  let proc: Managed | undefined;
  let stopped = false;

  const launch = async (): Promise<void> => {
    // Under nsenter (which execs it, so the pid is Prometheus's own) or directly.
    const m = place.prefix.length > 0 ? startProcess('prometheus', place.prefix[0]!, args, logPath) : startProcess('prometheus', args[0]!, args.slice(1), logPath);
    proc = m;
    let exited = false;
    void m.exited.then(() => {
      exited = true;
    });
    try {
      await waitFor(
        `Prometheus to be ready at ${url}`,
        async () => {
          if (exited) throw new Error(`prometheus exited with code ${String(m.child.exitCode)}`);
          const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) });
          await res.arrayBuffer();
          return res.ok ? true : undefined;
        },
        readyTimeout,
        100,
      );
    } catch (err) {
      await stopProcess(m, 1000, 'SIGKILL');
      throw new Error(`${(err as Error).message}\n--- ${logPath} ---\n${await tail(logPath)}`);
    }
  };

  const alive = (): boolean => proc !== undefined && proc.child.exitCode === null && proc.child.signalCode === null;

  const handle: PrometheusHandle = {
    url,
    ...(place.podNetworkUrl ? { podNetworkUrl: place.podNetworkUrl } : {}),
    port,
    dir,
    dataDir,
    configPath,
    logPath,
    addTarget(job, target, labels = {}) {
      if (stopped) throw new Error('addTarget called after stop().');
      let entries = targets.get(job);
      if (!entries) targets.set(job, (entries = new Map()));
      entries.set(target, { ...labels });
      writeJob(job);
    },
    removeTarget(job, target) {
      if (stopped) return;
      targets.get(job)?.delete(target);
      writeJob(job);
    },
    async waitForTargetUp(job, instance, timeoutMs = 15_000) {
      await waitFor(
        `target ${instance} of job ${job} to be up in Prometheus`,
        async () => {
          const res = await fetch(`${url}/api/v1/targets?state=active`, { signal: AbortSignal.timeout(2000) });
          const body = (await res.json()) as {
            data?: { activeTargets?: Array<{ labels?: Record<string, string>; health?: string }> };
          };
          const t = body.data?.activeTargets?.find((a) => a.labels?.job === job && a.labels?.instance === instance);
          return t?.health === 'up' ? true : undefined;
        },
        timeoutMs,
        200,
      );
    },
    running: alive,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (proc) await stopProcess(proc, 10_000);
      for (const r of relays) await stopProcess(r, 2000);
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      dirs.delete(dir);
    },
    leftovers() {
      const out: string[] = [];
      for (const m of [...(proc ? [proc] : []), ...relays]) {
        const pid = m.child.pid;
        if ((m.child.exitCode === null && m.child.signalCode === null) || (pid !== undefined && pidRunning(pid))) out.push(`process ${m.name} (${pid})`);
      }
      if (existsSync(dir)) out.push(`dir ${dir}`);
      return out;
    },
    async kill() {
      if (proc && alive()) await stopProcess(proc, 1000, 'SIGKILL');
    },
    async restart() {
      if (stopped) throw new Error('restart called after stop(); start a new Prometheus instead.');
      if (proc && alive()) await stopProcess(proc, 10_000);
      await launch();
    },
  };

  try {
    await launch();
  } catch (err) {
    await handle.stop();
    throw err;
  }
  return handle;
}
