// The live guard's parts for the operator: a Prometheus client per URL, the analyzer, the
// audit trail, and the measurement metrics.
import { PrometheusAnalyzer } from '../controller/analyzer.js';
import { ConfigMapAudit } from '../controller/audit.js';
import { Checkpoints } from '../kube/checkpoints.js';
import type { KubeClient } from '../kube/client.js';
import { PrometheusClient } from '../monitor/prometheus.js';
import type { Logger } from '../observability/logger.js';
import type { OperatorMetrics } from '../observability/metrics.js';
import type { OperatorConfig } from './config.js';
import type { OperatorParts } from './operator.js';

export function liveGuard(cfg: Pick<OperatorConfig, 'prometheusUrl' | 'rollbackHistory'>, _log: Logger, metrics?: () => OperatorMetrics | undefined): Pick<OperatorParts, 'analyzer' | 'audit'> {
  const clients = new Map<string, PrometheusClient>();
  return {
    analyzer: () =>
      new PrometheusAnalyzer({
        defaultUrl: cfg.prometheusUrl,
        provider: (url) => {
          let c = clients.get(url);
          if (!c) clients.set(url, (c = new PrometheusClient({ url })));
          return c;
        },
        onMeasurement: (namespace, checkpoint, m) => metrics?.()?.recordMeasurement({ namespace, checkpoint, metric: m.metric, phase: m.phase, value: m.value }),
      }),
    audit: (client: KubeClient) => new ConfigMapAudit(new Checkpoints(client), Math.max(10, cfg.rollbackHistory * 4)),
  };
}
