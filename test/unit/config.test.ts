import assert from 'node:assert/strict';
import os from 'node:os';
import { ConfigError, FLAGS, parseConfig, usage } from '../../src/operator/config.js';

/** The problems parseConfig reports, or a failure if it accepted the input. */
function problems(argv: string[], env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(argv, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.message, err.problems.join('\n'));
    return err.problems;
  }
  assert.fail(`expected ${JSON.stringify(argv)} ${JSON.stringify(env)} to be refused`);
}

describe('operator/config parseConfig', () => {
  it('has sensible defaults with no flags and no env', () => {
    const c = parseConfig([], {});
    assert.deepEqual({ ...c, identity: undefined }, {
      kubeconfig: undefined,
      namespace: 'modelgate-system',
      identity: undefined,
      leaderElect: true,
      leaseName: 'modelgate-operator',
      leaseDurationSeconds: 15,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      workers: 4,
      qps: 20,
      burst: 40,
      healthPort: 8081,
      metricsPort: 8080,
      allowAmbientCredentials: false,
      bindHost: '0.0.0.0',
      logLevel: 'info',
      cacheDir: '/var/cache/modelgate',
      maxArtifactBytes: 2 * 1024 ** 3,
      cacheMaxBytes: 2 * 1024 ** 3,
      trustedHosts: [],
      fileRoots: [],
      validationWorkers: 2,
      workerMemoryMiB: 2048,
      validationTimeoutSeconds: 600,
      prometheusUrl: undefined,
      prometheusUrls: [],
      prometheusTimeoutMs: 10_000,
      prometheusMaxResponseBytes: 4 * 1024 * 1024,
      reconcileDeadlineMs: 30_000,
      foldWaitMs: 20,
      rollbackHistory: 5,
      resyncSeconds: 600,
      jobAttempts: 5,
      jobRetryDelayMs: 5_000,
      jobRetryMaxDelayMs: 300_000,
      validationRunner: 'InProcess',
      validationJobImage: '',
      validationJobRequests: { cpu: '500m', memory: '512Mi' },
      validationJobLimits: { memory: '2Gi' },
      validationJobTtlSeconds: 3600,
      validationJobWorkDirSize: '4Gi',
      validationJobsMax: 10,
      validationJobsMaxPerNamespace: 4,
    });
    assert.equal(c.identity, `${os.hostname()}-${process.pid}`);
  });

  it('reads the validation Job settings, and refuses runner Job without an image', () => {
    const c = parseConfig(['--validation-runner', 'Job', '--validation-job-image', 'modelgate:dev', '--validation-job-limits', 'cpu=2,memory=1Gi', '--validation-jobs-max', '3', '--validation-jobs-max-per-namespace', '0', '--validation-job-pull-policy', 'Never'], {});
    assert.equal(c.validationRunner, 'Job');
    assert.equal(c.validationJobImage, 'modelgate:dev');
    assert.deepEqual(c.validationJobLimits, { cpu: '2', memory: '1Gi' });
    assert.equal(c.validationJobsMax, 3);
    assert.equal(c.validationJobsMaxPerNamespace, 0);
    assert.equal(c.validationJobPullPolicy, 'Never');
    assert.deepEqual(problems(['--validation-runner', 'Job']), ['--validation-runner (env MODELGATE_VALIDATION_RUNNER) is Job but --validation-job-image (env MODELGATE_VALIDATION_JOB_IMAGE) is empty: give the image validation Jobs run']);
    assert.deepEqual(problems(['--validation-runner', 'Pod']), ['--validation-runner (env MODELGATE_VALIDATION_RUNNER) is "Pod": expected InProcess or Job']);
    assert.deepEqual(problems(['--validation-job-requests', 'cpu:1']), ['--validation-job-requests (env MODELGATE_VALIDATION_JOB_REQUESTS) has "cpu:1": expected name=quantity, e.g. cpu=500m,memory=1Gi']);
  });

  it('reads the environment', () => {
    const c = parseConfig([], {
      KUBECONFIG: '/k/config',
      POD_NAMESPACE: 'ops',
      POD_NAME: 'modelgate-0',
      MODELGATE_LEADER_ELECT: 'FALSE',
      MODELGATE_WORKERS: '8',
      MODELGATE_KUBE_QPS: '5.5',
      MODELGATE_TRUSTED_HOSTS: ' minio.local:9000 , ,models.internal ',
      MODELGATE_FILE_ROOTS: '/models',
      MODELGATE_PROMETHEUS_URL: 'http://prometheus:9090',
      MODELGATE_LOG_LEVEL: 'debug',
      MODELGATE_PROMETHEUS_URLS: 'http://prom-a:9090, https://prom-b.example/prefix',
      MODELGATE_RECONCILE_DEADLINE_SECONDS: '2.5',
    });
    assert.equal(c.kubeconfig, '/k/config');
    assert.equal(c.namespace, 'ops');
    assert.equal(c.identity, 'modelgate-0');
    assert.equal(c.leaderElect, false);
    assert.equal(c.workers, 8);
    assert.equal(c.qps, 5.5);
    assert.deepEqual(c.trustedHosts, ['minio.local:9000', 'models.internal']);
    assert.deepEqual(c.fileRoots, ['/models']);
    assert.equal(c.prometheusUrl, 'http://prometheus:9090');
    assert.equal(c.logLevel, 'debug');
    assert.deepEqual(c.prometheusUrls, ['http://prom-a:9090', 'https://prom-b.example/prefix']);
    assert.equal(c.reconcileDeadlineMs, 2500);
  });

  it('flags override env, in both --flag value and --flag=value forms', () => {
    const c = parseConfig(['--workers', '16', '--namespace=flag-ns', '--lease-duration', '30', '--renew-deadline=20', '--retry-period', '0.5'], {
      MODELGATE_WORKERS: '2',
      POD_NAMESPACE: 'env-ns',
      MODELGATE_LEASE_DURATION_SECONDS: '5',
    });
    assert.equal(c.workers, 16);
    assert.equal(c.namespace, 'flag-ns');
    assert.equal(c.leaseDurationSeconds, 30);
    assert.equal(c.renewDeadlineMs, 20_000);
    assert.equal(c.retryPeriodMs, 500);
  });

  it('an empty --prometheus-url or --kubeconfig means none', () => {
    const c = parseConfig(['--prometheus-url=', '--kubeconfig='], { MODELGATE_PROMETHEUS_URL: 'http://p:9090', KUBECONFIG: '/x' });
    assert.equal(c.prometheusUrl, undefined);
    assert.equal(c.kubeconfig, undefined);
  });

  const bad: Array<[flag: string, value: string, expect: RegExp]> = [
    ['workers', '0', /whole number from 1 to 256/],
    ['workers', '2.5', /whole number/],
    ['workers', 'four', /whole number/],
    ['workers', '-1', /whole number/],
    ['workers', '', /whole number/],
    ['burst', '1e3', /whole number/],
    ['qps', '0', /number from 0\.1 to 10000/],
    ['qps', 'fast', /number from 0\.1/],
    ['qps', 'Infinity', /number from 0\.1/],
    ['health-port', '70000', /0 to 65535/],
    ['metrics-port', 'http', /0 to 65535/],
    ['leader-elect', 'yes', /true or false/],
    ['log-level', 'verbose', /error, warn, info or debug/],
    ['prometheus-url', 'ftp://prom', /http:\/\/ or https:\/\/ URL/],
    ['prometheus-url', 'not a url', /http:\/\/ or https:\/\/ URL/],
    ['prometheus-urls', 'http://ok:9090,file:///etc/passwd', /http:\/\/ or https:\/\/ URLs/],
    ['prometheus-max-response-bytes', '10', /1024 to/],
    ['reconcile-deadline', '0', /number from 0\.1/],
    ['validation-workers', '65', /1 to 64/],
    ['worker-memory-mib', '32', /64 to 1048576/],
    ['validation-timeout', '0', /1 to 86400/],
    ['rollback-history', '101', /1 to 100/],
    ['resync', '5', /10 to 86400/],
    ['job-attempts', '0', /1 to 1000/],
    ['job-retry-delay', 'soon', /number from 0\.01/],
    ['max-artifact-bytes', '0', /whole number/],
    ['max-artifact-bytes', '99999999999999999999', /whole number/],
    ['cache-max-bytes', '-1', /whole number from 0/],
    ['cache-max-bytes', '4Gi', /whole number from 0/],
  ];
  for (const [flag, value, expect] of bad) {
    it(`refuses --${flag}=${JSON.stringify(value)}, naming the flag and its env var`, () => {
      const env = FLAGS[flag]!.env;
      for (const p of [problems([`--${flag}=${value}`]), problems([], { [env]: value })]) {
        const line = p.find((x) => x.startsWith(`--${flag} (env ${env})`));
        assert.ok(line, `no line names --${flag} (env ${env}): ${JSON.stringify(p)}`);
        assert.match(line, expect);
        assert.ok(line.includes(`"${value}"`), `the line quotes the value: ${line}`);
      }
    });
  }

  it('reports every bad value at once, one line each', () => {
    const p = problems(['--workers=0', '--qps=x', '--log-level=loud', '--health-port=-'], { MODELGATE_LEADER_ELECT: 'maybe' });
    assert.equal(p.length, 5, p.join('\n'));
    for (const flag of ['workers', 'qps', 'log-level', 'health-port', 'leader-elect']) {
      assert.equal(p.filter((l) => l.startsWith(`--${flag} `)).length, 1, flag);
    }
  });

  it('refuses a renew deadline not shorter than the lease duration', () => {
    for (const renew of ['15', '20']) {
      const p = problems(['--lease-duration=15', `--renew-deadline=${renew}`]);
      assert.equal(p.length, 1, p.join('\n'));
      assert.match(p[0]!, /--renew-deadline \(env MODELGATE_RENEW_DEADLINE_SECONDS\) \(\d+\) must be shorter than --lease-duration \(env MODELGATE_LEASE_DURATION_SECONDS\) \(15\)/);
    }
    assert.equal(parseConfig(['--lease-duration=15', '--renew-deadline=14.5'], {}).renewDeadlineMs, 14_500);
  });

  it('refuses a retry period not shorter than the renew deadline', () => {
    const p = problems(['--renew-deadline=5', '--retry-period=5']);
    assert.equal(p.length, 1, p.join('\n'));
    assert.match(p[0]!, /--retry-period .* must be shorter than --renew-deadline/);
  });

  it('a single bad --lease-duration gives a single line, not a second one blaming --renew-deadline', () => {
    // the bad value falls back to its minimum (2), which then fails the renew < lease cross-check
    const p = problems(['--lease-duration=abc']);
    assert.deepEqual(p.map((l) => l.split(' ')[0]), ['--lease-duration'], p.join('\n'));
  });

  it('a single bad --renew-deadline gives a single line, not a second one blaming --retry-period', () => {
    const p = problems([], { MODELGATE_RENEW_DEADLINE_SECONDS: 'ten' });
    assert.deepEqual(p.map((l) => l.split(' ')[0]), ['--renew-deadline'], p.join('\n'));
  });

  it('an empty POD_NAMESPACE or --lease-name is not silently accepted as ""', () => {
    // The Downward API or a templated manifest can set an env var to ""; an empty namespace or
    // Lease name would only fail later, at the first Lease request.
    let c: ReturnType<typeof parseConfig> | undefined;
    let err: unknown;
    try {
      c = parseConfig(['--lease-name='], { POD_NAMESPACE: '' });
    } catch (e) {
      err = e;
    }
    if (err) {
      assert.ok(err instanceof ConfigError);
      assert.ok(err.problems.some((l) => l.startsWith('--namespace (env POD_NAMESPACE)')), err.message);
      assert.ok(err.problems.some((l) => l.startsWith('--lease-name (env MODELGATE_LEASE_NAME)')), err.message);
    } else {
      assert.notEqual(c!.namespace, '', 'namespace is ""');
      assert.notEqual(c!.leaseName, '', 'lease name is ""');
    }
  });

  it('an unknown flag gives a clear message pointing at --help', () => {
    const p = problems(['--wokers=3']);
    assert.equal(p.length, 1);
    assert.match(p[0]!, /--wokers/);
    assert.match(p[0]!, /run with --help/);
  });

  it('a positional argument or a flag without its value is refused clearly', () => {
    assert.match(problems(['extra'])[0]!, /extra/);
    assert.match(problems(['--workers'])[0]!, /--workers/);
  });

  it('never reads process.env itself', () => {
    const saved = process.env.MODELGATE_WORKERS;
    process.env.MODELGATE_WORKERS = '99';
    try {
      assert.equal(parseConfig([], {}).workers, 4);
    } finally {
      if (saved === undefined) delete process.env.MODELGATE_WORKERS;
      else process.env.MODELGATE_WORKERS = saved;
    }
  });
});

describe('operator/config usage', () => {
  it('lists every flag with its env var and non-empty default', () => {
    const u = usage();
    for (const [flag, spec] of Object.entries(FLAGS)) {
      const line = u.split('\n').find((l) => l.trimStart().startsWith(`--${flag} `));
      assert.ok(line, `--${flag} missing`);
      assert.ok(line.includes(`env ${spec.env}`), line);
      if (spec.default) assert.ok(line.includes(`default ${spec.default}`), line);
    }
    assert.doesNotMatch(u, /default \)/);
  });

  it('every flag has a distinct env var', () => {
    const envs = Object.values(FLAGS).map((s) => s.env);
    assert.equal(new Set(envs).size, envs.length);
  });
});
