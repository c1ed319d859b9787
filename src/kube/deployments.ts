// The target Deployment: what the operator reads of it and the only two writes it makes — the
// claim annotation (a compare-and-set on resourceVersion) and the model fields it owns (server-
// side apply under the operator's field manager: three env vars of one container, four
// annotations and, for a model in a store that needs them, the store env vars and the
// credentials Secret volume). It never creates, deletes or scales a Deployment.
import { storeEnv } from '../api/store-env.js';
import { ANNOTATIONS, CREDENTIALS_MOUNT, CREDENTIALS_VOLUME, DEFAULT_MODEL_ENV, DIGEST_ENV, VERSION_ENV } from '../api/types.js';
import type { ReplicaSetFacts } from '../controller/rollout.js';
import { ApiError, paths, type KubeClient } from './client.js';
import { claimOf, claimUid, claimValue, factsOf, podFacts, runningModel, selectorOf, type DeploymentFacts, type ModelRef, type RawDeployment, type RawPod, type RawReplicaSet, type RolloutFacts } from './facts.js';

export { claimOf, claimUid, claimValue, factsOf, runningModel, type DeploymentFacts, type ModelRef, type RolloutFacts };

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
