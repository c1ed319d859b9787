// oci://registry/repository:tag or @sha256:…: the OCI distribution pull of one blob. A manifest
// GET (image or artifact manifest), answering the registry's challenge (a bearer token from its
// realm, or basic auth) with the dockerconfigjson credentials of the artifact's Secret, then a
// blob GET; the blob's bytes are checked against spec.artifact.digest by the fetcher. Every
// request (token realm, registry, a blob redirect to storage) goes through the guarded connection.
import { createHash } from 'node:crypto';
import type http from 'node:http';
import { StageError } from '../validation/contract.js';
import { REASONS } from '../api/reasons.js';
import { readSmall, saveBody, storeErrorCode, tooLarge } from './connection.js';
import { fromSecret } from './https.js';
import { chooseBlob, manifestBlobs, MANIFEST_TYPES, parseChallenge, parseOciUri, registryAuth, type OciReference } from './oci-ref.js';
import type { Download, DownloadJob, Scheme, SchemeContext, StoreRef } from './types.js';

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

interface Session {
  ref: OciReference;
  base: string;
  job: DownloadJob;
  /** The Authorization header once a challenge was answered. */
  auth?: string;
}

export class OciScheme implements Scheme {
  readonly protocols = ['oci:'];

  constructor(private readonly ctx: SchemeContext) {}

  prepare(uri: URL, ref: StoreRef, label: string): Promise<Download> {
    let r: OciReference;
    try {
      r = parseOciUri(uri);
    } catch (err) {
      throw new StageError(REASONS.FetchFailed, `The ${label} URI ${uri.href} is not usable: ${(err as Error).message}; fix the uri.`, true);
    }
    const base = `${ref.oci?.plainHttp ? 'http' : 'https'}://${r.registry}`;
    this.ctx.connection.vet(new URL(`${base}/v2/`), `${label} registry`);
    return Promise.resolve((job: DownloadJob) => this.download({ ref: r, base, job }));
  }

  private async download(s: Session): Promise<number> {
    const { job, ref } = s;
    const manifestUrl = new URL(`${s.base}/v2/${ref.repository}/manifests/${ref.reference}`);
    const m = await this.get(s, manifestUrl, MANIFEST_TYPES.join(', '), 'manifest');
    const body = await readSmall(m, MAX_MANIFEST_BYTES);
    if (ref.reference.startsWith('sha256:')) {
      const got = `sha256:${createHash('sha256').update(body).digest('hex')}`;
      if (got !== ref.reference) throw new StageError(REASONS.DigestMismatch, `The ${job.label} manifest ${this.where(s)} has digest ${got}, not ${ref.reference}; the registry served other bytes.`, true);
    }
    let blobs;
    try {
      blobs = manifestBlobs(body);
    } catch (err) {
      throw new StageError(REASONS.FetchFailed, `The ${job.label} ${this.where(s)}: ${(err as Error).message}; push the model as an OCI artifact with one blob.`, true);
    }
    const blob = chooseBlob(blobs, job.ref.digest);
    if (!blob) {
      throw new StageError(
        REASONS.DigestMismatch,
        `The ${job.label} ${this.where(s)} has ${blobs.length} blobs (${blobs.map((b) => b.digest).join(', ')}) and none is the declared ${job.ref.digest}; the tag may have moved: name the artifact by digest or fix the digest.`,
        true,
      );
    }
    if (blob.size > job.limit) throw tooLarge(job.label, this.ctx.names, job.limit, blob.size);
    if (job.probe) {
      // The manifest was readable with these credentials; the blob must be the declared one.
      if (blob.digest !== job.ref.digest) throw new StageError(REASONS.DigestMismatch, `The ${job.label} ${this.where(s)} now holds ${blob.digest}, not the declared ${job.ref.digest}; the tag moved: name the artifact by digest or fix the digest.`, true);
      return 0;
    }
    const res = await this.get(s, new URL(`${s.base}/v2/${ref.repository}/blobs/${blob.digest}`), '*/*', `blob ${blob.digest}`);
    return saveBody(res, job, this.ctx.names);
  }

  private where(s: Session): string {
    const sep = s.ref.reference.startsWith('sha256:') ? '@' : ':';
    return `oci://${s.ref.registry}/${s.ref.repository}${sep}${s.ref.reference}`;
  }

  /** GET with the session's auth; on a 401 answer the challenge once and ask again. */
  private async get(s: Session, url: URL, accept: string, what: string): Promise<http.IncomingMessage> {
    let { res } = await this.send(s, url, accept);
    if (res.statusCode === 401 && s.auth === undefined) {
      const challenge = res.headers['www-authenticate'];
      res.resume();
      s.auth = await this.authorize(s, typeof challenge === 'string' ? challenge : undefined);
      ({ res } = await this.send(s, url, accept));
    }
    if (res.statusCode !== 200) await this.refuse(s, res, what);
    return res;
  }

  private send(s: Session, url: URL, accept: string): Promise<{ res: http.IncomingMessage; url: URL }> {
    const c = s.job.ref.credentials;
    return this.ctx.connection.send(url, {
      label: s.job.label,
      signal: s.job.signal,
      headers: { accept, ...(s.auth ? { authorization: s.auth } : {}) },
      ...(c?.ca !== undefined ? { ca: c.ca } : {}),
    });
  }

  private async refuse(s: Session, res: http.IncomingMessage, what: string): Promise<never> {
    const status = res.statusCode ?? 0;
    const code = storeErrorCode(await readSmall(res, 8192).catch(() => '')) ?? `HTTP ${status}`;
    const c = s.job.ref.credentials;
    const hint =
      status === 401 || status === 403
        ? `; check the registry credentials${c ? ` in Secret '${c.secretName}' (.dockerconfigjson auths for ${s.ref.registry})` : ': the artifact names no Secret; name a kubernetes.io/dockerconfigjson Secret in its secretRef'}`
        : status === 404
          ? '; check the repository and tag or digest in the uri'
          : '';
    throw new StageError(REASONS.FetchFailed, `The ${s.job.label} ${this.where(s)}: the registry answered ${code} (HTTP ${status}) for the ${what}${fromSecret(c)}${hint}.`, true);
  }

  /** The Authorization header that answers the challenge: a bearer token from the realm, or basic. */
  private async authorize(s: Session, header: string | undefined): Promise<string> {
    const ch = parseChallenge(header);
    const creds = registryAuth(s.job.ref.credentials?.registries, s.ref.registry);
    const basic = creds ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` : undefined;
    if (!ch || ch.scheme === 'basic') {
      if (basic) return basic;
      await this.refuseNoCredentials(s);
    }
    const realm = ch!.params.realm;
    if (!realm) throw new StageError(REASONS.FetchFailed, `The ${s.job.label} registry ${s.ref.registry} sent a bearer challenge without a realm; the registry is misconfigured.`, true);
    const tokenUrl = new URL(realm);
    if (ch!.params.service) tokenUrl.searchParams.set('service', ch!.params.service);
    tokenUrl.searchParams.set('scope', ch!.params.scope ?? `repository:${s.ref.repository}:pull`);
    const { res } = await this.ctx.connection.send(tokenUrl, { label: `${s.job.label} registry token`, signal: s.job.signal, headers: basic ? { authorization: basic } : {} });
    if (res.statusCode !== 200) await this.refuse(s, res, 'token');
    const t = JSON.parse(await readSmall(res, 64 * 1024)) as { token?: unknown; access_token?: unknown };
    const token = typeof t.token === 'string' ? t.token : typeof t.access_token === 'string' ? t.access_token : undefined;
    if (!token) throw new StageError(REASONS.FetchFailed, `The ${s.job.label} registry's token service answered without a token; the registry is misconfigured.`, true);
    return `Bearer ${token}`;
  }

  private refuseNoCredentials(s: Session): Promise<never> {
    const c = s.job.ref.credentials;
    throw new StageError(
      REASONS.FetchFailed,
      c
        ? `The ${s.job.label} registry ${s.ref.registry} asks for credentials and Secret '${c.secretName}' has none for it; add ${s.ref.registry} to its .dockerconfigjson auths.`
        : `The ${s.job.label} registry ${s.ref.registry} asks for credentials (UNAUTHORIZED); name a kubernetes.io/dockerconfigjson Secret in the artifact's secretRef.`,
      true,
    );
  }
}
