// Notifications, the I/O part: a bounded queue drained by one background loop, so a reconcile
// only enqueues and never waits. Each delivery reads the namespace's configuration afresh (the
// ConfigMap modelgate-notifications and the Secret it names, both in the checkpoint's own
// namespace), vets the URL with the fetcher's DestinationGuard, POSTs with retries and backoff,
// and is counted in modelgate_notifications_total. Secret values are never logged.
import http from 'node:http';
import https from 'node:https';
import type { LookupAddress } from 'node:dns';
import type { Checkpoints } from '../kube/checkpoints.js';
import type { Logger } from '../observability/logger.js';
import type { OperatorMetrics } from '../observability/metrics.js';
import type { DestinationGuard } from '../validation/fetch.js';
import {
  NOTIFICATION_CONFIGMAP, NotificationConfigError, parseNotificationConfig, renderBody, retryDelayMs,
  type Notification, type NotificationConfig,
} from './payload.js';

export interface NotificationSettings {
  config: NotificationConfig;
  url: string;
  token?: string;
}

/** Where a namespace's notification settings come from; undefined when it has none. */
export interface NotificationSettingsSource {
  read(namespace: string): Promise<NotificationSettings | undefined>;
}

/** The ConfigMap and the Secret in the checkpoint's namespace (never another namespace). */
export class KubeNotificationSettings implements NotificationSettingsSource {
  constructor(private readonly checkpoints: Checkpoints) {}

  async read(namespace: string): Promise<NotificationSettings | undefined> {
    const data = await this.checkpoints.readConfigMap(namespace, NOTIFICATION_CONFIGMAP);
    if (!data) return undefined;
    const config = parseNotificationConfig(data);
    const secret = await this.checkpoints.readSecret(namespace, config.secretName);
    if (!secret) throw new NotificationConfigError(`the Secret ${config.secretName} named by ConfigMap ${NOTIFICATION_CONFIGMAP} data.secret does not exist in namespace ${namespace}`);
    const url = secret[config.urlKey]?.trim();
    if (!url) throw new NotificationConfigError(`the Secret ${config.secretName} has no key '${config.urlKey}' holding the webhook URL`);
    const token = secret[config.tokenKey]?.trim();
    return token ? { config, url, token } : { config, url };
  }
}

export interface NotifierOptions {
  settings: NotificationSettingsSource;
  guard: DestinationGuard;
  log: Logger;
  metrics?: OperatorMetrics;
  /** Most notifications waiting; more are dropped and counted (default 100). */
  maxQueue?: number;
  /** Tries per notification (default 5). */
  attempts?: number;
  backoffMs?: number; // default 1000
  maxBackoffMs?: number; // default 60000
  timeoutMs?: number; // default 10000
}

class RetryableDelivery extends Error {
  constructor(message: string, readonly retryAfterMs?: number) {
    super(message);
  }
}

export class Notifier {
  private readonly queue: Notification[] = [];
  private readonly maxQueue: number;
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly timeoutMs: number;
  private running: Promise<void> | undefined;
  private readonly stopping = new AbortController();

  constructor(private readonly o: NotifierOptions) {
    this.maxQueue = o.maxQueue ?? 100;
    this.attempts = o.attempts ?? 5;
    this.backoffMs = o.backoffMs ?? 1000;
    this.maxBackoffMs = o.maxBackoffMs ?? 60_000;
    this.timeoutMs = o.timeoutMs ?? 10_000;
  }

  /** Queues a notification and returns at once; false when the queue is full (it is dropped). */
  notify(n: Notification): boolean {
    if (this.stopping.signal.aborted) return false;
    if (this.queue.length >= this.maxQueue) {
      this.o.metrics?.notificationsTotal.inc({ event: n.event, result: 'dropped' });
      this.o.log.warn('notification dropped: the queue is full', { namespace: n.checkpoint.namespace, name: n.checkpoint.name, event: n.event, queue: this.queue.length });
      return false;
    }
    this.queue.push(n);
    this.o.metrics?.notificationQueueDepth.set(this.queue.length);
    this.running ??= this.drain().finally(() => (this.running = undefined));
    return true;
  }

  /** Resolves once every queued notification was delivered or given up (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Stops: the delivery in flight is abandoned, the queue is dropped. */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.queue.length = 0;
    this.o.metrics?.notificationQueueDepth.set(0);
    await this.running?.catch(() => undefined);
  }

  private async drain(): Promise<void> {
    for (;;) {
      const n = this.queue.shift();
      this.o.metrics?.notificationQueueDepth.set(this.queue.length);
      if (!n || this.stopping.signal.aborted) return;
      await this.deliver(n).catch((err: unknown) => this.o.log.error('notification loop failed', { error: err instanceof Error ? err.message : String(err) }));
    }
  }

  private async deliver(n: Notification): Promise<void> {
    const fields = { namespace: n.checkpoint.namespace, name: n.checkpoint.name, event: n.event };
    const count = (result: string): void => this.o.metrics?.notificationsTotal.inc({ event: n.event, result });
    let settings: NotificationSettings | undefined;
    let target: { url: URL; address: LookupAddress };
    try {
      settings = await this.o.settings.read(n.checkpoint.namespace);
      if (!settings || !settings.config.events.includes(n.event)) return;
      let url: URL;
      try {
        url = new URL(settings.url);
      } catch {
        throw new NotificationConfigError(`the webhook URL in Secret ${settings.config.secretName} key '${settings.config.urlKey}' is not a valid URL`);
      }
      target = { url, address: await this.o.guard.vet(url, 'notification') };
    } catch (err) {
      count('refused');
      this.o.log.warn('notification not sent', { ...fields, error: err instanceof Error ? err.message : String(err) });
      return;
    }
    const body = renderBody(n, settings.config.format);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.post(target.url, target.address, body, settings.token);
        count('delivered');
        this.o.log.info('notification delivered', { ...fields, host: target.url.host, attempt });
        return;
      } catch (err) {
        const retryable = err instanceof RetryableDelivery;
        const message = err instanceof Error ? err.message : String(err);
        if (!retryable || attempt >= this.attempts || this.stopping.signal.aborted) {
          count('failed');
          this.o.log.warn('notification failed', { ...fields, host: target.url.host, attempt, error: message });
          return;
        }
        count('retried');
        const delay = retryDelayMs(attempt, this.backoffMs, this.maxBackoffMs, (err as RetryableDelivery).retryAfterMs);
        this.o.log.info('notification will be retried', { ...fields, host: target.url.host, attempt, delayMs: delay, error: message });
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, delay);
          this.stopping.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
        });
      }
    }
  }

  /** One POST to the vetted address (the socket connects to exactly it). */
  private post(url: URL, address: LookupAddress, body: string, token: string | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const mod = url.protocol === 'https:' ? https : http;
      const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'modelgate-operator', 'content-length': String(Buffer.byteLength(body)) };
      if (token) headers.authorization = `Bearer ${token}`;
      const req = mod.request(url, {
        method: 'POST',
        agent: false,
        headers,
        signal: AbortSignal.any([this.stopping.signal, AbortSignal.timeout(this.timeoutMs)]),
        lookup: (_host: string, opts: { all?: boolean }, cb: (err: Error | null, a: string | LookupAddress[], family?: number) => void) =>
          opts.all ? cb(null, [address]) : cb(null, address.address, address.family),
      } as http.RequestOptions, (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) return resolve();
        if (status >= 500 || status === 429 || status === 408) {
          const ra = Number(res.headers['retry-after']);
          return reject(new RetryableDelivery(`HTTP ${status}`, Number.isFinite(ra) && ra >= 0 ? ra * 1000 : undefined));
        }
        reject(new Error(`HTTP ${status}: the receiver refused the notification`));
      });
      req.on('error', (err) => reject(new RetryableDelivery((err as NodeJS.ErrnoException).code ?? err.message)));
      req.end(body);
    });
  }
}
