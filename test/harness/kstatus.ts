// The kstatus library (sigs.k8s.io/cli-utils/pkg/kstatus/status, the health rule Flux and kpt
// use) as a binary: tools/kstatus at the version its go.mod pins, built once from the Go module
// proxy into ~/.cache/modelgate/kstatus/<version>/ (seconds to a few minutes), like Prometheus.
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { cacheRoot, executable, repoRoot } from './binaries.js';

export type KstatusStatus = 'InProgress' | 'Current' | 'Failed' | 'Terminating' | 'NotFound' | 'Unknown';

export interface KstatusVerdict {
  kind: string;
  namespace?: string;
  name: string;
  status: KstatusStatus;
  message: string;
  error?: string;
}

const TOOL = path.join(repoRoot, 'tools', 'kstatus');


let built: string | undefined;

/** The path of the kstatus binary, built on first use (KSTATUS_BINARY overrides). */
export function ensureKstatusBinary(log: (l: string) => void = (l) => process.stderr.write(`${l}\n`)): string {
  const explicit = process.env.KSTATUS_BINARY;
  if (explicit) {
    if (!executable(explicit)) throw new Error(`KSTATUS_BINARY=${explicit} is not an executable: build tools/kstatus (go build) or unset it`);
    return explicit;
  }
  if (built) return built;
  const version = /sigs\.k8s\.io\/cli-utils\s+(v\S+)/.exec(readFileSync(path.join(TOOL, 'go.mod'), 'utf8'))?.[1];
  if (!version) throw new Error('tools/kstatus/go.mod does not pin sigs.k8s.io/cli-utils');
  const dir = path.join(cacheRoot(), 'kstatus', version);
  const bin = path.join(dir, 'kstatus');
  if (!executable(bin)) {
    log(`building kstatus (sigs.k8s.io/cli-utils ${version}) into ${dir}: first run only`);
    mkdirSync(dir, { recursive: true });
    // Built beside and renamed: two test processes building at once never see half a binary.
    const tmp = `${bin}.${process.pid}.tmp`;
    const r = spawnSync('go', ['build', '-o', tmp, '.'], { cwd: TOOL, env: { ...process.env, GOFLAGS: '-mod=mod', CGO_ENABLED: '0' }, stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.error || r.status !== 0 || !executable(tmp)) {
      rmSync(tmp, { force: true });
      throw new Error(`building tools/kstatus failed (${r.error?.message ?? `exit ${r.status}`}): Go 1.26 and the Go module proxy are needed, or set KSTATUS_BINARY`);
    }
    renameSync(tmp, bin);
  }
  built = bin;
  return bin;
}

/** kstatus's verdict for each object (as JSON, e.g. read from the apiserver), in order. */
export function kstatus(objects: readonly unknown[]): Promise<KstatusVerdict[]> {
  const bin = ensureKstatusBinary();
  return new Promise((resolve, reject) => {
    const child = execFile(bin, [], { timeout: 30_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`kstatus failed: ${err.message} ${stderr}`));
      resolve(stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as KstatusVerdict));
    });
    child.stdin?.end(objects.map((o) => JSON.stringify(o)).join('\n'));
  });
}
