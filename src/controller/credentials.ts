// The Secrets a checkpoint's artifact, holdout dataset and baseline name, read from the
// checkpoint's own namespace only (a SecretRef has no namespace field) and turned into fetcher
// credentials. Values stay in memory for the fetch; messages name the Secret and the field only.
import { REASON } from '../api/reasons.js';
import type { ModelCheckpoint, SecretRef } from '../api/types.js';
import { credentialsFromSecret } from '../fetch/secret.js';
import type { StoreCredentials } from '../fetch/types.js';
import type { BaselineRef, RequestCredentials } from '../validation/contract.js';

export type SecretRead = (namespace: string, name: string) => Promise<Record<string, string> | undefined>;

export type CredentialResult = { ok: true; credentials: RequestCredentials } | { ok: false; reason: string; message: string };

async function one(read: SecretRead, namespace: string, ref: SecretRef | undefined, field: string): Promise<{ ok: true; c?: StoreCredentials } | { ok: false; reason: string; message: string }> {
  if (!ref) return { ok: true };
  const data = await read(namespace, ref.name);
  if (!data) {
    return { ok: false, reason: REASON.SecretNotFound, message: `Secret '${ref.name}' named by ${field}.secretRef does not exist in namespace ${namespace}: create it there (a checkpoint reads Secrets only from its own namespace); the checkpoint resumes when it appears` };
  }
  const parsed = credentialsFromSecret(ref.name, data);
  if (!parsed.ok) return { ok: false, reason: REASON.InvalidSecret, message: `${parsed.message} (named by ${field}.secretRef); fix the Secret` };
  return { ok: true, c: parsed.credentials };
}

/** The credentials of every Secret the checkpoint (and its baseline) names, or why one cannot be had. */
export async function resolveCredentials(read: SecretRead, cp: ModelCheckpoint, baseline?: BaselineRef): Promise<CredentialResult> {
  const ns = cp.metadata.namespace as string;
  const candidate = await one(read, ns, cp.spec.artifact.secretRef, 'spec.artifact');
  if (!candidate.ok) return candidate;
  const dataset = await one(read, ns, cp.spec.validation?.holdout?.dataset.secretRef, 'spec.validation.holdout.dataset');
  if (!dataset.ok) return dataset;
  // The baseline is a checkpoint of the same namespace (the same Deployment): its Secret is there too.
  const base = await one(read, ns, baseline?.artifact.secretRef, `the baseline checkpoint ${baseline?.checkpoint ?? ''}'s spec.artifact`);
  if (!base.ok) return base;
  const credentials: RequestCredentials = {};
  if (candidate.c) credentials.candidate = candidate.c;
  if (dataset.c) credentials.dataset = dataset.c;
  if (base.c) credentials.baseline = base.c;
  return { ok: true, credentials };
}
