// A Secret mounted as a volume (the serving pods' MODEL_CREDENTIALS_DIR): its keys are files.
// Read into the same key → value map the operator builds from the Secret object, so both sides
// go through credentialsFromSecret (secret.ts) and read the store alike.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { REASON } from '../api/reasons.js';
import { credentialsFromSecret } from './secret.js';
import type { StoreCredentials } from './types.js';

/** The Secret's data from its mounted folder. Skips the kubelet's `..data` bookkeeping entries. */
async function readSecretFolder(dir: string): Promise<Record<string, string>> {
  const data: Record<string, string> = {};
  for (const name of await readdir(dir)) {
    if (name.startsWith('..')) continue;
    const file = path.join(dir, name);
    // Keys are symlinks into ..data; stat follows them.
    if (!(await stat(file)).isFile()) continue;
    data[name] = await readFile(file, 'utf8');
  }
  return data;
}

/** A mounted Secret as credentials, or why not: the folder cannot be read (`detail` the error code), or its keys are unusable. */
export type MountedSecret =
  | { ok: true; credentials: StoreCredentials }
  | { ok: false; reason: typeof REASON.SecretNotFound | typeof REASON.InvalidSecret; detail: string };

/** Secret `name` mounted at `dir`, read by the same rules as the operator reads the Secret object. */
export async function readMountedSecret(name: string, dir: string): Promise<MountedSecret> {
  let data: Record<string, string>;
  try {
    data = await readSecretFolder(dir);
  } catch (err) {
    return { ok: false, reason: REASON.SecretNotFound, detail: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
  }
  const parsed = credentialsFromSecret(name, data);
  return parsed.ok ? { ok: true, credentials: parsed.credentials } : { ok: false, reason: REASON.InvalidSecret, detail: parsed.message };
}
