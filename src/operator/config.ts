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
  /** Byte budget of the download cache; 0: none. */
  cacheMaxBytes: number;
  trustedHosts: string[];
  fileRoots: string[];
  /** Use the operator's own AWS credentials (env, web identity token file) for s3:// artifacts that name no Secret. */
  allowAmbientCredentials: boolean;
  validationWorkers: number;
  workerMemoryMiB: number;
  validationTimeoutSeconds: number;
  prometheusUrl?: string;
  /** Further Prometheus URLs a checkpoint's spec.analysis.prometheusUrl may name (the default is always allowed). */
  prometheusUrls: string[];
  prometheusTimeoutMs: number;
  prometheusMaxResponseBytes: number;
  /** Deadline of one reconcile; past it the reconcile's queries are aborted and it is retried with backoff. */
  reconcileDeadlineMs: number;
  /** How long a reconcile waits for a fetch or validation it started before writing that it runs (phases that take no time are folded into one write). */
  foldWaitMs: number;
  rollbackHistory: number;
  resyncSeconds: number;
  /** Transient failures of fetch and validation: attempts in all, first delay, delay cap. */
  jobAttempts: number;
  jobRetryDelayMs: number;
  jobRetryMaxDelayMs: number;
  /** Where validation runs when a checkpoint's spec.validation.runner is unset. */
  validationRunner: 'InProcess' | 'Job';
  /** The validation Job's pod template (runner Job). */
  validationJobImage: string;
  validationJobRequests: Record<string, string>;
  validationJobLimits: Record<string, string>;
  validationJobTtlSeconds: number;
  validationJobWorkDirSize: string;
  validationJobPullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /** Validation Jobs running at once, across the cluster and per namespace (0: no cap). */
  validationJobsMax: number;
  validationJobsMaxPerNamespace: number;
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
  // 2 GiB: with --max-artifact-bytes (2 GiB) being downloaded on top, the cache stays inside the
  // 4Gi sizeLimit of its emptyDir in deploy/deployment.yaml (over it, the kubelet evicts the pod).
  'cache-max-bytes': { env: 'MODELGATE_CACHE_MAX_BYTES', default: String(2 * 1024 ** 3), help: 'byte budget of the download cache: least recently used artifacts are deleted over it, never one a rollback point or a running validation needs (0: no budget)' },
  'max-artifact-bytes': { env: 'MODELGATE_MAX_ARTIFACT_BYTES', default: String(2 * 1024 ** 3), help: 'largest artifact or dataset to download' },
  'trusted-hosts': { env: 'MODELGATE_TRUSTED_HOSTS', default: '', help: 'comma-separated host[:port] allowed over http:// and to private addresses' },
  'allow-ambient-credentials': { env: 'MODELGATE_ALLOW_AMBIENT_CREDENTIALS', default: 'false', help: "use the operator's own AWS credentials (env vars, web identity token file) for s3:// artifacts that name no secretRef" },
  'file-roots': { env: 'MODELGATE_FILE_ROOTS', default: '', help: 'comma-separated folders file:// URIs may read from' },
  'validation-workers': { env: 'MODELGATE_VALIDATION_WORKERS', default: '2', help: 'onnxruntime worker processes' },
  'worker-memory-mib': { env: 'MODELGATE_WORKER_MEMORY_MIB', default: '2048', help: 'memory cap of one worker process' },
  'validation-timeout': { env: 'MODELGATE_VALIDATION_TIMEOUT_SECONDS', default: '600', help: 'default deadline of one validation' },
  'prometheus-url': { env: 'MODELGATE_PROMETHEUS_URL', help: 'Prometheus for the live guard when a checkpoint names none' },
  'prometheus-urls': { env: 'MODELGATE_PROMETHEUS_URLS', default: '', help: 'comma-separated further Prometheus URLs a checkpoint may name in spec.analysis.prometheusUrl (the default one is always allowed; any other is refused)' },
  'prometheus-timeout': { env: 'MODELGATE_PROMETHEUS_TIMEOUT_SECONDS', default: '10', help: 'deadline of one Prometheus query' },
  'prometheus-max-response-bytes': { env: 'MODELGATE_PROMETHEUS_MAX_RESPONSE_BYTES', default: String(4 * 1024 * 1024), help: 'largest Prometheus answer read; a longer one is cut off' },
  'reconcile-deadline': { env: 'MODELGATE_RECONCILE_DEADLINE_SECONDS', default: '30', help: 'deadline of one reconcile; past it its queries are aborted and it is retried with backoff' },
  'fold-wait': { env: 'MODELGATE_FOLD_WAIT_SECONDS', default: '0.02', help: 'how long a reconcile waits for a fetch or validation it started; work done by then is written in one status write with the phases around it' },
  'rollback-history': { env: 'MODELGATE_ROLLBACK_HISTORY', default: '5', help: 'deployed checkpoints kept per target in the audit trail' },
  resync: { env: 'MODELGATE_RESYNC_SECONDS', default: '600', help: 'seconds between full re-lists' },
  'job-attempts': { env: 'MODELGATE_JOB_ATTEMPTS', default: '5', help: 'attempts at a fetch or validation that fails transiently (worker crash, full disk, store 5xx) before the checkpoint is Failed' },
  'job-retry-delay': { env: 'MODELGATE_JOB_RETRY_DELAY_SECONDS', default: '5', help: 'seconds before the first retry of a transient failure, doubled each time' },
  'validation-runner': { env: 'MODELGATE_VALIDATION_RUNNER', default: 'InProcess', help: 'where validation runs when spec.validation.runner is unset: InProcess (the operator\'s worker processes) or Job (a Kubernetes Job per checkpoint generation)' },
  'validation-job-image': { env: 'MODELGATE_VALIDATION_JOB_IMAGE', default: '', help: 'image of validation Jobs (the operator\'s own image; needed for runner Job)' },
  'validation-job-requests': { env: 'MODELGATE_VALIDATION_JOB_REQUESTS', default: 'cpu=500m,memory=512Mi', help: 'resource requests of a validation Job\'s pod, name=quantity comma-separated' },
  'validation-job-limits': { env: 'MODELGATE_VALIDATION_JOB_LIMITS', default: 'memory=2Gi', help: 'resource limits of a validation Job\'s pod, name=quantity comma-separated' },
  'validation-job-ttl': { env: 'MODELGATE_VALIDATION_JOB_TTL_SECONDS', default: '3600', help: 'ttlSecondsAfterFinished of validation Jobs' },
  'validation-job-work-size': { env: 'MODELGATE_VALIDATION_JOB_WORK_SIZE', default: '4Gi', help: 'sizeLimit of the validation pod\'s download emptyDir' },
  'validation-job-pull-policy': { env: 'MODELGATE_VALIDATION_JOB_PULL_POLICY', default: '', help: 'imagePullPolicy of validation Jobs: Always, IfNotPresent or Never (default: the cluster\'s)' },
  'validation-jobs-max': { env: 'MODELGATE_VALIDATION_JOBS_MAX', default: '10', help: 'validation Jobs running at once across the cluster (0: no cap)' },
  'validation-jobs-max-per-namespace': { env: 'MODELGATE_VALIDATION_JOBS_MAX_PER_NAMESPACE', default: '4', help: 'validation Jobs running at once in one namespace (0: no cap)' },
  'job-retry-max-delay': { env: 'MODELGATE_JOB_RETRY_MAX_DELAY_SECONDS', default: '300', help: 'longest wait between retries of a transient failure' },
};

/** A comma-separated list value (--trusted-hosts, --file-roots): trimmed, empty items dropped. The inference server reads MODEL_TRUSTED_HOSTS with it too. */
export function splitList(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

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
  const list = (k: string): string[] => splitList(raw(k));
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
  const prometheusUrls = list('prometheus-urls');
  for (const u of prometheusUrls) {
    try {
      const parsed = new URL(u);
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('scheme');
    } catch {
      problems.push(`${where('prometheus-urls')} is "${raw('prometheus-urls')}": "${u}" is not a URL of the expected kind; expected http:// or https:// URLs, comma-separated`);
    }
  }
  const runner = raw('validation-runner') ?? 'InProcess';
  if (runner !== 'InProcess' && runner !== 'Job') problems.push(`${where('validation-runner')} is "${runner}": expected InProcess or Job`);
  const pullPolicy = raw('validation-job-pull-policy') || undefined;
  if (pullPolicy && !['Always', 'IfNotPresent', 'Never'].includes(pullPolicy)) problems.push(`${where('validation-job-pull-policy')} is "${pullPolicy}": expected Always, IfNotPresent or Never`);
  const quantities = (k: string): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const item of list(k)) {
      const m = /^([a-z0-9.\/-]+)=([0-9.]+[a-zA-Z]*)$/.exec(item);
      if (!m) problems.push(`${where(k)} has "${item}": expected name=quantity, e.g. cpu=500m,memory=1Gi`);
      else out[m[1]!] = m[2]!;
    }
    return out;
  };
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
    cacheMaxBytes: int('cache-max-bytes', 0, Number.MAX_SAFE_INTEGER),
    trustedHosts: list('trusted-hosts'),
    fileRoots: list('file-roots'),
    allowAmbientCredentials: bool('allow-ambient-credentials'),
    validationWorkers: int('validation-workers', 1, 64),
    workerMemoryMiB: int('worker-memory-mib', 64, 1_048_576),
    validationTimeoutSeconds: int('validation-timeout', 1, 86_400),
    prometheusUrl: prometheusUrl || undefined,
    prometheusUrls,
    prometheusTimeoutMs: num('prometheus-timeout', 0.1, 3600) * 1000,
    prometheusMaxResponseBytes: int('prometheus-max-response-bytes', 1024, 1024 ** 3),
    reconcileDeadlineMs: num('reconcile-deadline', 0.1, 86_400) * 1000,
    foldWaitMs: num('fold-wait', 0, 60) * 1000,
    rollbackHistory: int('rollback-history', 1, 100),
    resyncSeconds: int('resync', 10, 86_400),
    jobAttempts: int('job-attempts', 1, 1000),
    jobRetryDelayMs: num('job-retry-delay', 0.01, 3600) * 1000,
    jobRetryMaxDelayMs: num('job-retry-max-delay', 0.01, 86_400) * 1000,
    validationRunner: runner as OperatorConfig['validationRunner'],
    validationJobImage: raw('validation-job-image') ?? '',
    validationJobRequests: quantities('validation-job-requests'),
    validationJobLimits: quantities('validation-job-limits'),
    validationJobTtlSeconds: int('validation-job-ttl', 0, 31_536_000),
    validationJobWorkDirSize: required('validation-job-work-size'),
    ...(pullPolicy ? { validationJobPullPolicy: pullPolicy as OperatorConfig['validationJobPullPolicy'] } : {}),
    validationJobsMax: int('validation-jobs-max', 0, 10_000),
    validationJobsMaxPerNamespace: int('validation-jobs-max-per-namespace', 0, 10_000),
  };
  if (cfg.validationRunner === 'Job' && !cfg.validationJobImage) problems.push(`${where('validation-runner')} is Job but ${where('validation-job-image')} is empty: give the image validation Jobs run`);
  if (valid('job-retry-delay', 'job-retry-max-delay') && cfg.jobRetryMaxDelayMs < cfg.jobRetryDelayMs) {
    problems.push(`${where('job-retry-max-delay')} (${cfg.jobRetryMaxDelayMs / 1000}) must not be shorter than ${where('job-retry-delay')} (${cfg.jobRetryDelayMs / 1000})`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return cfg;
}
