// The audit trail of a target: one ConfigMap per Deployment (modelgate-audit-<deployment>),
// one entry per deploy or rollback — what, when, why, and the numbers at the time. It outlives
// the checkpoints, so a person can still see why production changed after they are gone.
import type { Checkpoints } from '../kube/checkpoints.js';
import type { AuditLog } from './deps.js';

export const auditConfigMapName = (deployment: string): string => `modelgate-audit-${deployment}`.slice(0, 253);

export class ConfigMapAudit implements AuditLog {
  constructor(
    private readonly checkpoints: Checkpoints,
    /** Entries kept per target. */
    private readonly keep = 50,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async record(namespace: string, deployment: string, entry: Record<string, unknown>): Promise<void> {
    const name = auditConfigMapName(deployment);
    const data = (await this.checkpoints.readConfigMap(namespace, name)) ?? {};
    // A retried reconcile may record the same step twice: the newest entry already says it.
    const newest = Object.keys(data).sort().at(-1);
    if (newest) {
      const last = JSON.parse(data[newest] as string) as Record<string, unknown>;
      if (['action', 'checkpoint', 'from', 'to', 'digest'].every((k) => last[k] === entry[k])) return;
    }
    // ConfigMap keys allow no ':'; the key is the ISO time with dots, the entry keeps the real one.
    let t = this.now().getTime();
    const keyAt = (ms: number): string => new Date(ms).toISOString().replace(/:/g, '.');
    while (data[keyAt(t)] !== undefined) t += 1;
    data[keyAt(t)] = JSON.stringify({ at: new Date(t).toISOString(), ...entry });
    const kept = Object.keys(data).sort().slice(-this.keep);
    // Server-side apply of the whole set: keys left out are pruned from the operator's own fields.
    await this.checkpoints.applyConfigMap(namespace, name, Object.fromEntries(kept.map((k) => [k, data[k] as string])), { 'modelgate.io/deployment': deployment });
  }
}
