// The operator's entry point: flags and environment, then the operator until SIGTERM.
import { mkdirSync } from 'node:fs';
import { createLogger, type Logger } from '../observability/logger.js';
import { OnnxValidator } from '../validation/pipeline.js';
import { ConfigError, parseConfig, usage, type OperatorConfig } from './config.js';
import { startOperator, type RunningOperator } from './operator.js';
import { liveGuard } from './wiring.js';

/** The configuration, or the help text / problem lines and an exit (2 for bad flags); undefined after --help. */
function configOrExit(argv: string[]): OperatorConfig | undefined {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${usage()}\n`);
    return undefined;
  }
  try {
    return parseConfig(argv, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) process.stderr.write(`modelgate-operator: ${p}\n`);
      process.exit(2);
    }
    throw err;
  }
}

/** The download cache folder, created if missing; an exit (2) when it cannot be. */
function ensureCacheDir(cfg: OperatorConfig): void {
  try {
    mkdirSync(cfg.cacheDir, { recursive: true });
  } catch (err) {
    process.stderr.write(`modelgate-operator: --cache-dir ${cfg.cacheDir} cannot be created (${(err as Error).message}): mount a writable volume there or pass another folder\n`);
    process.exit(2);
  }
}

/** What the validator and the live guard need of the operator, filled in once it started. */
type OperatorRef = { metrics?: RunningOperator['metrics']; op?: RunningOperator };

/** The in-process validator; its cache keeps what the leader's rollback points need. */
function makeValidator(cfg: OperatorConfig, log: Logger, ref: OperatorRef): OnnxValidator {
  return new OnnxValidator({
    cacheDir: cfg.cacheDir,
    maxArtifactBytes: cfg.maxArtifactBytes,
    trustedHosts: cfg.trustedHosts,
    fileRoots: cfg.fileRoots,
    allowAmbientCredentials: cfg.allowAmbientCredentials,
    workers: cfg.validationWorkers,
    workerMemoryMiB: cfg.workerMemoryMiB,
    ...(cfg.cacheMaxBytes > 0 ? { maxCacheBytes: cfg.cacheMaxBytes } : {}),
    // The artifacts rollback points (and production) need are never evicted; until the leader's
    // caches are synced they are not known, and nothing is.
    keepDigests: () => {
      const c = ref.op?.controller;
      return c?.synced ? c.keptDigests() : undefined;
    },
    onEvict: (r) => log.info('download cache over budget: evicted least recently used artifacts', { evicted: r.evicted, keptBytes: r.keptBytes, overBudgetBytes: r.overBudgetBytes }),
  });
}

/** Test hook for the fault suite (MODELGATE_TEST_EXIT_AFTER_PATCH=1): die between the Deployment patch and the status write. */
function exitAfterPatchHook(log: Logger): (() => void) | undefined {
  if (process.env.MODELGATE_TEST_EXIT_AFTER_PATCH !== '1') return undefined;
  return () => {
    log.warn('MODELGATE_TEST_EXIT_AFTER_PATCH: exiting right after the Deployment patch');
    process.exit(137);
  };
}

/** SIGTERM and SIGINT stop the operator, then the validator, then exit (forced after 25 s). */
function exitOnSignals(op: RunningOperator, validator: OnnxValidator, log: Logger): void {
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    const force = setTimeout(() => process.exit(1), 25_000);
    force.unref();
    op.stop()
      .then(() => validator.close())
      .then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

async function main(): Promise<void> {
  const cfg = configOrExit(process.argv.slice(2));
  if (!cfg) return;
  const log = createLogger({ level: cfg.logLevel, fields: { component: 'operator', identity: cfg.identity } });
  ensureCacheDir(cfg);
  // The live guard reports measurements to the operator's metrics, which exist once it started.
  const ref: OperatorRef = {};
  const validator = makeValidator(cfg, log, ref);
  // Removes partial downloads a killed predecessor left in the cache.
  await validator.start();
  const op = await startOperator(cfg, {
    validator,
    logger: log,
    ...liveGuard(cfg, log, () => ref.metrics),
    afterDeploymentPatch: exitAfterPatchHook(log),
  });
  ref.metrics = op.metrics;
  ref.op = op;
  log.info('operator started', { health: op.health.url, metrics: op.health.metricsUrl, leaderElect: cfg.leaderElect });
  exitOnSignals(op, validator, log);
}

main().catch((err: unknown) => {
  process.stderr.write(`modelgate-operator: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
