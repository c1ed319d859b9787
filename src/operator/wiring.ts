// The live guard's parts for the operator: a Prometheus client per URL, the analyzer, the
// audit trail, and the measurement metrics.
import { PrometheusAnalyzer } from '../monitor/guard.js';
import { ConfigMapAudit } from '../controller/audit.js';
import { Checkpoints } from '../kube/checkpoints.js';
import type { KubeClient } from '../kube/client.js';
import { PrometheusClient, PrometheusUrlPolicy, type MetricProvider } from '../monitor/prometheus.js';
import { DestinationGuard } from '../validation/fetch.js';
import type { Logger } from '../observability/logger.js';
import type { OperatorMetrics } from '../observability/metrics.js';
import type { OperatorConfig } from './config.js';
import type { OperatorParts } from './operator.js';

type LiveGuardConfig = Pick<OperatorConfig, 'prometheusUrl' | 'rollbackHistory'>
  & Partial<Pick<OperatorConfig, 'prometheusUrls' | 'prometheusTimeoutMs' | 'prometheusMaxResponseBytes' | 'trustedHosts'>>;

export function liveGuard(cfg: LiveGuardConfig, _log: Logger, metrics?: () => OperatorMetrics | undefined): Pick<OperatorParts, 'analyzer' | 'audit'> {
  const clients = new Map<string, MetricProvider>();
  // Only the URLs the operator was started with; a checkpoint naming another holds (monitor/guard.ts).
  const urls = new PrometheusUrlPolicy([cfg.prometheusUrl, ...(cfg.prometheusUrls ?? [])]);
  // A redirect away from those URLs passes the artifact fetcher's address policy or is refused.
  const guard = new DestinationGuard(cfg.trustedHosts ?? []);
  return {
    analyzer: () =>
      new PrometheusAnalyzer({
        defaultUrl: cfg.prometheusUrl,
        urls,
        provider: (url) => {
          if (!urls.allows(url)) throw new Error(`Prometheus URL ${url} is not one the operator was started with`);
          let c = clients.get(url);
          if (!c) {
            const client = new PrometheusClient({ url, allowedUrls: urls.urls, guard, timeoutMs: cfg.prometheusTimeoutMs, maxResponseBytes: cfg.prometheusMaxResponseBytes });
            clients.set(url, (c = countingErrors(client, metrics)));
          }
          return c;
        },
        onMeasurement: (namespace, checkpoint, m, spec) => metrics?.()?.recordMeasurement({
          namespace, checkpoint, metric: m.metric, phase: m.phase, value: m.value, bounds: { min: spec.min, max: spec.max, baseline: m.baseline },
        }),
      }),
    audit: (client: KubeClient) => new ConfigMapAudit(new Checkpoints(client), Math.max(10, cfg.rollbackHistory * 4)),
  };
}

/** A provider that counts its failed queries in modelgate_prometheus_query_errors_total{error}. */
export function countingErrors(provider: MetricProvider, metrics?: () => OperatorMetrics | undefined): MetricProvider {
  return {
    measure: async (...args: Parameters<MetricProvider['measure']>) => {
      const r = await provider.measure(...args);
      if (r.kind === 'error') metrics?.()?.prometheusQueryErrorsTotal.inc({ error: r.errorType });
      return r;
    },
  };
}
