// A Secret mounted as a volume (the serving pods' MODEL_CREDENTIALS_DIR): its keys are files.
// Read into the same key → value map the operator builds from the Secret object, so both sides
// go through credentialsFromSecret (secret.ts) and read the store alike.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';

/** The Secret's data from its mounted folder. Skips the kubelet's `..data` bookkeeping entries. */
export async function readSecretFolder(dir: string): Promise<Record<string, string>> {
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
