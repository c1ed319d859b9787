// A real Prometheus server for tests, benchmarks and the demo: our own config in a temp dir,
// TSDB in that dir, a free loopback port, file-based service discovery so targets come and go
// at run time, and teardown on stop() and on process exit (the temp dir is always removed).
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
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
  /** http://127.0.0.1:<port> */
  url: string;
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
}

const INSTALL_HINT =
  'Prometheus is not installed: run `apt-get install -y prometheus` (Debian package prometheus, 2.42) or set PROMETHEUS_BINARY to a prometheus 2.x binary.';

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

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
  const binary = await ensurePrometheusBinary(opts.binary);
  hookExit();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'modelgate-prometheus-'));
  dirs.add(dir);
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

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = [
    `--config.file=${configPath}`,
    `--storage.tsdb.path=${dataDir}`,
    `--storage.tsdb.retention.time=6h`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--web.enable-lifecycle',
    '--log.level=warn',
    ...(opts.extraArgs ?? []),
  ];
  const readyTimeout = opts.readyTimeoutMs ?? 30_000;
  let proc: Managed | undefined;
  let stopped = false;

  const launch = async (): Promise<void> => {
    const m = startProcess('prometheus', binary, args, logPath);
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
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      dirs.delete(dir);
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
