// Everything the demo starts, in start order, and one stop() that takes it all down in reverse
// (also on Ctrl-C and on failure). Each stop has its own time limit, so one stuck part never
// keeps the rest running.
//
// The parts are the real ones: a control plane and a node (kubelet, containerd, runc, a pod
// network in a namespace of its own), the project's image built from the Dockerfile, the
// operator installed from deploy/ with kustomize (scripts/local) as two pods, a plain model store
// (for the Deployment made by hand), an S3 store that checks signatures (SeaweedFS) for the
// checkpoints, Prometheus and the load generator inside the pod network.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../test/harness/binaries.js';
import { ControlPlane } from '../../test/harness/controlplane.js';
import { ensureProjectImage } from '../../test/harness/image.js';
import { LocalNode } from '../../test/harness/node.js';
import type { PodNetworkLoad } from '../../test/harness/podnetwork.js';
import { freePort } from '../../test/harness/process.js';
import { startPodNetworkPrometheus, type PrometheusHandle } from '../../test/harness/prometheus.js';
import { startS3Store, type S3Store } from '../../test/harness/s3store.js';
import { startModelStore, type ModelStore } from '../../test/harness/store.js';
import type { PodWatcher } from './pods.js';
import type { WebhookReceiver } from './receiver.js';
import type { CheckpointWatcher } from './watch.js';

export const OPERATOR_NAMESPACE = 'modelgate-system';

export class Stack {
  cp?: ControlPlane;
  node?: LocalNode;
  store?: ModelStore;
  s3?: S3Store;
  prom?: PrometheusHandle;
  pods?: PodWatcher;
  load?: PodNetworkLoad;
  watcher?: CheckpointWatcher;
  receiver?: WebhookReceiver;
  /** Namespaces whose Deployments are deleted before the node stops (no 30 s drain). */
  readonly namespaces: string[] = [OPERATOR_NAMESPACE];
  private stopping?: Promise<void>;

  constructor(readonly workDir: string) {}

  /** The control plane, then a Ready node. */
  async startCluster(log: (line: string) => void): Promise<{ cp: ControlPlane; node: LocalNode }> {
    this.cp = new ControlPlane({ nodeControllers: true, log });
    await this.cp.start();
    this.node = new LocalNode(this.cp, { log });
    await this.node.start();
    return { cp: this.cp, node: this.node };
  }

  /** The image built from the Dockerfile (cached by its inputs), imported into containerd. */
  importImage(): string {
    const archive = ensureProjectImage();
    this.node!.importImage(archive);
    return archive;
  }

  async startStore(): Promise<ModelStore> {
    this.store = await startModelStore(this.node!, path.join(this.workDir, 'store'));
    return this.store;
  }

  /** SeaweedFS's S3 gateway on loopback, and the endpoint pods and the operator use (relayed into the pod network). */
  async startS3(): Promise<{ s3: S3Store; podEndpoint: string }> {
    this.s3 = await startS3Store();
    const podEndpoint = this.node!.relayToHost('demo-s3', await freePort(), Number(new URL(this.s3.endpoint).port));
    return { s3: this.s3, podEndpoint };
  }

  async startPrometheus(namespaces: string[]): Promise<PrometheusHandle> {
    this.prom = await startPodNetworkPrometheus({ cp: this.cp!, node: this.node! }, { scrapeInterval: 1, namespaces });
    return this.prom;
  }

  /** kubectl apply -k scripts/local, then waits for both operator pods. */
  async installOperator(): Promise<void> {
    const cp = this.cp!;
    const applied = await cp.kubectl(['apply', '--server-side', '--force-conflicts', '-k', path.join(repoRoot, 'scripts', 'local')]);
    if (applied.code !== 0) throw new Error(`kubectl apply -k scripts/local: ${applied.stderr.trim()}`);
    const rollout = await cp.kubectl(['-n', OPERATOR_NAMESPACE, 'rollout', 'status', 'deployment/modelgate-operator', '--timeout=300s']);
    if (rollout.code !== 0) {
      const logs = await cp.kubectl(['-n', OPERATOR_NAMESPACE, 'logs', '-l', 'app.kubernetes.io/component=operator', '--tail=20']);
      throw new Error(`the operator pods did not become Ready: ${rollout.stderr.trim()}\n${logs.stdout}`);
    }
  }

  /** Stops everything, newest first; keepWorkDir leaves the model files and logs for a look. */
  stop(opts: { keepWorkDir?: boolean } = {}): Promise<void> {
    this.stopping ??= (async () => {
      const step = async (what: string, fn: (() => Promise<unknown>) | undefined, ms = 20_000): Promise<void> => {
        if (!fn) return;
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([fn(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not stop within ${ms / 1000} s`)), ms)))]);
        } catch (err) {
          process.stderr.write(`demo: stopping ${what}: ${err instanceof Error ? err.message : String(err)}\n`);
        } finally {
          clearTimeout(timer);
        }
      };
      await step('the load generator', this.load && (() => this.load!.stop()));
      await step('the checkpoint watcher', this.watcher && (() => this.watcher!.stop()));
      await step('the pod watcher', this.pods && (() => this.pods!.stop()));
      // Deployments first, so the node's drain does not wait on pods they would recreate.
      await step('the Deployments', this.node && this.cp && (() => Promise.all(this.namespaces.map((ns) => this.cp!.kubectl(['-n', ns, 'delete', 'deployments', '--all', '--wait=false'])))));
      await step('the webhook receiver', this.receiver && (() => this.receiver!.stop()));
      await step('Prometheus', this.prom && (() => this.prom!.stop()));
      await step('the model store', this.store && (() => this.store!.stop()));
      await step('the S3 store', this.s3 && (() => this.s3!.stop()));
      await step('the node', this.node && (() => this.node!.stop()), 120_000);
      await step('the control plane', this.cp && (() => this.cp!.stop()));
      if (!opts.keepWorkDir) rmSync(this.workDir, { recursive: true, force: true, maxRetries: 3 });
    })();
    return this.stopping;
  }
}
