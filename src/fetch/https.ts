// https:// (http:// only to trusted hosts), with optional credentials from a Secret: extra
// headers, basic auth and a CA bundle. Credentials go to the URI's own host only; a redirect to
// another host (a presigned URL) gets none.
import { StageError } from '../validation/contract.js';
import { REASONS } from '../api/reasons.js';
import { readSmall, saveBody, storeErrorCode } from './connection.js';
import { redact } from './policy.js';
import type { Download, DownloadJob, SchemeContext, Scheme, StoreCredentials, StoreRef } from './types.js';

export function credentialHeaders(c: StoreCredentials | undefined): Record<string, string> {
  if (!c) return {};
  const h: Record<string, string> = { ...c.headers };
  if (c.basic) h.authorization = `Basic ${Buffer.from(`${c.basic.username}:${c.basic.password}`).toString('base64')}`;
  return h;
}

/** " (credentials from Secret x)" for messages, or nothing. */
export function fromSecret(c: StoreCredentials | undefined): string {
  return c ? ` with the credentials of Secret '${c.secretName}'` : '';
}

/** Ends a probe's response without reading its body. */
export function probed(res: { destroy(): void }): number {
  res.destroy();
  return 0;
}

export class HttpsScheme implements Scheme {
  readonly protocols = ['https:', 'http:'];

  constructor(private readonly ctx: SchemeContext) {}

  prepare(url: URL, ref: StoreRef, label: string): Promise<Download> {
    this.ctx.connection.vet(url, label);
    return Promise.resolve((job: DownloadJob) => this.download(job));
  }

  private async download(job: DownloadJob): Promise<number> {
    const c = job.ref.credentials;
    const { res, url } = await this.ctx.connection.send(job.url, {
      label: job.label,
      signal: job.signal,
      headers: { ...credentialHeaders(c), ...(job.probe ? { range: 'bytes=0-0' } : {}) },
      ...(c?.ca !== undefined ? { ca: c.ca } : {}),
    });
    const status = res.statusCode ?? 0;
    if (job.probe && (status === 200 || status === 206)) return probed(res);
    if (status !== 200) {
      const code = storeErrorCode(await readSmall(res, 4096).catch(() => ''));
      const what = status === 401 || status === 403 ? `; check the credentials${c ? ` in Secret '${c.secretName}'` : ' (the artifact names no Secret)'} and the server's access rules` : '; check the uri';
      throw new StageError(REASONS.FetchFailed, `The ${job.label} server answered HTTP ${status}${code ? ` ${code}` : ''} for ${redact(url)}${fromSecret(c)}${what}.`, true);
    }
    return saveBody(res, job, this.ctx.names);
  }
}
