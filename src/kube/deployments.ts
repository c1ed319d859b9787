// The target Deployment: what the operator reads of it and the only two writes it makes — the
// claim annotation (a compare-and-set on resourceVersion) and the model fields it owns (server-
// side apply under the operator's field manager: three env vars of one container, four
// annotations and, for a model in a store that needs them, the store env vars and the
// credentials Secret volume). It never creates, deletes or scales a Deployment.
import { storeAccessFromEnv, storeEnv } from '../api/store-env.js';
import { ANNOTATIONS, CREDENTIALS_MOUNT, CREDENTIALS_VOLUME, DEFAULT_MODEL_ENV, DIGEST_ENV, VERSION_ENV, type StoreAccess } from '../api/types.js';
import type { ContainerFacts, ContainerState, DeploymentCondition, PodFacts, ReplicaSetFacts } from '../controller/rollout.js';
import { ApiError, paths, type KubeClient } from './client.js';

interface RawDeployment {
  metadata: { name: string; namespace: string; uid?: string; resourceVersion?: string; generation?: number; annotations?: Record<string, string> };
  spec?: {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string> };
    template?: { metadata?: { annotations?: Record<string, string> }; spec?: { containers?: Array<{ name: string; env?: Array<{ name: string; value?: string }> }> } };
  };
  status?: { observedGeneration?: number; updatedReplicas?: number; replicas?: number; conditions?: DeploymentCondition[] };
}

interface RawReplicaSet {
  metadata: { name: string; uid: string; generation?: number; annotations?: Record<string, string>; ownerReferences?: Array<{ uid?: string }> };
  spec?: { replicas?: number; template?: { metadata?: { annotations?: Record<string, string> } } };
  status?: { replicas?: number; availableReplicas?: number; observedGeneration?: number };
}

interface RawContainerState {
  waiting?: { reason?: string; message?: string };
  running?: object;
  terminated?: { reason?: string; message?: string; exitCode?: number };
}

interface RawPod {
  metadata: { name: string; deletionTimestamp?: string; ownerReferences?: Array<{ uid?: string; controller?: boolean }> };
  status?: {
    phase?: string;
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
    containerStatuses?: Array<{ name: string; ready?: boolean; restartCount?: number; state?: RawContainerState; lastState?: RawContainerState }>;
  };
}

/** The ReplicaSets and pods behind a Deployment's rollout, as src/controller/rollout.ts judges them. */
export interface RolloutFacts {
  replicaSets: ReplicaSetFacts[];
  pods: PodFacts[];
}

export interface DeploymentFacts {
  namespace: string;
  name: string;
  uid?: string;
  resourceVersion?: string;
  generation: number;
  observedGeneration: number;
  /** deployment.kubernetes.io/revision, set by the Deployment controller. */
  revision?: string;
  annotations: Record<string, string>;
  containers: Array<{ name: string; env: Record<string, string> }>;
  /** spec.replicas (the API's default, 1, when unset). */
  replicas: number;
  /** spec.selector.matchLabels: finds the Deployment's ReplicaSets and pods. */
  selector: Record<string, string>;
  /** status.conditions (Progressing, Available). */
  conditions: DeploymentCondition[];
}

/** The model a Deployment should run, written into the fields the operator owns. */
export interface ModelRef {
  checkpoint: string;
  uid: string;
  version: string;
  uri: string;
  digest: string;
  /** How the pods reach the store: env vars and the Secret volume (none: removed). */
  access?: StoreAccess;
}

export function factsOf(obj: unknown): DeploymentFacts {
  const d = obj as RawDeployment;
  const annotations = d.metadata.annotations ?? {};
  return {
    namespace: d.metadata.namespace,
    name: d.metadata.name,
    uid: d.metadata.uid,
    resourceVersion: d.metadata.resourceVersion,
    generation: d.metadata.generation ?? 0,
    observedGeneration: d.status?.observedGeneration ?? 0,
    revision: annotations['deployment.kubernetes.io/revision'],
    annotations,
    containers: (d.spec?.template?.spec?.containers ?? []).map((c) => ({
      name: c.name,
      env: Object.fromEntries((c.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value as string])),
    })),
    replicas: d.spec?.replicas ?? 1,
    selector: d.spec?.selector?.matchLabels ?? {},
    conditions: (d.status?.conditions ?? []).map((c) => ({ type: c.type, status: c.status, ...(c.reason ? { reason: c.reason } : {}), ...(c.message ? { message: c.message } : {}) })),
  };
}

const stateOf = (s: RawContainerState['terminated'] | RawContainerState['waiting'] | undefined): ContainerState | undefined =>
  s ? { ...(s.reason ? { reason: s.reason } : {}), ...(s.message ? { message: s.message } : {}), ...('exitCode' in s && s.exitCode !== undefined ? { exitCode: s.exitCode } : {}) } : undefined;

function podFacts(p: RawPod): PodFacts {
  const scheduled = p.status?.conditions?.find((c) => c.type === 'PodScheduled');
  const containers: ContainerFacts[] = (p.status?.containerStatuses ?? []).map((c) => {
    const waiting = stateOf(c.state?.waiting);
    const terminated = stateOf(c.state?.terminated);
    const lastTerminated = stateOf(c.lastState?.terminated);
    return { name: c.name, ready: c.ready ?? false, restartCount: c.restartCount ?? 0, ...(waiting ? { waiting } : {}), ...(terminated ? { terminated } : {}), ...(lastTerminated ? { lastTerminated } : {}) };
  });
  const owner = p.metadata.ownerReferences?.find((o) => o.controller) ?? p.metadata.ownerReferences?.[0];
  return {
    name: p.metadata.name,
    ...(owner?.uid ? { ownerUid: owner.uid } : {}),
    ...(p.status?.phase ? { phase: p.status.phase } : {}),
    ready: p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    deleting: Boolean(p.metadata.deletionTimestamp),
    ...(scheduled?.status === 'False' ? { unschedulable: `${scheduled.reason ?? 'Unschedulable'}: ${scheduled.message ?? ''}`.trim() } : {}),
    containers,
  };
}

const selectorOf = (labels: Record<string, string>): string => Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');

/** The claim value: `<checkpoint name>/<uid>`. */
export const claimValue = (name: string, uid: string): string => `${name}/${uid}`;
/** The claim annotation read back (the one place it is parsed); undefined when unclaimed. */
export function claimOf(facts: DeploymentFacts): { name: string; uid: string } | undefined {
  const v = facts.annotations[ANNOTATIONS.claim];
  if (!v) return undefined;
  const at = v.lastIndexOf('/');
  return { name: v.slice(0, Math.max(0, at)), uid: v.slice(at + 1) };
}
export function claimUid(facts: DeploymentFacts): string | undefined {
  return claimOf(facts)?.uid;
}

/** Which checkpoint the Deployment runs according to the operator's own record on it. */
export function runningModel(facts: DeploymentFacts, container: string, modelEnv = DEFAULT_MODEL_ENV): Partial<ModelRef> & { envDigest?: string; envUri?: string } {
  const c = facts.containers.find((x) => x.name === container);
  return {
    access: storeAccessFromEnv(c?.env ?? {}),
    checkpoint: facts.annotations[ANNOTATIONS.checkpoint],
    uid: facts.annotations[ANNOTATIONS.checkpointUid],
    version: facts.annotations[ANNOTATIONS.version],
    digest: facts.annotations[ANNOTATIONS.digest],
    envDigest: c?.env[DIGEST_ENV],
    envUri: c?.env[modelEnv],
  };
}

/** Told about every object a write returned (the caches' read-your-own-writes, cache.ts). */
export interface WriteNotes<T> {
  wrote(obj: T): void;
}

export class Deployments {
  constructor(private readonly client: KubeClient, private readonly notes?: WriteNotes<DeploymentFacts>) {}

  private noted(facts: DeploymentFacts): DeploymentFacts {
    this.notes?.wrote(facts);
    return facts;
  }

  async read(namespace: string, name: string): Promise<DeploymentFacts | undefined> {
    const raw = await this.client.find<RawDeployment>(paths.deployment(namespace, name));
    return raw ? factsOf(raw) : undefined;
  }

  /**
   * Sets (or, with holder undefined, removes) the claim annotation, but only if the Deployment
   * is still at `resourceVersion`: a concurrent claimer gets 409 Conflict.
   */
  async setClaim(facts: DeploymentFacts, holder: string | undefined): Promise<DeploymentFacts> {
    const raw = await this.client.patch<RawDeployment>(paths.deployment(facts.namespace, facts.name), {
      metadata: { resourceVersion: facts.resourceVersion, annotations: { [ANNOTATIONS.claim]: holder ?? null } },
    }, 'merge');
    return this.noted(factsOf(raw));
  }

  /**
   * The Deployment's ReplicaSets and their pods (by its selector), read fresh: a rollout's
   * progress shows in pod and ReplicaSet status, which the Deployment itself reports late or not
   * at all (restart counts, waiting reasons).
   */
  async rolloutFacts(target: DeploymentFacts): Promise<RolloutFacts> {
    const q = Object.keys(target.selector).length > 0 ? `?labelSelector=${encodeURIComponent(selectorOf(target.selector))}` : '';
    const [rsList, podList] = await Promise.all([
      this.client.get<{ items: RawReplicaSet[] }>(`${paths.replicaSets(target.namespace)}${q}`),
      this.client.get<{ items: RawPod[] }>(`${paths.pods(target.namespace)}${q}`),
    ]);
    const replicaSets = rsList.items
      .filter((r) => r.metadata.ownerReferences?.some((o) => o.uid === target.uid))
      .map((r): ReplicaSetFacts => {
        const checkpointUid = r.spec?.template?.metadata?.annotations?.[ANNOTATIONS.checkpointUid];
        const revision = r.metadata.annotations?.['deployment.kubernetes.io/revision'];
        return {
          name: r.metadata.name,
          uid: r.metadata.uid,
          ...(checkpointUid ? { checkpointUid } : {}),
          ...(revision ? { revision } : {}),
          specReplicas: r.spec?.replicas ?? 0,
          replicas: r.status?.replicas ?? 0,
          availableReplicas: r.status?.availableReplicas ?? 0,
          observed: (r.status?.observedGeneration ?? 0) >= (r.metadata.generation ?? 0),
        };
      });
    const owners = new Set(replicaSets.map((r) => r.uid));
    return { replicaSets, pods: podList.items.map(podFacts).filter((p) => p.ownerUid !== undefined && owners.has(p.ownerUid)) };
  }

  /**
   * Removes the claim only while it still names `holder`: a JSON patch `test` is a compare-and-
   * set on that one annotation, so unrelated writers to the Deployment cannot make it fail.
   * Returns undefined when the claim is no longer `holder`'s (or is gone).
   */
  async releaseClaim(namespace: string, name: string, holder: string): Promise<DeploymentFacts | undefined> {
    const path = `/metadata/annotations/${ANNOTATIONS.claim.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    try {
      return this.noted(factsOf(await this.client.patch<RawDeployment>(paths.deployment(namespace, name), [{ op: 'test', path, value: holder }, { op: 'remove', path }], 'json')));
    } catch (err) {
      if (err instanceof ApiError && (err.status === 422 || err.status === 409 || err.status === 404 || err.status === 500)) return undefined;
      throw err;
    }
  }

  /**
   * Server-side apply of the owned fields, the same field set every time so nothing is left
   * behind, conditional on `resourceVersion` (the version whose claim was checked).
   * `rolledBackFrom` marks a rollback on the Deployment itself, so a restart can tell a
   * finished rollback from a newer checkpoint taking over.
   */
  async applyModel(target: DeploymentFacts, container: string, model: ModelRef, modelEnv = DEFAULT_MODEL_ENV, rolledBackFrom = ''): Promise<DeploymentFacts> {
    const { namespace, name } = target;
    const secret = model.access?.secretRef?.name;
    const marks = {
      [ANNOTATIONS.checkpoint]: model.checkpoint,
      [ANNOTATIONS.checkpointUid]: model.uid,
      [ANNOTATIONS.version]: model.version,
      [ANNOTATIONS.digest]: model.digest,
    };
    const body = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace, resourceVersion: target.resourceVersion, annotations: { ...marks, [ANNOTATIONS.rolledBackFrom]: rolledBackFrom } },
      spec: {
        template: {
          metadata: { annotations: marks },
          spec: {
            containers: [{
              name: container,
              env: [
                { name: modelEnv, value: model.uri },
                { name: DIGEST_ENV, value: model.digest },
                { name: VERSION_ENV, value: model.version },
                ...storeEnv(model.access),
              ],
              // Server-side apply removes what this manager owned and no longer sends: a model
              // without a Secret leaves no mount of the previous model's Secret behind.
              ...(secret ? { volumeMounts: [{ name: CREDENTIALS_VOLUME, mountPath: CREDENTIALS_MOUNT, readOnly: true }] } : {}),
            }],
            ...(secret ? { volumes: [{ name: CREDENTIALS_VOLUME, secret: { secretName: secret } }] } : {}),
          },
        },
      },
    };
    const raw = await this.client.patch<RawDeployment>(paths.deployment(namespace, name), body, 'apply', true);
    return this.noted(factsOf(raw));
  }
}
