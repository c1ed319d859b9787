// The demo's view of the inference pods: real Pods on the local node, read from the apiserver
// every second. Says which model version each Ready pod serves (the MODEL_VERSION the operator
// wrote into its template), calls back when a version starts taking traffic, and keeps the order
// in which versions took it.
import type { ControlPlane } from '../../test/harness/controlplane.js';

interface PodJson {
  metadata: { name: string; deletionTimestamp?: string; creationTimestamp?: string };
  spec: { containers: Array<{ name: string; env?: Array<{ name: string; value?: string }> }> };
  status: { podIP?: string; conditions?: Array<{ type: string; status: string; lastTransitionTime?: string }> };
}

export interface ServingPod {
  name: string;
  ip: string;
  version: string;
  /** When the watcher first saw it Ready (ms since epoch). */
  servingAt: number;
}

export class PodWatcher {
  private timer?: NodeJS.Timeout;
  private ready = new Map<string, ServingPod>();
  private served: string[] = [];
  private stopped = false;

  constructor(
    private readonly cp: ControlPlane,
    private readonly namespace: string,
    private readonly selector: string,
    private readonly container: string,
    private readonly onServe: (pod: ServingPod) => void,
  ) {}

  start(): void {
    const tick = async (): Promise<void> => {
      if (this.stopped) return;
      await this.poll().catch(() => undefined);
      if (!this.stopped) this.timer = setTimeout(() => void tick(), 1000);
    };
    void tick();
  }

  private async poll(): Promise<void> {
    const r = await this.cp.kubectl(['get', 'pods', '-n', this.namespace, '-l', this.selector, '-o', 'json']);
    if (r.code !== 0) return;
    const now = Date.now();
    const next = new Map<string, ServingPod>();
    for (const p of (JSON.parse(r.stdout) as { items: PodJson[] }).items) {
      const isReady = !p.metadata.deletionTimestamp && p.status.podIP && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      if (!isReady) continue;
      const env = p.spec.containers.find((c) => c.name === this.container)?.env ?? [];
      const version = env.find((e) => e.name === 'MODEL_VERSION')?.value ?? 'unknown';
      const known = this.ready.get(p.metadata.name);
      const pod = known ?? { name: p.metadata.name, ip: p.status.podIP!, version, servingAt: now };
      next.set(pod.name, pod);
      if (!known) {
        if (this.served.at(-1) !== version) this.served.push(version);
        this.onServe(pod);
      }
    }
    this.ready = next;
  }

  /** The Ready pods now. */
  pods(): ServingPod[] {
    return [...this.ready.values()];
  }

  /** Resolves once every Ready pod serves `version` (the rollout to it is complete). */
  async waitForVersion(version: string, timeoutMs: number): Promise<ServingPod> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const pods = this.pods();
      if (pods.length > 0 && pods.every((p) => p.version === version)) return pods[0]!;
      if (Date.now() > deadline) throw new Error(`no pod served ${version} alone within ${timeoutMs / 1000} s (Ready: ${pods.map((p) => `${p.name}=${p.version}`).join(', ') || 'none'})`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Versions in the order they took traffic. */
  history(): string[] {
    return [...this.served];
  }

  stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    return Promise.resolve();
  }
}
