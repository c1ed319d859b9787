// Assembles the operator: Kubernetes client, leader election, controller, health and metrics.
// Tests and benchmarks start it in-process with their own validator; main.ts starts it for real.
import { Controller, type ControllerOptions } from '../controller/controller.js';
import type { AuditLog, ReconcileObserver } from '../controller/deps.js';
import type { Analyzer } from '../monitor/guard.js';
import { Checkpoints } from '../kube/checkpoints.js';
import { KubeClient, loadKubeConfig } from '../kube/client.js';
import { ValidationJobs } from '../kube/jobs.js';
import { LeaderElector } from '../kube/lease.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { OperatorMetrics } from '../observability/metrics.js';
import { startHealthServer, type HealthServer } from '../observability/health.js';
import { KubeNotificationSettings, Notifier } from '../notify/notifier.js';
import { buildNotification, isNotifyEvent } from '../notify/payload.js';
import type { CheckpointValidator } from '../validation/contract.js';
import { DestinationGuard } from '../validation/fetch.js';
import type { OperatorConfig } from './config.js';

export interface OperatorParts {
  validator: CheckpointValidator;
  analyzer?: (client: KubeClient) => Analyzer;
  audit?: (client: KubeClient) => AuditLog;
  logger?: Logger;
  /** Called when this replica lost its lease: by default the process exits. */
  onLeadershipLost?: (why: string) => void;
  afterDeploymentPatch?: () => void;
  /** Notification delivery tuning (tests); the defaults retry 5 times from 1 s. */
  notifier?: { backoffMs?: number; attempts?: number };
}

export interface RunningOperator {
  controller?: Controller;
  health: HealthServer;
  metrics: OperatorMetrics;
  elector?: LeaderElector;
  notifier: Notifier;
  /** Resolves once this replica leads and its informers are synced. */
  leading: Promise<void>;
  stop(): Promise<void>;
}

/** The operator's mutable state, shared by the leadership callbacks, the checks and stop(). */
interface OperatorState {
  controller?: Controller;
  stopping: boolean;
  /** Why this replica lost its lease; set, it is not ready. */
  lostLease?: string;
}

function kubeClient(cfg: OperatorConfig): KubeClient {
  return new KubeClient(loadKubeConfig(cfg.kubeconfig), {
    qps: cfg.qps,
    burst: cfg.burst,
    userAgent: `modelgate-operator/${cfg.identity}`,
  });
}

/** Validation Jobs: only when a Job image is configured (without one, a checkpoint asking for runner Job fails, JobRunnerNotConfigured). */
function validationJobs(cfg: OperatorConfig, client: KubeClient, log: Logger): ValidationJobs | undefined {
  if (!cfg.validationJobImage) return undefined;
  return new ValidationJobs(client, {
    template: {
      image: cfg.validationJobImage,
      requests: cfg.validationJobRequests,
      limits: cfg.validationJobLimits,
      ttlSecondsAfterFinished: cfg.validationJobTtlSeconds,
      workDirSize: cfg.validationJobWorkDirSize,
      trustedHosts: cfg.trustedHosts,
      maxArtifactBytes: cfg.maxArtifactBytes,
      ...(cfg.validationJobPullPolicy ? { imagePullPolicy: cfg.validationJobPullPolicy } : {}),
    },
    maxJobs: cfg.validationJobsMax,
    maxJobsPerNamespace: cfg.validationJobsMaxPerNamespace,
    onError: (err, retryInMs) => log.warn('validation Job watch stopped; restarting', { error: err instanceof Error ? err.message : String(err), retryInMs }),
  });
}

/** The health and metrics listeners, with the readiness checks on the operator's state. */
async function healthServer(cfg: OperatorConfig, metrics: OperatorMetrics, log: Logger, state: OperatorState): Promise<HealthServer> {
  const health = await startHealthServer({
    host: cfg.bindHost,
    port: cfg.healthPort,
    metricsPort: cfg.metricsPort === cfg.healthPort ? undefined : cfg.metricsPort,
    registry: metrics.registry,
    logger: log,
  });
  // A standby replica is ready (it can take over); the leader is ready once its caches synced.
  health.setCheck('informers', () => (state.controller ? state.controller.synced : true));
  return health;
}

function leaderElector(cfg: OperatorConfig, client: KubeClient, log: Logger): LeaderElector | undefined {
  if (!cfg.leaderElect) return undefined;
  return new LeaderElector(client, {
    namespace: cfg.namespace,
    name: cfg.leaseName,
    identity: cfg.identity,
    leaseDurationSeconds: cfg.leaseDurationSeconds,
    renewDeadlineMs: cfg.renewDeadlineMs,
    retryPeriodMs: cfg.retryPeriodMs,
    log: (msg, fields) => log.info(msg, fields),
  });
}

/** What the controller reports, turned into metrics, debug lines and notifications. */
function observer(metrics: OperatorMetrics, notifier: Notifier, log: Logger): ReconcileObserver {
  return {
    transition: (from, to, cp, reason, message) => {
      log.debug('transition', { to });
      // Only enqueues: delivery runs in the background and never touches the checkpoint.
      if (cp && isNotifyEvent(to)) notifier.notify(buildNotification(cp, from, to, reason ?? '', message ?? '', new Date().toISOString()));
    },
    deployed: () => metrics.deploysTotal.inc(),
    conflict: () => metrics.conflictRetriesTotal.inc(),
    rolledBack: (reason) => metrics.rollbacksTotal.inc({ reason }),
    gate: (stage, verdict, ms) => {
      metrics.gateResultTotal.inc({ stage, verdict });
      if (ms !== undefined) metrics.validationDuration.observe({ stage }, ms / 1000);
    },
  };
}

/** Everything the operator built that the controller runs on. */
interface Assembly {
  cfg: OperatorConfig;
  parts: OperatorParts;
  client: KubeClient;
  log: Logger;
  metrics: OperatorMetrics;
  notifier: Notifier;
  validationJobs?: ValidationJobs;
}

function controllerOptions(a: Assembly): ControllerOptions {
  const { cfg, parts, client, log, metrics } = a;
  return {
    client,
    validator: parts.validator,
    analyzer: parts.analyzer?.(client),
    audit: parts.audit?.(client),
    log,
    workers: cfg.workers,
    identity: cfg.identity,
    resyncMs: cfg.resyncSeconds * 1000,
    observer: observer(metrics, a.notifier, log),
    onInformerUp: (resource, up) => metrics.informerUp.set({ resource }, up ? 1 : 0),
    onQueueDepth: (depth) => metrics.workqueueDepth.set(depth),
    onQueueWait: (seconds) => metrics.workqueueWait.observe(seconds),
    onReconcile: (result, seconds) => {
      metrics.reconcileTotal.inc({ result });
      metrics.reconcileDuration.observe(seconds);
      if (result === 'error') metrics.reconcileErrorsTotal.inc();
    },
    afterDeploymentPatch: parts.afterDeploymentPatch,
    rollbackHistory: cfg.rollbackHistory,
    retryPolicy: { maxAttempts: cfg.jobAttempts, baseDelayMs: cfg.jobRetryDelayMs, maxDelayMs: cfg.jobRetryMaxDelayMs },
    reconcileDeadlineMs: cfg.reconcileDeadlineMs,
    foldWaitMs: cfg.foldWaitMs,
    validationJobs: a.validationJobs,
    defaultRunner: cfg.validationRunner,
  };
}

/** Waits for the lease (if elected), then starts the controller; losing the lease stops all work. */
async function lead(a: Assembly, elector: LeaderElector | undefined, state: OperatorState): Promise<void> {
  const { cfg, log, metrics } = a;
  if (elector) {
    log.info('waiting for leadership', { lease: `${cfg.namespace}/${cfg.leaseName}` });
    await elector.acquire((why) => {
      // Not ready from here: a replica that lost its lease neither leads nor may stand by.
      state.lostLease = why;
      metrics.leader.set(0);
      log.error('lost leadership: stopping all work', { why });
      void state.controller?.stop();
      (a.parts.onLeadershipLost ?? (() => process.exit(1)))(why);
    });
  }
  if (state.stopping) return;
  metrics.leader.set(1);
  state.controller = new Controller(controllerOptions(a));
  await state.controller.start();
  log.info('controller started', { workers: cfg.workers });
}

export async function startOperator(cfg: OperatorConfig, parts: OperatorParts): Promise<RunningOperator> {
  const log = parts.logger ?? createLogger({ level: cfg.logLevel, fields: { component: 'operator', identity: cfg.identity } });
  const state: OperatorState = { stopping: false };
  const metrics = new OperatorMetrics({ checkpointsByPhase: () => state.controller?.phaseCounts() ?? {}, phaseAges: () => state.controller?.phaseAges() ?? [] });
  const client = kubeClient(cfg);
  const jobs = validationJobs(cfg, client, log);
  const health = await healthServer(cfg, metrics, log, state);
  const notifier = new Notifier({
    settings: new KubeNotificationSettings(new Checkpoints(client)),
    guard: new DestinationGuard(cfg.trustedHosts),
    log,
    metrics,
    ...(parts.notifier ?? {}),
  });
  health.setCheck('leadership', () => state.lostLease === undefined);
  const elector = leaderElector(cfg, client, log);
  const leading = lead({ cfg, parts, client, log, metrics, notifier, validationJobs: jobs }, elector, state);
  leading.catch((err: unknown) => log.error('operator failed to start', { error: err instanceof Error ? err.message : String(err) }));

  return {
    get controller() {
      return state.controller;
    },
    health,
    metrics,
    elector,
    notifier,
    leading,
    async stop() {
      state.stopping = true;
      metrics.leader.set(0);
      elector?.stop();
      await state.controller?.stop();
      await notifier.stop();
      await elector?.release();
      await health.close();
    },
  };
}
