// Reads and writes of ModelCheckpoints and the ConfigMaps the operator keeps for them. Every
// write carries the resourceVersion it was computed from, so a spec edit or another writer in
// between turns into 409 Conflict and the reconcile starts again from a fresh read.
import { API_VERSION, FINALIZER, KIND, type ModelCheckpoint, type ModelCheckpointStatus } from '../api/types.js';
import { paths, type KubeClient } from './client.js';
import type { WriteNotes } from './deployments.js';

export class Checkpoints {
  /** `notes` is told about every checkpoint a write returned (read-your-own-writes, cache.ts). */
  constructor(private readonly client: KubeClient, private readonly notes?: WriteNotes<ModelCheckpoint>) {}

  private async noted(write: Promise<ModelCheckpoint>): Promise<ModelCheckpoint> {
    const cp = await write;
    this.notes?.wrote(cp);
    return cp;
  }

  get(namespace: string, name: string): Promise<ModelCheckpoint | undefined> {
    return this.client.find<ModelCheckpoint>(paths.checkpoint(namespace, name));
  }

  list(namespace?: string): Promise<{ items: ModelCheckpoint[] }> {
    return this.client.get<{ items: ModelCheckpoint[] }>(paths.checkpoints(namespace));
  }

  /** Replaces status, conditional on the object's resourceVersion. */
  writeStatus(cp: ModelCheckpoint, status: ModelCheckpointStatus): Promise<ModelCheckpoint> {
    const ns = cp.metadata.namespace as string;
    const name = cp.metadata.name as string;
    return this.noted(this.client.put<ModelCheckpoint>(paths.checkpointStatus(ns, name), {
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: { name, namespace: ns, resourceVersion: cp.metadata.resourceVersion },
      status,
    }));
  }

  setFinalizer(cp: ModelCheckpoint, present: boolean): Promise<ModelCheckpoint> {
    const current = cp.metadata.finalizers ?? [];
    const finalizers = present ? [...new Set([...current, FINALIZER])] : current.filter((f) => f !== FINALIZER);
    return this.noted(this.client.patch<ModelCheckpoint>(paths.checkpoint(cp.metadata.namespace as string, cp.metadata.name as string), {
      metadata: { resourceVersion: cp.metadata.resourceVersion, finalizers },
    }, 'merge'));
  }

  /** Removes one annotation (e.g. a handled rollback request). */
  clearAnnotation(cp: ModelCheckpoint, key: string): Promise<ModelCheckpoint> {
    return this.noted(this.client.patch<ModelCheckpoint>(paths.checkpoint(cp.metadata.namespace as string, cp.metadata.name as string), {
      metadata: { resourceVersion: cp.metadata.resourceVersion, annotations: { [key]: null } },
    }, 'merge'));
  }

  setAnnotation(namespace: string, name: string, key: string, value: string): Promise<ModelCheckpoint> {
    return this.noted(this.client.patch<ModelCheckpoint>(paths.checkpoint(namespace, name), { metadata: { annotations: { [key]: value } } }, 'merge'));
  }

  /**
   * A ConfigMap owned by the checkpoint (garbage-collected with it), applied server-side.
   * Used for the full validation report.
   */
  async applyOwnedConfigMap(cp: ModelCheckpoint, name: string, data: Record<string, string>, labels: Record<string, string> = {}): Promise<void> {
    const ns = cp.metadata.namespace as string;
    await this.client.patch(paths.configMap(ns, name), {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name,
        namespace: ns,
        labels: { 'app.kubernetes.io/managed-by': 'modelgate', ...labels },
        ownerReferences: [{ apiVersion: API_VERSION, kind: KIND, name: cp.metadata.name, uid: cp.metadata.uid, controller: true, blockOwnerDeletion: false }],
      },
      data,
    }, 'apply', true);
  }

  async readConfigMap(namespace: string, name: string): Promise<Record<string, string> | undefined> {
    const cm = await this.client.find<{ data?: Record<string, string> }>(paths.configMap(namespace, name));
    return cm ? (cm.data ?? {}) : undefined;
  }

  /** A Secret's data, decoded; undefined when it does not exist. Callers never log the values. */
  async readSecret(namespace: string, name: string): Promise<Record<string, string> | undefined> {
    const secret = await this.client.find<{ data?: Record<string, string> }>(paths.secret(namespace, name));
    if (!secret) return undefined;
    return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  }

  /** A ConfigMap that outlives checkpoints (the audit trail of a target). */
  async applyConfigMap(namespace: string, name: string, data: Record<string, string>, labels: Record<string, string> = {}): Promise<void> {
    await this.client.patch(paths.configMap(namespace, name), {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'modelgate', ...labels } },
      data,
    }, 'apply', true);
  }
}
