// Kubernetes Events (events.k8s.io/v1) for every decision, so `kubectl describe` and
// `kubectl get events` tell the story. Repeats of the same event within a minute are dropped.
import { paths, type KubeClient } from './client.js';
import { TokenBucket } from './rate-limit.js';

export interface Regarding {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
  resourceVersion?: string;
}

export type EventType = 'Normal' | 'Warning';

export class EventRecorder {
  private readonly recent = new Map<string, number>();
  /**
   * Events have a budget of their own, as client-go's event broadcaster does, so the audit
   * trail never slows status writes and deploys under the client's QPS limit.
   */
  private readonly limiter = new TokenBucket(10, 100);

  constructor(
    private readonly client: KubeClient,
    private readonly controller: string,
    private readonly instance: string,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  /** Fire and forget: an Event that cannot be written never fails the reconcile. */
  emit(regarding: Regarding, type: EventType, reason: string, action: string, note: string): void {
    const key = `${regarding.uid ?? regarding.name}/${reason}/${note}`;
    const now = Date.now();
    const last = this.recent.get(key);
    if (last !== undefined && now - last < 60_000) return;
    this.recent.set(key, now);
    if (this.recent.size > 5000) {
      for (const [k, t] of this.recent) if (now - t > 60_000) this.recent.delete(k);
    }
    const eventTime = new Date(now).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
    const body = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      // client-go's naming: <object>.<hex time>; a generateName ending in '.' is refused.
      metadata: { name: `${regarding.name}.${(BigInt(now) * 1_000_000n + BigInt(Math.floor(Math.random() * 1e6))).toString(16)}`, namespace: regarding.namespace },
      eventTime,
      reportingController: this.controller,
      reportingInstance: this.instance,
      action,
      reason,
      type,
      note: note.length > 1000 ? `${note.slice(0, 999)}…` : note,
      regarding,
    };
    this.client.request('POST', paths.events(regarding.namespace), { body, limiter: this.limiter }).catch(this.onError);
  }
}
