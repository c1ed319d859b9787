// The live analysis's API: what spec.analysis asks (metrics, templates, args) and what
// status.analysis records (the resolved metrics, measurements, counters). Pure: types only.
import type { Direction, Severity, SeverityBands } from './spec.js';

export type AnalysisAction = 'Hold' | 'Rollback';

export interface AnalysisMetricSpec {
  name: string;
  /** PromQL, templated with {{model}}, {{version}}, {{namespace}}, {{deployment}}, {{checkpoint}}. */
  query: string;
  direction: Direction;
  /** Absolute bounds on the value. */
  min?: number;
  max?: number;
  /** Largest degradation relative to the baseline (fraction, e.g. 0.1 = 10% worse). */
  maxRelativeDegradation?: number;
  /** Explicit baseline query; default: `query` over the window before the rollout. */
  baselineQuery?: string;
  failureLimit?: number; // default 0
  inconclusiveLimit?: number; // default 3
  errorLimit?: number; // default 3
}

/** A template the analysis takes metrics from: a ModelAnalysisTemplate in the checkpoint's namespace, or a ClusterModelAnalysisTemplate. */
export interface AnalysisTemplateRef {
  name: string;
  /** true: the cluster-scoped ClusterModelAnalysisTemplate of that name (default false). */
  clusterScope?: boolean;
}

/** A value for a template argument, filled in where a template's query says {{args.<name>}}. */
export interface AnalysisArg {
  name: string;
  value: string;
}

export interface AnalysisSpec {
  /** One of the operator's Prometheus URLs (--prometheus-url, --prometheus-urls); any other stalls with PrometheusUrlNotAllowed. */
  prometheusUrl?: string;
  intervalSeconds?: number; // default 30
  initialDelaySeconds?: number; // default 0
  /** How long the guard watches before the checkpoint is Healthy (0 = watch forever). */
  durationSeconds?: number; // default 600
  baselineWindowSeconds?: number; // default 600
  /** Inline metrics; merged with the templates' (an inline metric replaces a template's of the same name). */
  metrics?: AnalysisMetricSpec[];
  /** Templates whose metrics the analysis uses, resolved when analysis starts. */
  templates?: AnalysisTemplateRef[];
  /** Values for the templates' args (shared by all referenced templates). */
  args?: AnalysisArg[];
  onInconclusive?: AnalysisAction; // default Hold
  onError?: AnalysisAction; // default Hold
  /** Severity bands for the CRITICAL fast path (default: the regression gate's bands). */
  bands?: SeverityBands;
}

export type MeasurementPhase = 'Successful' | 'Failed' | 'Inconclusive' | 'Error';

export interface Measurement {
  metric: string;
  phase: MeasurementPhase;
  at: string;
  query?: string;
  value?: number;
  baseline?: number;
  bound?: string;
  message?: string;
  severity?: Severity;
}

/** One template as it was when the analysis was resolved. */
export interface ResolvedTemplate {
  kind: 'ModelAnalysisTemplate' | 'ClusterModelAnalysisTemplate';
  name: string;
  /** The namespace of a ModelAnalysisTemplate (none for a cluster-scoped one). */
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  /** The argument values filled into its queries (the checkpoint's, else the template's defaults). */
  args?: AnalysisArg[];
  /** The metrics taken from it (a metric replaced by an inline one is not listed). */
  metrics: string[];
}

/**
 * The analysis as resolved when it started: the metrics after template args were filled in
 * (the {{model}}, {{version}}, ... placeholders stay: they are filled per measurement). The
 * analyzer uses this copy, so a template edited or deleted later changes nothing.
 */
export interface ResolvedAnalysis {
  resolvedAt: string;
  templates: ResolvedTemplate[];
  metrics: AnalysisMetricSpec[];
}

export interface AnalysisStatus {
  /** What the analysis measures, recorded when it started. */
  resolved?: ResolvedAnalysis;
  startedAt?: string;
  baseline?: Record<string, number>;
  /** Counters per metric. */
  counts?: Record<string, { successful: number; failed: number; inconclusive: number; error: number }>;
  measurements?: Measurement[];
  lastMeasuredAt?: string;
  decision?: string;
}
