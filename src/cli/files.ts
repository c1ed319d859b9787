// Local files for the CLI: streaming sha256 digests, path-or-URI inputs, and manifests.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { API_VERSION, KIND, type ModelCheckpointSpec, type ObjectMeta } from '../api/types.js';
import { UsageError } from './errors.js';

export const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

export interface FileDigest {
  digest: string;
  sizeBytes: number;
}

/** sha256 and size of a file, read as a stream; `onBytes` sees the running byte count. */
export async function digestFile(file: string, onBytes?: (bytes: number) => void): Promise<FileDigest> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file)) {
    const buf = chunk as Buffer;
    hash.update(buf);
    size += buf.length;
    onBytes?.(size);
  }
  return { digest: `sha256:${hash.digest('hex')}`, sizeBytes: size };
}

/** An existing regular file, or a usage error naming the flag. */
export async function existingFile(file: string, what: string): Promise<{ path: string; size: number }> {
  const abs = path.resolve(file);
  const st = await stat(abs).catch(() => undefined);
  if (!st) throw new UsageError(`the ${what} ${abs} does not exist: check the path.`);
  if (!st.isFile()) throw new UsageError(`the ${what} ${abs} is not a regular file: point it at the file itself.`);
  return { path: abs, size: st.size };
}

export function isUri(value: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(value);
}

export function fileUri(abs: string): string {
  return pathToFileURL(abs).href;
}

/** The local path of a file:// URI, or undefined for other schemes. */
export function localPathOf(uri: string): string | undefined {
  if (!uri.startsWith('file:')) return undefined;
  try {
    return fileURLToPath(uri);
  } catch {
    throw new UsageError(`the URI ${uri} is not a valid local file:// URI: use file:///absolute/path.`);
  }
}

export function bytesText(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** The first ModelCheckpoint in a YAML or JSON file (several documents allowed). */
/** A ModelCheckpoint manifest as read from a file: every part optional. */
export interface CheckpointManifest {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: Partial<ModelCheckpointSpec>;
}

export async function readCheckpointManifest(file: string, flag: string): Promise<CheckpointManifest> {
  const { path: abs } = await existingFile(file, `${flag} manifest`);
  const text = await readFile(abs, 'utf8');
  let docs: unknown[];
  try {
    const parsed = parseAllDocuments(text);
    const list = Array.isArray(parsed) ? parsed : [parsed];
    const bad = list.find((d) => d.errors.length > 0);
    if (bad) throw new Error(bad.errors[0]!.message.split('\n')[0]);
    docs = list.map((d) => d.toJS() as unknown);
  } catch (err) {
    throw new UsageError(`the ${flag} manifest ${abs} is not valid YAML (${(err as Error).message}): fix the file.`);
  }
  const objects = docs.filter((d): d is Record<string, unknown> => typeof d === 'object' && d !== null && !Array.isArray(d));
  const cp = objects.find((d) => d.kind === KIND) ?? (objects.length === 1 && objects[0]!.kind === undefined ? objects[0] : undefined);
  if (!cp) throw new UsageError(`the ${flag} manifest ${abs} holds no ${KIND}: give a file with kind: ${KIND}.`);
  if (cp.apiVersion !== undefined && cp.apiVersion !== API_VERSION) {
    throw new UsageError(`the ${flag} manifest ${abs} has apiVersion ${String(cp.apiVersion)}: this CLI reads ${API_VERSION}.`);
  }
  if (cp.spec !== undefined && (typeof cp.spec !== 'object' || cp.spec === null || Array.isArray(cp.spec))) {
    throw new UsageError(`the ${flag} manifest ${abs} has a spec that is not a mapping: fix the file.`);
  }
  return cp as CheckpointManifest;
}
