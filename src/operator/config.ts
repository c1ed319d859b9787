// Operator configuration from flags and environment, checked at start: every bad value gets
// one line that names the flag (and its env var) and says what is expected. The flag table and
// the value reader are flags.ts (pure); this file groups the settings into an OperatorConfig.
import os from 'node:os';
import { parseArgs } from 'node:util';
import { ConfigError, FLAGS, FlagReader, type FlagValues } from './flags.js';

export { ConfigError, FLAGS, splitList, usage } from './flags.js';

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

type Settings<K extends keyof OperatorConfig> = Pick<OperatorConfig, K>;

/** argv as raw flag values; an unknown flag or a missing value is the one problem. */
function parseFlags(argv: string[]): FlagValues {
  const options = Object.fromEntries(Object.keys(FLAGS).map((k) => [k, { type: 'string' as const }]));
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as FlagValues;
  } catch (err) {
    throw new ConfigError([`${err instanceof Error ? err.message : String(err)}: run with --help for the flags`]);
  }
}

/** A URL Prometheus can be asked at: http:// or https://. */
function isHttpUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/** The flags that name one of a few choices or URLs, checked first (their problems come first). */
function choices(r: FlagReader) {
  const logLevel = r.choice('log-level', 'info', ['error', 'warn', 'info', 'debug'], 'error, warn, info or debug');
  const prometheusUrl = r.raw('prometheus-url');
  if (prometheusUrl && !isHttpUrl(prometheusUrl)) r.problems.push(`${r.where('prometheus-url')} is "${prometheusUrl}": expected an http:// or https:// URL`);
  const prometheusUrls = r.list('prometheus-urls');
  for (const u of prometheusUrls) {
    if (!isHttpUrl(u)) r.problems.push(`${r.where('prometheus-urls')} is "${r.raw('prometheus-urls')}": "${u}" is not a URL of the expected kind; expected http:// or https:// URLs, comma-separated`);
  }
  const runner = r.choice('validation-runner', 'InProcess', ['InProcess', 'Job'], 'InProcess or Job');
  const pullPolicy = r.raw('validation-job-pull-policy') || undefined;
  if (pullPolicy && !['Always', 'IfNotPresent', 'Never'].includes(pullPolicy)) r.problems.push(`${r.where('validation-job-pull-policy')} is "${pullPolicy}": expected Always, IfNotPresent or Never`);
  return { logLevel, prometheusUrl, prometheusUrls, runner, pullPolicy };
}

/** The Lease timing: renewal must end before the lease does, retries come before the renewal deadline. */
function leaseTimes(r: FlagReader): { lease: number; renew: number; retry: number } {
  const lease = r.int('lease-duration', 2, 3600);
  const renew = r.num('renew-deadline', 1, 3600);
  const retry = r.num('retry-period', 0.1, 600);
  if (r.valid('renew-deadline', 'lease-duration') && renew >= lease) r.problems.push(`${r.where('renew-deadline')} (${renew}) must be shorter than ${r.where('lease-duration')} (${lease}), or two leaders could overlap`);
  if (r.valid('retry-period', 'renew-deadline') && retry >= renew) r.problems.push(`${r.where('retry-period')} (${retry}) must be shorter than ${r.where('renew-deadline')} (${renew})`);
  return { lease, renew, retry };
}

/** The apiserver connection, the Lease and the workers. */
function clusterSettings(r: FlagReader, t: ReturnType<typeof leaseTimes>): Settings<'kubeconfig' | 'namespace' | 'identity' | 'leaderElect' | 'leaseName' | 'leaseDurationSeconds' | 'renewDeadlineMs' | 'retryPeriodMs' | 'workers' | 'qps' | 'burst'> {
  return {
    kubeconfig: r.raw('kubeconfig') || undefined,
    namespace: r.required('namespace'),
    identity: r.raw('identity') || `${os.hostname()}-${process.pid}`,
    leaderElect: r.bool('leader-elect'),
    leaseName: r.required('lease-name'),
    leaseDurationSeconds: t.lease,
    renewDeadlineMs: t.renew * 1000,
    retryPeriodMs: t.retry * 1000,
    workers: r.int('workers', 1, 256),
    qps: r.num('qps', 0.1, 10_000),
    burst: r.int('burst', 1, 100_000),
  };
}

/** The health and metrics ports and the log level. */
function servingSettings(r: FlagReader, logLevel: string): Settings<'healthPort' | 'metricsPort' | 'bindHost' | 'logLevel'> {
  return {
    healthPort: r.int('health-port', 0, 65535),
    metricsPort: r.int('metrics-port', 0, 65535),
    bindHost: r.required('bind-host'),
    logLevel: logLevel as OperatorConfig['logLevel'],
  };
}

/** Downloads and in-process validation. */
function fetchSettings(r: FlagReader): Settings<'cacheDir' | 'maxArtifactBytes' | 'cacheMaxBytes' | 'trustedHosts' | 'fileRoots' | 'allowAmbientCredentials' | 'validationWorkers' | 'workerMemoryMiB' | 'validationTimeoutSeconds'> {
  return {
    cacheDir: r.required('cache-dir'),
    maxArtifactBytes: r.int('max-artifact-bytes', 1, Number.MAX_SAFE_INTEGER),
    cacheMaxBytes: r.int('cache-max-bytes', 0, Number.MAX_SAFE_INTEGER),
    trustedHosts: r.list('trusted-hosts'),
    fileRoots: r.list('file-roots'),
    allowAmbientCredentials: r.bool('allow-ambient-credentials'),
    validationWorkers: r.int('validation-workers', 1, 64),
    workerMemoryMiB: r.int('worker-memory-mib', 64, 1_048_576),
    validationTimeoutSeconds: r.int('validation-timeout', 1, 86_400),
  };
}

/** The live guard's Prometheus, the reconcile loop and the retries of transient failures. */
function reconcileSettings(r: FlagReader, c: ReturnType<typeof choices>): Settings<'prometheusUrl' | 'prometheusUrls' | 'prometheusTimeoutMs' | 'prometheusMaxResponseBytes' | 'reconcileDeadlineMs' | 'foldWaitMs' | 'rollbackHistory' | 'resyncSeconds' | 'jobAttempts' | 'jobRetryDelayMs' | 'jobRetryMaxDelayMs'> {
  return {
    prometheusUrl: c.prometheusUrl || undefined,
    prometheusUrls: c.prometheusUrls,
    prometheusTimeoutMs: r.num('prometheus-timeout', 0.1, 3600) * 1000,
    prometheusMaxResponseBytes: r.int('prometheus-max-response-bytes', 1024, 1024 ** 3),
    reconcileDeadlineMs: r.num('reconcile-deadline', 0.1, 86_400) * 1000,
    foldWaitMs: r.num('fold-wait', 0, 60) * 1000,
    rollbackHistory: r.int('rollback-history', 1, 100),
    resyncSeconds: r.int('resync', 10, 86_400),
    jobAttempts: r.int('job-attempts', 1, 1000),
    jobRetryDelayMs: r.num('job-retry-delay', 0.01, 3600) * 1000,
    jobRetryMaxDelayMs: r.num('job-retry-max-delay', 0.01, 86_400) * 1000,
  };
}

/** Where validation runs and the validation Job's pod template. */
function jobSettings(r: FlagReader, c: ReturnType<typeof choices>): Settings<'validationRunner' | 'validationJobImage' | 'validationJobRequests' | 'validationJobLimits' | 'validationJobTtlSeconds' | 'validationJobWorkDirSize' | 'validationJobPullPolicy' | 'validationJobsMax' | 'validationJobsMaxPerNamespace'> {
  return {
    validationRunner: c.runner as OperatorConfig['validationRunner'],
    validationJobImage: r.raw('validation-job-image') ?? '',
    validationJobRequests: r.quantities('validation-job-requests'),
    validationJobLimits: r.quantities('validation-job-limits'),
    validationJobTtlSeconds: r.int('validation-job-ttl', 0, 31_536_000),
    validationJobWorkDirSize: r.required('validation-job-work-size'),
    ...(c.pullPolicy ? { validationJobPullPolicy: c.pullPolicy as OperatorConfig['validationJobPullPolicy'] } : {}),
    validationJobsMax: r.int('validation-jobs-max', 0, 10_000),
    validationJobsMaxPerNamespace: r.int('validation-jobs-max-per-namespace', 0, 10_000),
  };
}

/** Checks between settings that each parsed: a Job runner needs an image, the retry delays an order. */
function crossChecks(r: FlagReader, cfg: OperatorConfig): void {
  if (cfg.validationRunner === 'Job' && !cfg.validationJobImage) r.problems.push(`${r.where('validation-runner')} is Job but ${r.where('validation-job-image')} is empty: give the image validation Jobs run`);
  if (r.valid('job-retry-delay', 'job-retry-max-delay') && cfg.jobRetryMaxDelayMs < cfg.jobRetryDelayMs) {
    r.problems.push(`${r.where('job-retry-max-delay')} (${cfg.jobRetryMaxDelayMs / 1000}) must not be shorter than ${r.where('job-retry-delay')} (${cfg.jobRetryDelayMs / 1000})`);
  }
}

/** The configuration from argv and the environment; every problem at once in a ConfigError. */
export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): OperatorConfig {
  const r = new FlagReader(parseFlags(argv), env);
  // Each group adds its problems in turn, so they are listed in the same order every time.
  const c = choices(r);
  const times = leaseTimes(r);
  const cfg: OperatorConfig = {
    ...clusterSettings(r, times),
    ...servingSettings(r, c.logLevel),
    ...fetchSettings(r),
    ...reconcileSettings(r, c),
    ...jobSettings(r, c),
  };
  crossChecks(r, cfg);
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return cfg;
}
