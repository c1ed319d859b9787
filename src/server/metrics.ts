// The inference server's series on its own prom-client Registry (docs/inference-server.md lists
// them). Only a request the model was asked to answer moves the error series the live guard's
// error rate reads: a client's mistake is `invalid`, a refusal for load is `rejected`.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

type L = 'model' | 'version';

export interface Metrics {
  requests: Counter<L | 'outcome'>;
  errors: Counter<L | 'type'>;
  /** Requests refused before any work, by reason (busy: over MAX_CONCURRENT_INFERENCES). */
  rejected: Counter<L | 'reason'>;
  latency: Histogram<L>;
  score: Histogram<L>;
  impressions: Counter<L>;
  clicks: Counter<L>;
  conversions: Counter<L>;
  revenue: Counter<L>;
  cost: Counter<L>;
  ready: Gauge<L>;
}

export function makeMetrics(registry: Registry, labels: { model: string; version: string }): Metrics {
  const labelNames = ['model', 'version'] as const;
  const registers = [registry];
  const counter = (name: string, help: string) => new Counter({ name, help, labelNames, registers });
  const m: Metrics = {
    requests: new Counter({
      name: 'modelgate_inference_requests_total',
      help: 'Inference requests by outcome (success, invalid, error, not_ready).',
      labelNames: ['model', 'version', 'outcome'],
      registers,
    }),
    errors: new Counter({
      name: 'modelgate_inference_errors_total',
      help: 'Inference requests that failed, by type (invalid_request, not_ready, inference_failed).',
      labelNames: ['model', 'version', 'type'],
      registers,
    }),
    rejected: new Counter({
      name: 'modelgate_inference_rejected_total',
      help: 'Inference requests refused with 429 before any work, by reason (busy).',
      labelNames: ['model', 'version', 'reason'],
      registers,
    }),
    latency: new Histogram({
      name: 'modelgate_inference_request_duration_seconds',
      help: 'Time to answer an inference request, from the first byte read to the last byte written.',
      labelNames,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    score: new Histogram({
      name: 'modelgate_prediction_score',
      help: "Values of the model's first output (e.g. class probabilities).",
      labelNames,
      buckets: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1],
      registers,
    }),
    impressions: counter('modelgate_outcome_impressions_total', 'Impressions reported for this model version.'),
    clicks: counter('modelgate_outcome_clicks_total', 'Clicks reported for this model version.'),
    conversions: counter('modelgate_outcome_conversions_total', 'Conversions reported for this model version.'),
    revenue: counter('modelgate_outcome_revenue_total', 'Revenue reported for this model version (currency units).'),
    cost: counter('modelgate_outcome_cost_total', 'Cost (spend) reported for this model version (currency units).'),
    ready: new Gauge({ name: 'modelgate_model_ready', help: '1 when the model is loaded and its digest verified.', labelNames, registers }),
  };
  // Zero-valued series from the start, so rate() and ratios see the series before the first event.
  for (const c of [m.impressions, m.clicks, m.conversions, m.revenue, m.cost]) c.inc(labels, 0);
  for (const outcome of ['success', 'invalid', 'error', 'not_ready']) m.requests.inc({ ...labels, outcome }, 0);
  for (const type of ['invalid_request', 'not_ready', 'inference_failed']) m.errors.inc({ ...labels, type }, 0);
  m.rejected.inc({ ...labels, reason: 'busy' }, 0);
  m.ready.set(labels, 0);
  return m;
}
