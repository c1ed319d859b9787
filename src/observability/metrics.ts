// The operator's own metrics, in its own prom-client Registry (never the global one), so tests
// and several operators in one process do not collide, and /metrics shows only what we own.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { PHASES } from '../api/types.js';

export type ReconcileResult = 'success' | 'requeue' | 'error' | 'terminal' | 'skipped';

/** Counts of checkpoints by phase, read at scrape time. */
export type CheckpointCounter = () => Partial<Record<string, number>> | ReadonlyMap<string, number>;

/** Checkpoints in a phase they should pass through, with when they entered it. */
export type PhaseAges = () => ReadonlyArray<{ namespace: string; name: string; phase: string; since: string }>;

export interface OperatorMetricsOptions {
  /** Add Node's process metrics (CPU, memory, event loop lag, ...); default true. */
  defaultMetrics?: boolean;
  /** Labels on every series, e.g. { pod: POD_NAME }. */
  defaultLabels?: Record<string, string>;
  checkpointsByPhase?: CheckpointCounter;
  phaseAges?: PhaseAges;
  now?: () => number;
}

export interface MeasurementSample {
  namespace: string;
  checkpoint: string;
  metric: string;
  phase: 'Successful' | 'Failed' | 'Inconclusive' | 'Error';
  value?: number;
  /** The metric's absolute bounds and the baseline it is compared with, for dashboards. */
  bounds?: { min?: number; max?: number; baseline?: number };
}

const BOUNDS = ['min', 'max', 'baseline'] as const;
const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const VALIDATION_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

type Registers = Registry[];

/** How reconciles end and how long they take. */
function reconcileMetrics(registers: Registers) {
  return {
    reconcileTotal: new Counter({
      name: 'modelgate_reconcile_total', help: 'Reconciles by result.', labelNames: ['result'] as const, registers,
    }),
    reconcileErrorsTotal: new Counter({
      name: 'modelgate_reconcile_errors_total', help: 'Reconciles that ended in an error.', registers,
    }),
    reconcileDuration: new Histogram({
      name: 'modelgate_reconcile_duration_seconds', help: 'Time one reconcile takes.', buckets: SECONDS_BUCKETS, registers,
    }),
  };
}

/** Checkpoints by phase (counted at scrape time by `collect`), deploys and rollbacks. */
function rolloutMetrics(registers: Registers, collect: (gauge: Gauge<'phase'>) => void) {
  const checkpoints: Gauge<'phase'> = new Gauge({
    name: 'modelgate_checkpoints',
    help: 'ModelCheckpoints by phase (from the informer cache, at scrape time).',
    labelNames: ['phase'] as const,
    registers,
    collect: () => collect(checkpoints),
  });
  return {
    checkpoints,
    deploysTotal: new Counter({
      name: 'modelgate_deploys_total', help: 'Checkpoints deployed (Deployment patched).', registers,
    }),
    rollbacksTotal: new Counter({
      name: 'modelgate_rollbacks_total', help: 'Rollbacks by reason.', labelNames: ['reason'] as const, registers,
    }),
  };
}

/** The work queue and the retries it makes. */
function queueMetrics(registers: Registers) {
  return {
    workqueueDepth: new Gauge({
      name: 'modelgate_workqueue_depth', help: 'Items waiting in the work queue.', registers,
    }),
    workqueueWait: new Histogram({
      name: 'modelgate_workqueue_queue_duration_seconds', help: 'How long a checkpoint waited in the work queue before a worker took it.', registers,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    }),
    workqueueRetriesTotal: new Counter({
      name: 'modelgate_workqueue_retries_total', help: 'Items requeued with backoff.', registers,
    }),
    conflictRetriesTotal: new Counter({
      name: 'modelgate_conflict_retries_total', help: 'Reconciles retried at once with a fresh read after a 409 Conflict.', registers,
    }),
  };
}

/** The validation gates and the production guard's analysis. */
function gateMetrics(registers: Registers) {
  return {
    validationDuration: new Histogram({
      name: 'modelgate_validation_duration_seconds',
      help: 'Time each validation stage takes.',
      labelNames: ['stage'] as const,
      buckets: VALIDATION_BUCKETS,
      registers,
    }),
    analysisMeasurement: new Gauge({
      name: 'modelgate_analysis_measurement',
      help: 'Latest value the production guard measured for a checkpoint metric.',
      labelNames: ['namespace', 'checkpoint', 'metric'] as const,
      registers,
    }),
    analysisBound: new Gauge({
      name: 'modelgate_analysis_bound',
      help: 'Bounds a checkpoint metric is judged against: bound="min", "max" (absolute) or "baseline" (the previous checkpoint).',
      labelNames: ['namespace', 'checkpoint', 'metric', 'bound'] as const,
      registers,
    }),
    analysisMeasurementsTotal: new Counter({
      name: 'modelgate_analysis_measurements_total',
      help: 'Analysis measurements by metric and outcome.',
      labelNames: ['metric', 'phase'] as const,
      registers,
    }),
    gateResultTotal: new Counter({
      name: 'modelgate_gate_result_total',
      help: 'Validation gate results by stage and verdict.',
      labelNames: ['stage', 'verdict'] as const,
      registers,
    }),
  };
}

/** Sets one series per checkpoint in a phase it should pass through: seconds since it entered it. */
function collectPhaseAges(gauge: Gauge<'namespace' | 'checkpoint' | 'phase'>, phaseAges: PhaseAges | undefined, now: () => number): void {
  if (!phaseAges) return;
  let ages: ReturnType<PhaseAges>;
  try {
    ages = phaseAges();
  } catch {
    return;
  }
  gauge.reset();
  for (const a of ages) {
    const t = Date.parse(a.since);
    if (Number.isFinite(t)) gauge.set({ namespace: a.namespace, checkpoint: a.name, phase: a.phase }, Math.max(0, (now() - t) / 1000));
  }
}

/** The operator's own health: informers, stuck checkpoints, leadership. */
function healthMetrics(registers: Registers, phaseAges: PhaseAges | undefined, now: () => number) {
  const informerUp = new Gauge({
    name: 'modelgate_informer_up',
    help: '1 while the informer for a resource is synced and watching, else 0.',
    labelNames: ['resource'] as const,
    registers,
  });
  const checkpointPhaseSeconds: Gauge<'namespace' | 'checkpoint' | 'phase'> = new Gauge({
    name: 'modelgate_checkpoint_phase_seconds',
    help: 'Seconds a checkpoint has been in its current phase, for phases it should pass through (Pending to Deployed).',
    labelNames: ['namespace', 'checkpoint', 'phase'] as const,
    registers,
    collect: () => collectPhaseAges(checkpointPhaseSeconds, phaseAges, now),
  });
  const leader = new Gauge({
    name: 'modelgate_leader',
    help: '1 while this replica holds the leader Lease (or runs without leader election), else 0.',
    registers,
  });
  leader.set(0);
  return { informerUp, checkpointPhaseSeconds, leader };
}

export class OperatorMetrics {
  readonly registry: Registry;
  readonly reconcileTotal: Counter<'result'>;
  readonly reconcileErrorsTotal: Counter;
  readonly reconcileDuration: Histogram;
  readonly workqueueWait: Histogram;
  readonly checkpoints: Gauge<'phase'>;
  readonly deploysTotal: Counter;
  readonly rollbacksTotal: Counter<'reason'>;
  readonly workqueueDepth: Gauge;
  readonly workqueueRetriesTotal: Counter;
  readonly conflictRetriesTotal: Counter;
  readonly validationDuration: Histogram<'stage'>;
  readonly analysisMeasurement: Gauge<'namespace' | 'checkpoint' | 'metric'>;
  readonly analysisMeasurementsTotal: Counter<'metric' | 'phase'>;
  readonly analysisBound: Gauge<'namespace' | 'checkpoint' | 'metric' | 'bound'>;
  readonly gateResultTotal: Counter<'stage' | 'verdict'>;
  readonly informerUp: Gauge<'resource'>;
  readonly leader: Gauge;
  readonly checkpointPhaseSeconds: Gauge<'namespace' | 'checkpoint' | 'phase'>;
  readonly prometheusQueryErrorsTotal: Counter<'error'>;
  readonly notificationsTotal: Counter<'event' | 'result'>;
  readonly notificationQueueDepth: Gauge;

  private checkpointCounter: CheckpointCounter | undefined;
  /** Metric names seen per checkpoint, so forgetCheckpoint can drop its series. */
  private readonly measured = new Map<string, Set<string>>();

  constructor(opts: OperatorMetricsOptions = {}) {
    this.registry = new Registry();
    if (opts.defaultLabels) this.registry.setDefaultLabels(opts.defaultLabels);
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.checkpointCounter = opts.checkpointsByPhase;
    const registers = [this.registry];
    // Defined area by area, in the order /metrics lists them.
    const reconcile = reconcileMetrics(registers);
    this.reconcileTotal = reconcile.reconcileTotal;
    this.reconcileErrorsTotal = reconcile.reconcileErrorsTotal;
    this.reconcileDuration = reconcile.reconcileDuration;
    // Runs at scrape time, after the constructor, so the counter is set.
    const rollout = rolloutMetrics(registers, (gauge) => this.collectCheckpoints(gauge));
    this.checkpoints = rollout.checkpoints;
    this.deploysTotal = rollout.deploysTotal;
    this.rollbacksTotal = rollout.rollbacksTotal;
    const queue = queueMetrics(registers);
    this.workqueueDepth = queue.workqueueDepth;
    this.workqueueWait = queue.workqueueWait;
    this.workqueueRetriesTotal = queue.workqueueRetriesTotal;
    this.conflictRetriesTotal = queue.conflictRetriesTotal;
    const gates = gateMetrics(registers);
    this.validationDuration = gates.validationDuration;
    this.analysisMeasurement = gates.analysisMeasurement;
    this.analysisBound = gates.analysisBound;
    this.analysisMeasurementsTotal = gates.analysisMeasurementsTotal;
    this.gateResultTotal = gates.gateResultTotal;
    const health = healthMetrics(registers, opts.phaseAges, opts.now ?? Date.now);
    this.informerUp = health.informerUp;
    this.checkpointPhaseSeconds = health.checkpointPhaseSeconds;
    this.leader = health.leader;
    this.notificationsTotal = new Counter({
      name: 'modelgate_notifications_total',
      help: 'Webhook notifications by event and result: delivered, retried (one failed attempt), failed (gave up), refused (forbidden address or bad config), dropped (queue full).',
      labelNames: ['event', 'result'] as const,
      registers,
    });
    this.notificationQueueDepth = new Gauge({
      name: 'modelgate_notification_queue_depth', help: 'Notifications waiting to be delivered.', registers,
    });
    this.prometheusQueryErrorsTotal = new Counter({
      name: 'modelgate_prometheus_query_errors_total',
      help: 'Live-guard queries to Prometheus that failed, by error (Unreachable, Timeout, ServerError, BadQuery).',
      labelNames: ['error'] as const,
      registers,
    });
  }

  /** Where modelgate_checkpoints{phase} reads its counts at scrape time. */
  setCheckpointCounter(fn: CheckpointCounter | undefined): void {
    this.checkpointCounter = fn;
  }

  /** Counts one reconcile and its duration; an 'error' result also counts as an error. */
  observeReconcile(result: ReconcileResult, seconds: number): void {
    this.reconcileTotal.inc({ result });
    if (result === 'error') this.reconcileErrorsTotal.inc();
    if (Number.isFinite(seconds) && seconds >= 0) this.reconcileDuration.observe(seconds);
  }

  /** Records one analysis measurement: the counter always, the gauge only for a finite value. */
  recordMeasurement(m: MeasurementSample): void {
    this.analysisMeasurementsTotal.inc({ metric: m.metric, phase: m.phase });
    if (m.value === undefined || !Number.isFinite(m.value)) return;
    this.analysisMeasurement.set({ namespace: m.namespace, checkpoint: m.checkpoint, metric: m.metric }, m.value);
    for (const bound of BOUNDS) {
      const v = m.bounds?.[bound];
      if (v !== undefined && Number.isFinite(v)) this.analysisBound.set({ namespace: m.namespace, checkpoint: m.checkpoint, metric: m.metric, bound }, v);
    }
    const key = `${m.namespace}/${m.checkpoint}`;
    let names = this.measured.get(key);
    if (!names) this.measured.set(key, (names = new Set()));
    names.add(m.metric);
  }

  /** Drops a checkpoint's per-checkpoint series (it was deleted or its analysis ended). */
  forgetCheckpoint(namespace: string, checkpoint: string): void {
    const key = `${namespace}/${checkpoint}`;
    for (const metric of this.measured.get(key) ?? []) {
      this.analysisMeasurement.remove({ namespace, checkpoint, metric });
      for (const bound of BOUNDS) this.analysisBound.remove({ namespace, checkpoint, metric, bound });
    }
    this.measured.delete(key);
  }

  /** The text exposition of every metric in this registry. */
  async render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private collectCheckpoints(gauge: Gauge<'phase'>): void {
    const fn = this.checkpointCounter;
    if (!fn) return;
    let counts: Partial<Record<string, number>> | ReadonlyMap<string, number>;
    try {
      counts = fn();
    } catch {
      // A scrape must not fail because the cache is not ready; the series keep their last values.
      return;
    }
    const get = (phase: string): number | undefined =>
      counts instanceof Map ? counts.get(phase) : (counts as Partial<Record<string, number>>)[phase];
    gauge.reset();
    // Every known phase gets a series (0 when empty), so dashboards and alerts see no gaps.
    for (const phase of PHASES) gauge.set({ phase }, get(phase) ?? 0);
  }
}
