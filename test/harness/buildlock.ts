// Store binaries the tests need, built once into ~/.cache/modelgate/<name>-<version>/ like the
// control plane and Prometheus. The build runs under flock(1) on a lock file beside the folder,
// so two test processes never build at once: the second waits, then finds the binary.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { cacheRoot, executable, repoRoot } from './binaries.js';

/** The version of `mod` pinned in tools/<tool>/go.mod. */
export function pinnedVersion(tool: string, mod: string): string {
  const text = readFileSync(path.join(repoRoot, 'tools', tool, 'go.mod'), 'utf8');
  const m = new RegExp(`require\\s+${mod.replace(/[./]/g, '\\$&')}\\s+(v\\S+)`).exec(text);
  if (!m?.[1]) throw new Error(`tools/${tool}/go.mod does not pin ${mod}`);
  return m[1];
}

/**
 * `<cache>/<name>-<version>/<binary>`, running `script <dir>` under the lock when it is missing.
 * `envVar` names a prebuilt binary that skips the build.
 */
export function ensureBuilt(name: string, version: string, binary: string, script: string, envVar: string, log: (l: string) => void = (l) => process.stderr.write(`${l}\n`)): string {
  const explicit = process.env[envVar];
  if (explicit) {
    if (!executable(explicit)) throw new Error(`${envVar}=${explicit} is not an executable file.`);
    return explicit;
  }
  const dir = path.join(cacheRoot(), `${name}-${version}`);
  const built = path.join(dir, binary);
  if (executable(built)) return built;
  mkdirSync(cacheRoot(), { recursive: true });
  const lock = path.join(cacheRoot(), `.${name}-${version}.lock`);
  log(`building ${name} ${version} into ${dir} (first run only, minutes; other test processes wait on ${lock})`);
  const r = spawnSync('flock', [lock, 'bash', '-c', `test -x "$1" || bash "$2" "$3"`, '_', built, path.join(repoRoot, 'scripts', script), dir], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status === 3) throw new Error(`Go 1.26 or newer is needed to build ${name}: install it, or set ${envVar} to a prebuilt binary.`);
  if (r.status !== 0 || !executable(built)) throw new Error(`building ${name} failed (exit ${r.status}): see the Go output above, or set ${envVar}`);
  return built;
}
