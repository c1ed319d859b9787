// The operator's entry point: flags and environment, then the operator until SIGTERM.
import { mkdirSync } from 'node:fs';
import { createLogger } from '../observability/logger.js';
import { OnnxValidator } from '../validation/pipeline.js';
import { ConfigError, parseConfig, usage } from './config.js';
import { startOperator, type RunningOperator } from './operator.js';
import { liveGuard } from './wiring.js';

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${usage()}\n`);
    return;
  }
  let cfg;
  try {
    cfg = parseConfig(argv, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) process.stderr.write(`modelgate-operator: ${p}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger({ level: cfg.logLevel, fields: { component: 'operator', identity: cfg.identity } });
  try {
    mkdirSync(cfg.cacheDir, { recursive: true });
  } catch (err) {
    process.stderr.write(`modelgate-operator: --cache-dir ${cfg.cacheDir} cannot be created (${(err as Error).message}): mount a writable volume there or pass another folder\n`);
    process.exit(2);
  }
  const validator = new OnnxValidator({
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
  // The live guard reports measurements to the operator's metrics, which exist once it started.
  const ref: { metrics?: RunningOperator['metrics']; op?: RunningOperator } = {};
  // Removes partial downloads a killed predecessor left in the cache.
  await validator.start();
  const op = await startOperator(cfg, {
    validator,
    logger: log,
    ...liveGuard(cfg, log, () => ref.metrics),
    afterDeploymentPatch: process.env.MODELGATE_TEST_EXIT_AFTER_PATCH === '1'
      ? () => {
          // Test hook for the fault suite: die between the Deployment patch and the status write.
          log.warn('MODELGATE_TEST_EXIT_AFTER_PATCH: exiting right after the Deployment patch');
          process.exit(137);
        }
      : undefined,
  });
  ref.metrics = op.metrics;
  ref.op = op;
  log.info('operator started', { health: op.health.url, metrics: op.health.metricsUrl, leaderElect: cfg.leaderElect });

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

main().catch((err: unknown) => {
  process.stderr.write(`modelgate-operator: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
