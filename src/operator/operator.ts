// Assembles the operator: Kubernetes client, leader election, controller, health and metrics.
// Tests and benchmarks start it in-process with their own validator; main.ts starts it for real.
import { Controller } from '../controller/controller.js';
import type { Analyzer, AuditLog } from '../controller/reconciler.js';
import { KubeClient, loadKubeConfig } from '../kube/client.js';
import { LeaderElector } from '../kube/lease.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { OperatorMetrics } from '../observability/metrics.js';
import { startHealthServer, type HealthServer } from '../observability/health.js';
import type { CheckpointValidator } from '../validation/contract.js';
import type { OperatorConfig } from './config.js';

export interface OperatorParts {
  validator: CheckpointValidator;
  analyzer?: (client: KubeClient) => Analyzer;
  audit?: (client: KubeClient) => AuditLog;
  logger?: Logger;
  /** Called when this replica lost its lease: by default the process exits. */
  onLeadershipLost?: (why: string) => void;
  afterDeploymentPatch?: () => void;
}

export interface RunningOperator {
  controller?: Controller;
  health: HealthServer;
  metrics: OperatorMetrics;
  elector?: LeaderElector;
  /** Resolves once this replica leads and its informers are synced. */
  leading: Promise<void>;
  stop(): Promise<void>;
}

export async function startOperator(cfg: OperatorConfig, parts: OperatorParts): Promise<RunningOperator> {
  const log = parts.logger ?? createLogger({ level: cfg.logLevel, fields: { component: 'operator', identity: cfg.identity } });
  let controller: Controller | undefined;
  const metrics = new OperatorMetrics({ checkpointsByPhase: () => controller?.phaseCounts() ?? {} });
  const client = new KubeClient(loadKubeConfig(cfg.kubeconfig), {
    qps: cfg.qps,
    burst: cfg.burst,
    userAgent: `modelgate-operator/${cfg.identity}`,
  });
  const health = await startHealthServer({
    host: cfg.bindHost,
    port: cfg.healthPort,
    metricsPort: cfg.metricsPort === cfg.healthPort ? undefined : cfg.metricsPort,
    registry: metrics.registry,
    logger: log,
  });
  // A standby replica is ready (it can take over); the leader is ready once its caches synced.
  health.setCheck('informers', () => (controller ? controller.synced : true));

  let stopping = false;
  const elector = cfg.leaderElect
    ? new LeaderElector(client, {
        namespace: cfg.namespace,
        name: cfg.leaseName,
        identity: cfg.identity,
        leaseDurationSeconds: cfg.leaseDurationSeconds,
        renewDeadlineMs: cfg.renewDeadlineMs,
        retryPeriodMs: cfg.retryPeriodMs,
        log: (msg, fields) => log.info(msg, fields),
      })
    : undefined;

  const lead = async (): Promise<void> => {
    if (elector) {
      log.info('waiting for leadership', { lease: `${cfg.namespace}/${cfg.leaseName}` });
      await elector.acquire((why) => {
        log.error('lost leadership: stopping all work', { why });
        void controller?.stop();
        (parts.onLeadershipLost ?? (() => process.exit(1)))(why);
      });
    }
    if (stopping) return;
    controller = new Controller({
      client,
      validator: parts.validator,
      analyzer: parts.analyzer?.(client),
      audit: parts.audit?.(client),
      log,
      workers: cfg.workers,
      identity: cfg.identity,
      resyncMs: cfg.resyncSeconds * 1000,
      observer: {
        transition: (_from, to) => log.debug('transition', { to }),
        deployed: () => metrics.deploysTotal.inc(),
        rolledBack: (reason) => metrics.rollbacksTotal.inc({ reason }),
        gate: (stage, verdict, ms) => {
          metrics.gateResultTotal.inc({ stage, verdict });
          if (ms !== undefined) metrics.validationDuration.observe({ stage }, ms / 1000);
        },
      },
      onInformerUp: (resource, up) => metrics.informerUp.set({ resource }, up ? 1 : 0),
      onQueueDepth: (depth) => metrics.workqueueDepth.set(depth),
      onReconcile: (result, seconds) => {
        metrics.reconcileTotal.inc({ result });
        metrics.reconcileDuration.observe(seconds);
        if (result === 'error') metrics.reconcileErrorsTotal.inc();
      },
      afterDeploymentPatch: parts.afterDeploymentPatch,
      rollbackHistory: cfg.rollbackHistory,
    });
    await controller.start();
    log.info('controller started', { workers: cfg.workers });
  };
  const leading = lead();
  leading.catch((err: unknown) => log.error('operator failed to start', { error: err instanceof Error ? err.message : String(err) }));

  return {
    get controller() {
      return controller;
    },
    health,
    metrics,
    elector,
    leading,
    async stop() {
      stopping = true;
      elector?.stop();
      await controller?.stop();
      await elector?.release();
      await health.close();
    },
  };
}
