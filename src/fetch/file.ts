// file:// only under the configured roots (mounted volumes), never through '..' or a symlink out.
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { StageError } from '../validation/contract.js';
import { REASONS } from '../api/reasons.js';
import { tooLarge, writeLimited, type WriteJob } from './connection.js';
import type { Download, FetcherSettingNames, Scheme } from './types.js';

export function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

export class FileScheme implements Scheme {
  readonly protocols = ['file:'];
  private readonly roots: string[];

  constructor(roots: readonly string[], private readonly names: FetcherSettingNames) {
    this.roots = roots.map((r) => path.resolve(r));
  }

  async prepare(url: URL, _ref: unknown, label: string): Promise<Download> {
    const real = await this.resolveFile(url, label);
    const names = this.names;
    const run = async (job: WriteJob): Promise<number> => {
      const st = await stat(real);
      if (st.size > job.limit) throw tooLarge(job.label, names, job.limit, st.size);
      return writeLimited(createReadStream(real, { signal: job.signal }), job.partial, job.limit, job.label, names, job.signal, job.hash);
    };
    return Object.assign(run, { local: true });
  }

  /** The real path of a file:// URI inside a configured root, or ForbiddenDestination. */
  private async resolveFile(url: URL, label: string): Promise<string> {
    if (url.host !== '' && url.host !== 'localhost') {
      throw new StageError(REASONS.ForbiddenDestination, `The ${label} file URI names host '${url.host}'; file:// URIs must be local (file:///path).`, true);
    }
    let requested: string;
    try {
      requested = fileURLToPath(url);
    } catch (err) {
      throw new StageError(REASONS.FetchFailed, `The ${label} file URI is malformed (${(err as Error).message}); fix the uri field.`, true);
    }
    const outside = (): StageError =>
      new StageError(
        REASONS.ForbiddenDestination,
        `The ${label} path ${requested} is outside the operator's file roots (${this.roots.join(', ') || 'none configured'}) or leaves them through '..' or a symbolic link; put the file under a configured root.`,
        true,
      );
    if (this.roots.length === 0) throw outside();
    // The URL parser already collapsed '..'; still refuse any left (percent-encoded) for clarity.
    if (requested.split(path.sep).includes('..')) throw outside();
    let real: string;
    try {
      real = await realpath(requested);
    } catch {
      // Do not reveal whether a path outside the roots exists.
      if (!this.roots.some((r) => isInside(r, requested))) throw outside();
      throw new StageError(REASONS.FetchFailed, `The ${label} file ${requested} does not exist; check the uri field and the mounted volume.`, true);
    }
    let allowed = false;
    for (const r of this.roots) {
      const realRoot = await realpath(r).catch(() => undefined);
      if (realRoot !== undefined && isInside(r, requested) && isInside(realRoot, real)) allowed = true;
    }
    if (!allowed) throw outside();
    const st = await stat(real);
    if (!st.isFile()) throw new StageError(REASONS.FetchFailed, `The ${label} path ${requested} is not a regular file; point the uri at the model file.`, true);
    return real;
  }
}
