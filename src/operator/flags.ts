// The operator's flags: the table of flags with their env vars, defaults and help, and the
// reader that turns one flag's text into a checked value or a problem line naming the flag.
// Pure (no argv, no environment of its own: the caller hands both in), so src/server/ shares it.
export interface FlagSpec {
  env: string;
  default?: string;
  help: string;
}

export const FLAGS: Record<string, FlagSpec> = {
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


/** The raw text of each flag as parseArgs gave it (unset flags are absent). */
export type FlagValues = Record<string, string | undefined>;

/**
 * Reads flags by name: a flag beats its env var, which beats the default. Every bad value adds
 * one line to `problems` that names the flag and its env var and says what is expected; the
 * reader then returns a placeholder so parsing goes on and all problems are reported at once.
 */
export class FlagReader {
  readonly problems: string[] = [];
  /** Flags whose number was refused, so checks between flags skip them. */
  private readonly invalid = new Set<string>();

  constructor(
    private readonly values: FlagValues,
    private readonly env: Readonly<Record<string, string | undefined>>,
  ) {}

  /** `--name (env VAR)`, how a problem names a flag. */
  where(k: string): string {
    return `--${k} (env ${FLAGS[k]!.env})`;
  }

  /** The text, or undefined. An empty optional value means none. */
  raw(k: string): string | undefined {
    return this.values[k] ?? this.env[FLAGS[k]!.env] ?? FLAGS[k]!.default;
  }

  /** The text; an empty one is a problem. */
  required(k: string): string {
    const v = this.raw(k);
    if (!v) this.problems.push(`${this.where(k)} is empty: give it a value`);
    return v ?? '';
  }

  int(k: string, min: number, max: number): number {
    const v = this.raw(k) ?? '';
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) {
      this.problems.push(`${this.where(k)} is "${v}": expected a whole number from ${min} to ${max}`);
      this.invalid.add(k);
      return min;
    }
    return n;
  }

  num(k: string, min: number, max: number): number {
    const v = this.raw(k) ?? '';
    const n = Number(v);
    if (v === '' || !Number.isFinite(n) || n < min || n > max) {
      this.problems.push(`${this.where(k)} is "${v}": expected a number from ${min} to ${max}`);
      this.invalid.add(k);
      return min;
    }
    return n;
  }

  bool(k: string): boolean {
    const v = (this.raw(k) ?? '').toLowerCase();
    if (v !== 'true' && v !== 'false') this.problems.push(`${this.where(k)} is "${v}": expected true or false`);
    return v === 'true';
  }

  list(k: string): string[] {
    return splitList(this.raw(k));
  }

  /** A `name=quantity` list (resource requests and limits). */
  quantities(k: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const item of this.list(k)) {
      const m = /^([a-z0-9.\/-]+)=([0-9.]+[a-zA-Z]*)$/.exec(item);
      if (!m) this.problems.push(`${this.where(k)} has "${item}": expected name=quantity, e.g. cpu=500m,memory=1Gi`);
      else out[m[1]!] = m[2]!;
    }
    return out;
  }

  /** One of `allowed`, else a problem; `what` lists them in the message. */
  choice(k: string, fallback: string, allowed: readonly string[], what: string): string {
    const v = this.raw(k) ?? fallback;
    if (!allowed.includes(v)) this.problems.push(`${this.where(k)} is "${v}": expected ${what}`);
    return v;
  }

  /** Whether none of these flags' numbers was refused. */
  valid(...ks: string[]): boolean {
    return ks.every((k) => !this.invalid.has(k));
  }
}
