// Parsing of oci:// references and of what a registry answers (pure): the reference, the
// WWW-Authenticate challenge, the manifest and the choice of the model's blob in it.

export interface OciReference {
  /** registry host[:port] */
  registry: string;
  repository: string;
  /** A tag or a sha256:<hex> manifest digest. */
  reference: string;
}

const REPO_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/** oci://registry[:port]/repository(:tag|@sha256:...) → its parts. Throws an Error saying what is wrong. */
export function parseOciUri(uri: URL): OciReference {
  if (uri.username || uri.password || uri.search || uri.hash) throw new Error('an oci:// URI carries no user, query or fragment (credentials come from the Secret)');
  const registry = uri.host;
  if (!registry) throw new Error('the URI names no registry (oci://registry/repository:tag)');
  const p = decodeURIComponent(uri.pathname.replace(/^\//, ''));
  let repository: string;
  let reference: string;
  const at = p.indexOf('@');
  if (at >= 0) {
    repository = p.slice(0, at);
    reference = p.slice(at + 1);
    if (!DIGEST_RE.test(reference)) throw new Error(`'${reference}' is not a sha256:<64 hex> manifest digest`);
  } else {
    const colon = p.lastIndexOf(':');
    if (colon < 0 || colon < p.lastIndexOf('/')) throw new Error('the URI names no tag or digest (oci://registry/repository:tag or @sha256:...)');
    repository = p.slice(0, colon);
    reference = p.slice(colon + 1);
    if (!TAG_RE.test(reference)) throw new Error(`'${reference}' is not a valid tag`);
  }
  if (!REPO_RE.test(repository)) throw new Error(`'${repository}' is not a valid repository name (lowercase, / separated)`);
  return { registry, repository, reference };
}

export interface Challenge {
  scheme: 'bearer' | 'basic';
  params: Record<string, string>;
}

/** The first challenge of a WWW-Authenticate header (RFC 7235 auth-params, quoted or not). */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*(Bearer|Basic)\b\s*(.*)$/i.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_][A-Za-z0-9_-]*)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?\s*/g;
  for (let x = re.exec(m[2]!); x; x = re.exec(m[2]!)) params[x[1]!.toLowerCase()] = (x[2] ?? x[3] ?? '').replace(/\\(.)/g, '$1');
  return { scheme: m[1]!.toLowerCase() as Challenge['scheme'], params };
}

export interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.artifact.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];

/** The blobs of an image manifest (layers) or an artifact manifest (blobs). Throws when it is neither. */
export function manifestBlobs(body: string): Descriptor[] {
  let j: { layers?: unknown; blobs?: unknown; manifests?: unknown };
  try {
    j = JSON.parse(body) as typeof j;
  } catch {
    throw new Error('the manifest is not JSON');
  }
  if (Array.isArray(j.manifests)) throw new Error('the reference is an index of several manifests, not one artifact; name the artifact manifest by digest');
  const list = Array.isArray(j.layers) ? j.layers : Array.isArray(j.blobs) ? j.blobs : undefined;
  if (!list) throw new Error('the manifest has neither layers nor blobs');
  return list.filter(
    (d): d is Descriptor => typeof d === 'object' && d !== null && typeof (d as Descriptor).digest === 'string' && DIGEST_RE.test((d as Descriptor).digest) && typeof (d as Descriptor).size === 'number',
  );
}

/**
 * The blob holding the model: the one whose digest is the declared digest; else the only one
 * (its bytes are then checked against the declared digest, so a moved tag is a DigestMismatch);
 * undefined when several blobs and none has the digest.
 */
export function chooseBlob(blobs: readonly Descriptor[], digest: string): Descriptor | undefined {
  return blobs.find((b) => b.digest === digest) ?? (blobs.length === 1 ? blobs[0] : undefined);
}

/** The username and password for `registry` in a dockerconfigjson's auths (keys may carry a scheme or path). */
export function registryAuth(auths: Record<string, { username: string; password: string }> | undefined, registry: string): { username: string; password: string } | undefined {
  if (!auths) return undefined;
  for (const [k, v] of Object.entries(auths)) {
    const host = k.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '').toLowerCase();
    if (host === registry.toLowerCase()) return v;
  }
  return undefined;
}
