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

    this.reconcileTotal = new Counter({
      name: 'modelgate_reconcile_total', help: 'Reconciles by result.', labelNames: ['result'] as const, registers,
    });
    this.reconcileErrorsTotal = new Counter({
      name: 'modelgate_reconcile_errors_total', help: 'Reconciles that ended in an error.', registers,
    });
    this.reconcileDuration = new Histogram({
      name: 'modelgate_reconcile_duration_seconds', help: 'Time one reconcile takes.', buckets: SECONDS_BUCKETS, registers,
    });
    this.checkpoints = new Gauge({
      name: 'modelgate_checkpoints',
      help: 'ModelCheckpoints by phase (from the informer cache, at scrape time).',
      labelNames: ['phase'] as const,
      registers,
      // Runs at scrape time, after the constructor, so this.checkpoints is set.
      collect: () => this.collectCheckpoints(this.checkpoints),
    });
    this.deploysTotal = new Counter({
      name: 'modelgate_deploys_total', help: 'Checkpoints deployed (Deployment patched).', registers,
    });
    this.rollbacksTotal = new Counter({
      name: 'modelgate_rollbacks_total', help: 'Rollbacks by reason.', labelNames: ['reason'] as const, registers,
    });
    this.workqueueDepth = new Gauge({
      name: 'modelgate_workqueue_depth', help: 'Items waiting in the work queue.', registers,
    });
    this.workqueueWait = new Histogram({
      name: 'modelgate_workqueue_queue_duration_seconds', help: 'How long a checkpoint waited in the work queue before a worker took it.', registers,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    });
    this.workqueueRetriesTotal = new Counter({
      name: 'modelgate_workqueue_retries_total', help: 'Items requeued with backoff.', registers,
    });
    this.conflictRetriesTotal = new Counter({
      name: 'modelgate_conflict_retries_total', help: 'Reconciles retried at once with a fresh read after a 409 Conflict.', registers,
    });
    this.validationDuration = new Histogram({
      name: 'modelgate_validation_duration_seconds',
      help: 'Time each validation stage takes.',
      labelNames: ['stage'] as const,
      buckets: VALIDATION_BUCKETS,
      registers,
    });
    this.analysisMeasurement = new Gauge({
      name: 'modelgate_analysis_measurement',
      help: 'Latest value the production guard measured for a checkpoint metric.',
      labelNames: ['namespace', 'checkpoint', 'metric'] as const,
      registers,
    });
    this.analysisBound = new Gauge({
      name: 'modelgate_analysis_bound',
      help: 'Bounds a checkpoint metric is judged against: bound="min", "max" (absolute) or "baseline" (the previous checkpoint).',
      labelNames: ['namespace', 'checkpoint', 'metric', 'bound'] as const,
      registers,
    });
    this.analysisMeasurementsTotal = new Counter({
      name: 'modelgate_analysis_measurements_total',
      help: 'Analysis measurements by metric and outcome.',
      labelNames: ['metric', 'phase'] as const,
      registers,
    });
    this.gateResultTotal = new Counter({
      name: 'modelgate_gate_result_total',
      help: 'Validation gate results by stage and verdict.',
      labelNames: ['stage', 'verdict'] as const,
      registers,
    });
    this.informerUp = new Gauge({
      name: 'modelgate_informer_up',
      help: '1 while the informer for a resource is synced and watching, else 0.',
      labelNames: ['resource'] as const,
      registers,
    });
    const phaseAges = opts.phaseAges;
    const now = opts.now ?? Date.now;
    this.checkpointPhaseSeconds = new Gauge({
      name: 'modelgate_checkpoint_phase_seconds',
      help: 'Seconds a checkpoint has been in its current phase, for phases it should pass through (Pending to Deployed).',
      labelNames: ['namespace', 'checkpoint', 'phase'] as const,
      registers,
      collect: () => {
        if (!phaseAges) return;
        let ages: ReturnType<PhaseAges>;
        try {
          ages = phaseAges();
        } catch {
          return;
        }
        this.checkpointPhaseSeconds.reset();
        for (const a of ages) {
          const t = Date.parse(a.since);
          if (Number.isFinite(t)) this.checkpointPhaseSeconds.set({ namespace: a.namespace, checkpoint: a.name, phase: a.phase }, Math.max(0, (now() - t) / 1000));
        }
      },
    });
    this.leader = new Gauge({
      name: 'modelgate_leader',
      help: '1 while this replica holds the leader Lease (or runs without leader election), else 0.',
      registers,
    });
    this.leader.set(0);
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
