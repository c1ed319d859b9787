// Objects the tests apply: an inference Deployment (the reference server's shape) and
// ModelCheckpoints built from generated ONNX files.
import type { ModelCheckpoint, ModelCheckpointSpec } from '../../src/api/types.js';
import type { ControlPlane } from './controlplane.js';
import type { WrittenFile } from './models.js';

/**
 * The reference server's Deployment shape. No replicas by default: the control plane of the
 * integration tests has no node, so a pod would stay Pending and a checkpoint would never be
 * Deployed (Deployed waits for every new pod to be available). With no replicas the real
 * Deployment controller still creates the new ReplicaSet and reports NewReplicaSetAvailable for
 * it, so the rollout is judged the same way; pods that do run (and fail) are tested on the real
 * node (test/e2e/rollout.test.ts).
 */
export function inferenceDeployment(name: string, opts: { container?: string; replicas?: number } = {}): Record<string, unknown> {
  const labels = { app: name };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels },
    spec: {
      replicas: opts.replicas ?? 0,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          containers: [{
            name: opts.container ?? 'server',
            image: 'modelgate:dev',
            command: ['node', 'dist/src/server/main.js'],
            env: [{ name: 'LOG_LEVEL', value: 'info' }],
            ports: [{ containerPort: 8080 }],
          }],
        },
      },
    },
  };
}

export function checkpoint(name: string, artifact: WrittenFile, spec: Partial<ModelCheckpointSpec> & { deployment?: string; container?: string } = {}): ModelCheckpoint {
  const { deployment, container, ...rest } = spec;
  return {
    apiVersion: 'modelgate.io/v1alpha1',
    kind: 'ModelCheckpoint',
    metadata: { name },
    spec: {
      model: 'ranker',
      version: name,
      artifact: { uri: artifact.uri, digest: artifact.digest, sizeBytes: artifact.sizeBytes },
      target: { deployment: deployment ?? 'ranker', container: container ?? 'server' },
      validation: { benchmark: { batchSizes: [1], warmupRuns: 1, runs: 3 } },
      ...rest,
    },
  };
}

/** kubectl apply of one or more objects into a namespace; throws with kubectl's message. */
export async function apply(cp: ControlPlane, namespace: string, ...objects: unknown[]): Promise<void> {
  const r = await cp.kubectl(['apply', '-n', namespace, '-f', '-'], objects.map((o) => JSON.stringify(o)).join('\n'));
  if (r.code !== 0) throw new Error(`kubectl apply failed: ${r.stderr}`);
}

export async function getJson<T>(cp: ControlPlane, namespace: string, ...what: string[]): Promise<T> {
  const r = await cp.kubectl(['get', ...what, '-n', namespace, '-o', 'json']);
  if (r.code !== 0) throw new Error(`kubectl get ${what.join(' ')} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
