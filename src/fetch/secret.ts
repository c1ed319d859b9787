// What a Secret named by spec.artifact.secretRef (or the holdout dataset's) gives the fetcher.
// Pure: the caller reads the Secret (src/kube) and hands its decoded data here. Messages name the
// Secret and its keys, never a value.
import type { StoreCredentials } from './types.js';

export const SECRET_KEYS = {
  dockerConfig: '.dockerconfigjson',
  accessKeyId: 'AWS_ACCESS_KEY_ID',
  secretAccessKey: 'AWS_SECRET_ACCESS_KEY',
  sessionToken: 'AWS_SESSION_TOKEN',
  username: 'username',
  password: 'password',
  headers: 'headers',
  ca: 'ca.crt',
} as const;

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/** Credentials from a Secret's data, or a message saying what is wrong with it (no values). */
export function credentialsFromSecret(name: string, data: Record<string, string>): { ok: true; credentials: StoreCredentials } | { ok: false; message: string } {
  const c: StoreCredentials = { secretName: name };
  const K = SECRET_KEYS;
  if (data[K.dockerConfig] !== undefined) {
    const regs = parseDockerConfig(data[K.dockerConfig]!);
    if (!regs) return { ok: false, message: `Secret '${name}' key ${K.dockerConfig} is not a docker config with auths (username/password or auth per registry); recreate it with kubectl create secret docker-registry` };
    c.registries = regs;
  }
  if (data[K.accessKeyId] !== undefined || data[K.secretAccessKey] !== undefined) {
    if (!data[K.accessKeyId] || !data[K.secretAccessKey]) return { ok: false, message: `Secret '${name}' needs both ${K.accessKeyId} and ${K.secretAccessKey}` };
    c.s3 = { accessKeyId: data[K.accessKeyId]!.trim(), secretAccessKey: data[K.secretAccessKey]!.trim(), ...(data[K.sessionToken] ? { sessionToken: data[K.sessionToken]!.trim() } : {}) };
  }
  if (data[K.username] !== undefined || data[K.password] !== undefined) {
    if (data[K.username] === undefined || data[K.password] === undefined) return { ok: false, message: `Secret '${name}' needs both ${K.username} and ${K.password} for basic auth` };
    c.basic = { username: data[K.username]!, password: data[K.password]! };
  }
  if (data[K.headers] !== undefined) {
    const headers = parseHeaders(data[K.headers]!);
    if (typeof headers === 'string') return { ok: false, message: `Secret '${name}' key ${K.headers}: ${headers}` };
    c.headers = headers;
  }
  if (data[K.ca] !== undefined) {
    if (!data[K.ca]!.includes('-----BEGIN CERTIFICATE-----')) return { ok: false, message: `Secret '${name}' key ${K.ca} holds no PEM certificate` };
    c.ca = data[K.ca]!;
  }
  if (!c.registries && !c.s3 && !c.basic && !c.headers && !c.ca) {
    return { ok: false, message: `Secret '${name}' has none of the keys the fetcher reads (${Object.values(K).join(', ')})` };
  }
  return { ok: true, credentials: c };
}

function parseDockerConfig(text: string): StoreCredentials['registries'] | undefined {
  try {
    const j = JSON.parse(text) as { auths?: Record<string, { username?: string; password?: string; auth?: string }> };
    if (!j.auths || typeof j.auths !== 'object') return undefined;
    const out: NonNullable<StoreCredentials['registries']> = {};
    for (const [host, a] of Object.entries(j.auths)) {
      if (typeof a.username === 'string' && typeof a.password === 'string') out[host] = { username: a.username, password: a.password };
      else if (typeof a.auth === 'string') {
        const [u, p] = Buffer.from(a.auth, 'base64').toString('utf8').split(/:(.*)/s);
        if (u && p !== undefined) out[host] = { username: u, password: p };
      }
    }
    return Object.keys(out).length > 0 ? out : undefined;
  } catch {
    return undefined;
  }
}

/** "Name: value" a line; a message (no value) when a line is not a header. */
function parseHeaders(text: string): Record<string, string> | string {
  const out: Record<string, string> = {};
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  for (const [i, line] of lines.entries()) {
    const colon = line.indexOf(':');
    const key = colon > 0 ? line.slice(0, colon).trim() : '';
    if (!HEADER_NAME.test(key)) return `line ${i + 1} is not 'Name: value'`;
    if (['host', 'content-length', 'transfer-encoding', 'connection'].includes(key.toLowerCase())) return `header ${key} may not be set`;
    out[key.toLowerCase()] = line.slice(colon + 1).trim();
  }
  return out;
}
