// s3://bucket/key: a GET signed with AWS Signature V4 (@smithy/signature-v4, the AWS SDK's own
// signer) and sent through the guarded connection, so the address policy, the size cap, the
// deadline and the hashing are the same as for https. Region, endpoint override (S3-compatible
// stores) and path-style addressing come from spec.artifact.s3; keys from the artifact's Secret,
// or, only when the operator allows ambient credentials, from its own environment.
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { StageError } from '../validation/contract.js';
import { REASONS } from '../api/reasons.js';
import { readSmall, saveBody, storeErrorCode } from './connection.js';
import { fromSecret, probed } from './https.js';
import { redact } from './policy.js';
import type { Download, DownloadJob, S3Keys, S3Location, Scheme, SchemeContext, StoreRef } from './types.js';

export interface S3Object {
  bucket: string;
  /** The key as written in the URI, still percent-encoded where the URI encoded it. */
  key: string;
  /** Where the GET goes. */
  url: URL;
  region: string;
}

const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Where an s3:// URI's object is fetched from (pure). Throws an Error saying what is wrong. */
export function s3Object(uri: URL, loc: S3Location = {}): S3Object {
  const bucket = uri.hostname;
  const key = uri.pathname.replace(/^\//, '');
  if (!BUCKET_RE.test(bucket)) throw new Error(`'${bucket}' is not an S3 bucket name (3-63 lowercase letters, digits, dots and hyphens)`);
  if (!key) throw new Error('the URI names no object key (s3://bucket/key)');
  if (uri.port || uri.username || uri.password || uri.search) throw new Error('an s3:// URI is s3://bucket/key: no port, user, or query (put the endpoint in artifact.s3.endpoint)');
  const region = loc.region ?? 'us-east-1';
  const base = new URL(loc.endpoint ?? `https://s3.${region}.amazonaws.com`);
  // Dots in a bucket name break the TLS wildcard of virtual-hosted names: path-style then.
  const pathStyle = loc.forcePathStyle ?? (loc.endpoint !== undefined || bucket.includes('.'));
  const prefix = base.pathname.replace(/\/$/, '');
  const url = pathStyle ? new URL(`${base.origin}${prefix}/${bucket}/${key}`) : new URL(`${base.protocol}//${bucket}.${base.host}${prefix}/${key}`);
  return { bucket, key, url, region };
}

export class S3Scheme implements Scheme {
  readonly protocols = ['s3:'];

  constructor(private readonly ctx: SchemeContext) {}

  prepare(uri: URL, ref: StoreRef, label: string): Promise<Download> {
    let obj: S3Object;
    try {
      obj = s3Object(uri, ref.s3);
    } catch (err) {
      throw new StageError(REASONS.FetchFailed, `The ${label} URI ${redact(uri)} is not usable: ${(err as Error).message}; fix the uri or artifact.s3.`, true);
    }
    this.ctx.connection.vet(obj.url, `${label} S3 endpoint`);
    return Promise.resolve((job: DownloadJob) => this.download(job, obj));
  }

  private async keys(ref: StoreRef, label: string): Promise<S3Keys | undefined> {
    if (ref.credentials?.s3) return ref.credentials.s3;
    if (ref.credentials) {
      throw new StageError(REASONS.FetchFailed, `The ${label}'s Secret '${ref.credentials.secretName}' has no AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; add them to the Secret.`, true);
    }
    return this.ctx.ambient.s3 ? this.ctx.ambient.s3() : undefined;
  }

  private async download(job: DownloadJob, obj: S3Object): Promise<number> {
    const keys = await this.keys(job.ref, job.label);
    const signer = keys
      ? new SignatureV4({ service: 's3', region: obj.region, credentials: keys, sha256: Hash.bind(null, 'sha256'), uriEscapePath: false, applyChecksum: true })
      : undefined;
    const sign = signer ? (url: URL) => signGet(signer, url) : undefined;
    const { res, url } = await this.ctx.connection.send(obj.url, { label: job.label, signal: job.signal, ...(sign ? { sign } : {}), ...(job.probe ? { headers: { range: 'bytes=0-0' } } : {}) });
    const status = res.statusCode ?? 0;
    if (job.probe && (status === 200 || status === 206)) return probed(res);
    if (status !== 200) {
      const code = storeErrorCode(await readSmall(res, 8192).catch(() => '')) ?? `HTTP ${status}`;
      const c = job.ref.credentials;
      const where = `s3://${obj.bucket}/${obj.key}`;
      const hint =
        status === 404
          ? `; check the bucket and key in the uri`
          : status === 401 || status === 403
            ? `; check the keys${c ? ` in Secret '${c.secretName}'` : keys ? ' of the operator (ambient credentials)' : ' (the artifact names no Secret)'} and the bucket policy`
            : '';
      throw new StageError(REASONS.FetchFailed, `The ${job.label} ${where} could not be fetched: the store answered ${code} (HTTP ${status}) at ${redact(url)}${fromSecret(c)}${hint}.`, true);
    }
    return saveBody(res, job, this.ctx.names);
  }
}

async function signGet(signer: SignatureV4, url: URL): Promise<Record<string, string>> {
  const host = url.host;
  const signed = await signer.sign({
    method: 'GET',
    protocol: url.protocol,
    hostname: url.hostname,
    ...(url.port ? { port: Number(url.port) } : {}),
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    headers: { host },
  });
  return signed.headers;
}
