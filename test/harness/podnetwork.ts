// Helpers that live in the pod network the way users' monitoring does: ServiceAccounts with a
// pod-reading ClusterRole and TokenRequest tokens for processes that run inside the node's
// network namespace and talk to the apiserver through its relay there (10.244.0.1:6443, a
// name the apiserver's certificate carries), and the load generator run as such a process
// (loadgen-main.ts), spreading requests over the Ready pods' IPs.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './binaries.js';
import type { LoadGenerator, LoadOptions, LoadStats } from './loadgen.js';
import type { NodeCluster } from './nodecluster.js';
import { apiserverInPodNetwork } from './node.js';
import { OUTCOMES_SECRET, OUTCOMES_SECRET_KEY } from './pods.js';
import { GiveUp, startProcess, stopProcess, waitFor, type Managed } from './process.js';

/** The namespace the pod-network monitoring ServiceAccounts live in. */
export const monitoringNamespace = 'monitoring';
/** Only what service discovery needs: read pods. */
export const podReaderRole = 'modelgate-pod-reader';

export interface PodNetworkCredentials {
  /** https://10.244.0.1:6443: only reachable from inside the pod network. */
  apiServer: string;
  caFile: string;
  tokenFile: string;
  serviceAccount: string;
  namespace: string;
}

/**
 * Ensures `namespace`/`serviceAccount` exists and is bound to the pod-reading ClusterRole (get,
 * list, watch pods and nothing else), asks the TokenRequest API for a token (`kubectl create
 * token`) and writes it to `<dir>/<serviceAccount>.token`. Idempotent.
 */
export async function podNetworkCredentials(c: NodeCluster, dir: string, serviceAccount: string, namespace = monitoringNamespace): Promise<PodNetworkCredentials> {
  const objects = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: serviceAccount, namespace } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: podReaderRole },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: `${podReaderRole}-${namespace}-${serviceAccount}` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: podReaderRole },
      subjects: [{ kind: 'ServiceAccount', name: serviceAccount, namespace }],
    },
  ];
  const applied = await c.cp.kubectl(['apply', '-f', '-'], objects.map((o) => JSON.stringify(o)).join('\n'));
  if (applied.code !== 0) throw new Error(`creating the ServiceAccount ${namespace}/${serviceAccount}: ${applied.stderr.trim()}`);
  const token = await c.cp.kubectl(['create', 'token', serviceAccount, '-n', namespace, '--duration=24h']);
  if (token.code !== 0 || token.stdout.trim() === '') throw new Error(`kubectl create token ${serviceAccount}: ${token.stderr.trim()}`);
  const tokenFile = path.join(dir, `${serviceAccount}.token`);
  writeFileSync(tokenFile, token.stdout.trim(), { mode: 0o600 });
  return {
    apiServer: `https://${apiserverInPodNetwork.host}:${apiserverInPodNetwork.port}`,
    caFile: c.cp.pki.caCert,
    tokenFile,
    serviceAccount,
    namespace,
  };
}

/** The load generator's own options (loadgen.ts), except where to send: the pods are found here. */
export interface PodNetworkLoadOptions extends Omit<LoadOptions, 'url' | 'targets' | 'inputs'> {
  /** Namespace and label selector of the target pods, and the port they serve on. */
  namespace: string;
  selector: string;
  port: number;
  /** How often the pod list is re-read (default 1000 ms). */
  refreshMs?: number;
  /** How often counts are reported (default 500 ms). */
  reportMs?: number;
  /**
   * The Secret in `namespace` whose `token` the pods get as OUTCOMES_TOKEN (default
   * OUTCOMES_SECRET, as sampleDeployment references it); read here unless `outcomesToken` is given.
   */
  outcomesSecret?: string;
}

export interface PodNetworkLoad extends LoadGenerator {
  /** The Ready pods the generator sends to, as of its last report. */
  pods(): Array<{ name: string; ip: string }>;
  /** Resolves once a report shows `predicate` true (e.g. some inferences on a given pod). */
  waitFor(what: string, predicate: (stats: LoadStats, pods: Array<{ name: string; ip: string }>) => boolean, timeoutMs?: number): Promise<LoadStats>;
  pid: number;
  /** Its temp dir (token, log), removed by stop() and at exit. */
  dir: string;
  logPath: string;
  running(): boolean;
  /** What a stopped generator left behind (its process, its dir). Empty is clean. */
  leftovers(): string[];
}

interface Report {
  type: 'stats' | 'error';
  final?: boolean;
  pods?: Array<{ name: string; ip: string }>;
  listError?: string;
  stats?: LoadStats;
  message?: string;
}

// Temp dirs this process made, removed at exit (process.ts kills the children then).
const dirs = new Set<string>();
let exitHooked = false;

/** A temp dir removed at process exit unless removeTempDir() came first. */
export function tempDir(prefix: string): string {
  if (!exitHooked) {
    exitHooked = true;
    process.on('exit', () => {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });
  }
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.add(d);
  return d;
}

export function removeTempDir(d: string): void {
  rmSync(d, { recursive: true, force: true, maxRetries: 3 });
  dirs.delete(d);
}

/** Alive and not a zombie. */
export function pidRunning(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

const emptyStats = (): LoadStats => ({ inferences: 0, inferenceErrors: 0, skipped: 0, impressions: 0, clicks: 0, conversions: 0, revenue: 0, cost: 0, outcomeErrors: 0, perTarget: {} });

/** The outcomes token the pods of `namespace` get from `secret`, as the load generator must send it. */
async function outcomesTokenOf(c: NodeCluster, namespace: string, secret: string): Promise<string> {
  const r = await c.cp.kubectl(['-n', namespace, 'get', 'secret', secret, '-o', `jsonpath={.data.${OUTCOMES_SECRET_KEY}}`]);
  const token = Buffer.from(r.stdout.trim(), 'base64').toString('utf8').trim();
  if (r.code !== 0 || token === '') {
    throw new Error(`the load generator needs the outcomes token: Secret ${namespace}/${secret} key ${OUTCOMES_SECRET_KEY} (${r.stderr.trim() || 'empty'}); apply outcomesSecret() from test/harness/pods.ts with the Deployment, or pass outcomesToken`);
  }
  return token;
}

/**
 * Starts loadgen-main.ts inside the node's network namespace, as the ServiceAccount
 * monitoring/loadgen (reads pods only). Its reports (JSON lines on its stdout) keep stats()
 * current; set*() go to it as JSON lines on its stdin; stop() waits for its final report.
 */
export async function startPodNetworkLoad(c: NodeCluster, opts: PodNetworkLoadOptions): Promise<PodNetworkLoad> {
  const dir = tempDir('modelgate-loadgen-');
  let creds: PodNetworkCredentials;
  try {
    creds = await podNetworkCredentials(c, dir, 'loadgen');
  } catch (err) {
    removeTempDir(dir);
    throw err;
  }
  let outcomesTokenFile: string;
  try {
    outcomesTokenFile = path.join(dir, 'outcomes.token');
    writeFileSync(outcomesTokenFile, opts.outcomesToken ?? (await outcomesTokenOf(c, opts.namespace, opts.outcomesSecret ?? OUTCOMES_SECRET)), { mode: 0o600 });
  } catch (err) {
    removeTempDir(dir);
    throw err;
  }
  const flag = (name: string, v: number | string | undefined): string[] => (v === undefined ? [] : [`--${name}`, String(v)]);
  const args = [
    ...c.node.inNetns, process.execPath, '--import', 'tsx', path.join(repoRoot, 'test', 'harness', 'loadgen-main.ts'),
    '--api-server', creds.apiServer, '--ca', creds.caFile, '--token-file', creds.tokenFile,
    '--namespace', opts.namespace, '--selector', opts.selector, '--port', String(opts.port), '--model', opts.model,
    '--rate', String(opts.rate), '--duration-ms', String(opts.durationMs), '--conversion-rate', String(opts.conversionRate),
    ...flag('conversion-rate-by-version', opts.conversionRateByVersion ? JSON.stringify(opts.conversionRateByVersion) : undefined),
    ...flag('click-through-rate', opts.clickThroughRate), ...flag('revenue-per-conversion', opts.revenuePerConversion),
    ...flag('cost-per-impression', opts.costPerImpression), ...flag('input-name', opts.inputName), ...flag('features', opts.features),
    ...flag('tick-ms', opts.tickMs), ...flag('max-in-flight', opts.maxInFlight), ...flag('request-timeout-ms', opts.requestTimeoutMs),
    ...flag('refresh-ms', opts.refreshMs), ...flag('report-ms', opts.reportMs), ...(opts.random ? ['--random'] : []),
    '--outcomes-token-file', outcomesTokenFile,
  ];
  const logPath = path.join(dir, 'loadgen.log');
  // nsenter execs the command, so the pid is the load generator's own.
  const m: Managed = startProcess('loadgen', args[0]!, args.slice(1), logPath, process.env, { stdin: 'pipe', cwd: repoRoot });
  let last = emptyStats();
  let pods: Array<{ name: string; ip: string }> = [];
  let final: LoadStats | undefined;
  let lastProblem: string | undefined;
  let reports = 0;
  let stderrTail = '';
  m.child.stderr?.on('data', (d: Buffer) => {
    stderrTail = (stderrTail + d.toString('utf8')).slice(-2000);
  });
  let buf = '';
  m.child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let r: Report;
      try {
        r = JSON.parse(line) as Report;
      } catch {
        continue;
      }
      if (r.type === 'error') lastProblem = r.message;
      if (r.type !== 'stats' || !r.stats) continue;
      last = r.stats;
      pods = r.pods ?? [];
      lastProblem = r.listError;
      reports += 1;
      if (r.final) final = r.stats;
    }
  });
  const alive = (): boolean => m.child.exitCode === null && m.child.signalCode === null;
  // 'close', not 'exit': the final report may still be in the stdout pipe when the process exits.
  const closed = new Promise<void>((r) => m.child.once('close', () => r()));
  const done = closed.then(() => {
    removeTempDir(dir);
    return final ?? last;
  });
  const send = (cmd: Record<string, unknown>): void => {
    if (alive()) m.child.stdin?.write(`${JSON.stringify(cmd)}\n`);
  };
  const check = (name: string, v: number, max = Number.POSITIVE_INFINITY): void => {
    if (!Number.isFinite(v) || v < 0 || v > max) throw new Error(`${name} must be a number in [0, ${max}], got ${v}.`);
  };
  const handle: PodNetworkLoad = {
    pid: m.child.pid ?? -1,
    dir,
    logPath,
    running: alive,
    stats: () => structuredClone(last),
    pods: () => pods.map((p) => ({ ...p })),
    setRate(perSecond) {
      check('rate', perSecond);
      send({ rate: perSecond });
    },
    setConversionRate(r) {
      check('conversionRate', r, 1);
      send({ conversionRate: r });
    },
    setClickThroughRate(r) {
      check('clickThroughRate', r, 1);
      send({ clickThroughRate: r });
    },
    async stop() {
      send({ stop: true });
      const timer = setTimeout(() => void stopProcess(m, 5000), 15_000);
      const s = await done;
      clearTimeout(timer);
      return s;
    },
    done,
    leftovers() {
      const out: string[] = [];
      if (alive() || (m.child.pid !== undefined && pidRunning(m.child.pid))) out.push(`process loadgen (${m.child.pid})`);
      if (existsSync(dir)) out.push(`dir ${dir}`);
      return out;
    },
    async waitFor(what, predicate, timeoutMs = 30_000) {
      return waitFor(`the load generator: ${what}`, async () => {
        if (!alive() && !predicate(last, pods)) throw new GiveUp(`the load generator exited (${m.child.exitCode}): ${stderrTail.trim() || '(no stderr)'}`);
        return predicate(last, pods) ? structuredClone(last) : undefined;
      }, timeoutMs, 200).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}; last stats ${JSON.stringify({ ...last, perTarget: undefined })}, pods ${JSON.stringify(pods)}${lastProblem ? `, last problem: ${lastProblem}` : ''}`);
      });
    },
  };
  try {
    await handle.waitFor('its first report', () => reports > 0, 30_000);
  } catch (err) {
    await stopProcess(m, 1000, 'SIGKILL');
    removeTempDir(dir);
    throw err;
  }
  return handle;
}
