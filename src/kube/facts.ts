// A Deployment as the operator reads it, from the object the apiserver or the cache returned:
// the facts the phase machine decides on, its ReplicaSets' and pods' rollout facts, the claim
// annotation and which checkpoint it runs. Pure: it parses objects it is handed.
import { storeAccessFromEnv } from '../api/store-env.js';
import { ANNOTATIONS, DEFAULT_MODEL_ENV, DIGEST_ENV, type StoreAccess } from '../api/types.js';
import type { ContainerFacts, ContainerState, DeploymentCondition, PodFacts, ReplicaSetFacts } from '../controller/rollout.js';

export interface RawDeployment {
  metadata: { name: string; namespace: string; uid?: string; resourceVersion?: string; generation?: number; annotations?: Record<string, string> };
  spec?: {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string> };
    template?: { metadata?: { annotations?: Record<string, string> }; spec?: { containers?: Array<{ name: string; env?: Array<{ name: string; value?: string }> }> } };
  };
  status?: { observedGeneration?: number; updatedReplicas?: number; replicas?: number; conditions?: DeploymentCondition[] };
}

export interface RawReplicaSet {
  metadata: { name: string; uid: string; generation?: number; annotations?: Record<string, string>; ownerReferences?: Array<{ uid?: string }> };
  spec?: { replicas?: number; template?: { metadata?: { annotations?: Record<string, string> } } };
  status?: { replicas?: number; availableReplicas?: number; observedGeneration?: number };
}

interface RawContainerState {
  waiting?: { reason?: string; message?: string };
  running?: object;
  terminated?: { reason?: string; message?: string; exitCode?: number };
}

export interface RawPod {
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

export function podFacts(p: RawPod): PodFacts {
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

export const selectorOf = (labels: Record<string, string>): string => Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');

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

