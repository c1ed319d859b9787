// Operator configuration from flags and environment, checked at start: every bad value gets
// one line that names the flag (and its env var) and says what is expected.
import os from 'node:os';
import { parseArgs } from 'node:util';

export interface OperatorConfig {
  kubeconfig?: string;
  namespace: string;
  identity: string;
  leaderElect: boolean;
  leaseName: string;
  leaseDurationSeconds: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  workers: number;
  qps: number;
  burst: number;
  healthPort: number;
  metricsPort: number;
  bindHost: string;
  logLevel: 'error' | 'warn' | 'info' | 'debug';
  cacheDir: string;
  maxArtifactBytes: number;
  trustedHosts: string[];
  fileRoots: string[];
  validationWorkers: number;
  workerMemoryMiB: number;
  validationTimeoutSeconds: number;
  prometheusUrl?: string;
  rollbackHistory: number;
  resyncSeconds: number;
}

interface Spec {
  env: string;
  default?: string;
  help: string;
}

export const FLAGS: Record<string, Spec> = {
  kubeconfig: { env: 'KUBECONFIG', help: 'kubeconfig file (default: in-cluster config)' },
  namespace: { env: 'POD_NAMESPACE', default: 'modelgate-system', help: 'namespace of the leader-election Lease' },
  identity: { env: 'POD_NAME', help: 'this replica\'s name in the Lease (default: hostname-pid)' },
  'leader-elect': { env: 'MODELGATE_LEADER_ELECT', default: 'true', help: 'elect one active replica through a Lease' },
  'lease-name': { env: 'MODELGATE_LEASE_NAME', default: 'modelgate-operator', help: 'name of the Lease' },
  'lease-duration': { env: 'MODELGATE_LEASE_DURATION_SECONDS', default: '15', help: 'seconds a lease stays valid without renewal' },
  'renew-deadline': { env: 'MODELGATE_RENEW_DEADLINE_SECONDS', default: '10', help: 'seconds the leader keeps trying to renew before it stops' },
  'retry-period': { env: 'MODELGATE_RETRY_PERIOD_SECONDS', default: '2', help: 'seconds between lease attempts' },
  workers: { env: 'MODELGATE_WORKERS', default: '4', help: 'concurrent reconciles' },
  qps: { env: 'MODELGATE_KUBE_QPS', default: '20', help: 'apiserver requests per second (client-side limit)' },
  burst: { env: 'MODELGATE_KUBE_BURST', default: '40', help: 'apiserver request burst' },
  'health-port': { env: 'MODELGATE_HEALTH_PORT', default: '8081', help: 'port for /healthz and /readyz' },
  'metrics-port': { env: 'MODELGATE_METRICS_PORT', default: '8080', help: 'port for /metrics' },
  'bind-host': { env: 'MODELGATE_BIND_HOST', default: '0.0.0.0', help: 'address the health and metrics ports listen on' },
  'log-level': { env: 'MODELGATE_LOG_LEVEL', default: 'info', help: 'error, warn, info or debug' },
  'cache-dir': { env: 'MODELGATE_CACHE_DIR', default: '/var/cache/modelgate', help: 'folder for downloaded artifacts' },
  'max-artifact-bytes': { env: 'MODELGATE_MAX_ARTIFACT_BYTES', default: String(2 * 1024 ** 3), help: 'largest artifact or dataset to download' },
  'trusted-hosts': { env: 'MODELGATE_TRUSTED_HOSTS', default: '', help: 'comma-separated host[:port] allowed over http:// and to private addresses' },
  'file-roots': { env: 'MODELGATE_FILE_ROOTS', default: '', help: 'comma-separated folders file:// URIs may read from' },
  'validation-workers': { env: 'MODELGATE_VALIDATION_WORKERS', default: '2', help: 'onnxruntime worker processes' },
  'worker-memory-mib': { env: 'MODELGATE_WORKER_MEMORY_MIB', default: '2048', help: 'memory cap of one worker process' },
  'validation-timeout': { env: 'MODELGATE_VALIDATION_TIMEOUT_SECONDS', default: '600', help: 'default deadline of one validation' },
  'prometheus-url': { env: 'MODELGATE_PROMETHEUS_URL', help: 'Prometheus for the live guard when a checkpoint names none' },
  'rollback-history': { env: 'MODELGATE_ROLLBACK_HISTORY', default: '5', help: 'deployed checkpoints kept per target in the audit trail' },
  resync: { env: 'MODELGATE_RESYNC_SECONDS', default: '600', help: 'seconds between full re-lists' },
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

export function usage(): string {
  return ['usage: modelgate-operator [flags]', ...Object.entries(FLAGS).map(([k, s]) => `  --${k.padEnd(22)} ${s.help} (env ${s.env}${s.default !== undefined && s.default !== '' ? `, default ${s.default}` : ''})`)].join('\n');
}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): OperatorConfig {
  const options = Object.fromEntries(Object.keys(FLAGS).map((k) => [k, { type: 'string' as const }]));
  let values: Record<string, string | undefined>;
  try {
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Record<string, string | undefined>;
  } catch (err) {
    throw new ConfigError([`${err instanceof Error ? err.message : String(err)}: run with --help for the flags`]);
  }
  const problems: string[] = [];
  // A flag beats its env var, which beats the default. An empty optional value means none;
  // an empty required one is a problem.
  const raw = (k: string): string | undefined => values[k] ?? env[FLAGS[k]!.env] ?? FLAGS[k]!.default;
  const required = (k: string): string => {
    const v = raw(k);
    if (!v) problems.push(`${where(k)} is empty: give it a value`);
    return v ?? '';
  };
  const where = (k: string): string => `--${k} (env ${FLAGS[k]!.env})`;
  const invalid = new Set<string>();
  const int = (k: string, min: number, max: number): number => {
    const v = raw(k) ?? '';
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) {
      problems.push(`${where(k)} is "${v}": expected a whole number from ${min} to ${max}`);
      invalid.add(k);
      return min;
    }
    return n;
  };
  const num = (k: string, min: number, max: number): number => {
    const v = raw(k) ?? '';
    const n = Number(v);
    if (v === '' || !Number.isFinite(n) || n < min || n > max) {
      problems.push(`${where(k)} is "${v}": expected a number from ${min} to ${max}`);
      invalid.add(k);
      return min;
    }
    return n;
  };
  const bool = (k: string): boolean => {
    const v = (raw(k) ?? '').toLowerCase();
    if (v !== 'true' && v !== 'false') problems.push(`${where(k)} is "${v}": expected true or false`);
    return v === 'true';
  };
  const list = (k: string): string[] => (raw(k) ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const logLevel = raw('log-level') ?? 'info';
  if (!['error', 'warn', 'info', 'debug'].includes(logLevel)) problems.push(`${where('log-level')} is "${logLevel}": expected error, warn, info or debug`);
  const prometheusUrl = raw('prometheus-url');
  if (prometheusUrl) {
    try {
      const u = new URL(prometheusUrl);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
    } catch {
      problems.push(`${where('prometheus-url')} is "${prometheusUrl}": expected an http:// or https:// URL`);
    }
  }
  const lease = int('lease-duration', 2, 3600);
  const renew = num('renew-deadline', 1, 3600);
  const retry = num('retry-period', 0.1, 600);
  const valid = (...ks: string[]): boolean => ks.every((k) => !invalid.has(k));
  if (valid('renew-deadline', 'lease-duration') && renew >= lease) problems.push(`${where('renew-deadline')} (${renew}) must be shorter than ${where('lease-duration')} (${lease}), or two leaders could overlap`);
  if (valid('retry-period', 'renew-deadline') && retry >= renew) problems.push(`${where('retry-period')} (${retry}) must be shorter than ${where('renew-deadline')} (${renew})`);
  const cfg: OperatorConfig = {
    kubeconfig: raw('kubeconfig') || undefined,
    namespace: required('namespace'),
    identity: raw('identity') || `${os.hostname()}-${process.pid}`,
    leaderElect: bool('leader-elect'),
    leaseName: required('lease-name'),
    leaseDurationSeconds: lease,
    renewDeadlineMs: renew * 1000,
    retryPeriodMs: retry * 1000,
    workers: int('workers', 1, 256),
    qps: num('qps', 0.1, 10_000),
    burst: int('burst', 1, 100_000),
    healthPort: int('health-port', 0, 65535),
    metricsPort: int('metrics-port', 0, 65535),
    bindHost: required('bind-host'),
    logLevel: logLevel as OperatorConfig['logLevel'],
    cacheDir: required('cache-dir'),
    maxArtifactBytes: int('max-artifact-bytes', 1, Number.MAX_SAFE_INTEGER),
    trustedHosts: list('trusted-hosts'),
    fileRoots: list('file-roots'),
    validationWorkers: int('validation-workers', 1, 64),
    workerMemoryMiB: int('worker-memory-mib', 64, 1_048_576),
    validationTimeoutSeconds: int('validation-timeout', 1, 86_400),
    prometheusUrl: prometheusUrl || undefined,
    rollbackHistory: int('rollback-history', 1, 100),
    resyncSeconds: int('resync', 10, 86_400),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return cfg;
}
