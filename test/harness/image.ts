// The project's image, built here from the real Dockerfile with buildah (Debian's package; vfs
// storage and chroot isolation need no daemon, no overlay mounts and no user namespaces). No
// registry can be reached, so its BASE_IMAGE is made here too: a Debian bookworm minbase root
// file system from mmdebstrap plus the Node 24 binary of the npm `node` package and npm.
// Both archives are cached in ~/.cache/modelgate/images, keyed by a hash of their inputs.
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cacheRoot, repoRoot } from './binaries.js';
import { layerTar, writeOciArchive } from './oci.js';

export const projectImage = 'docker.io/library/modelgate:dev';
const imageDir = (): string => path.join(cacheRoot(), 'images');

function need(bin: string, pkg: string): void {
  if (existsSync(bin)) return;
  if (process.getuid?.() !== 0) throw new Error(`building the image needs ${pkg}: apt-get install -y --no-install-recommends ${pkg}`);
  const r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) throw new Error(`apt-get install ${pkg} failed: install it by hand (apt-get install -y --no-install-recommends ${pkg})`);
}

function hashFiles(files: string[]): string {
  const h = createHash('sha256');
  for (const f of files.sort()) {
    h.update(path.relative(repoRoot, f));
    h.update('\0');
    h.update(readFileSync(f));
    h.update('\0');
  }
  return h.digest('hex').slice(0, 16);
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

/** npm's own folder on this machine (the npm client that runs `npm ci` here). */
function npmDir(): string {
  const cli = execFileSync('readlink', ['-f', execFileSync('bash', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim()], { encoding: 'utf8' }).trim();
  return path.resolve(path.dirname(cli), '..');
}

/** Debian bookworm minbase from mmdebstrap, as one layer tar (cached: about a minute once). */
function ensureDebianRootfs(log: (l: string) => void): string {
  const out = path.join(imageDir(), 'debian-bookworm-minbase.tar');
  if (existsSync(out) && statSync(out).isFile()) return out;
  rmSync(out, { recursive: true, force: true }); // a folder left by an earlier run without --format=tar
  need('/usr/bin/mmdebstrap', 'mmdebstrap');
  mkdirSync(imageDir(), { recursive: true });
  log('making a Debian bookworm minbase root file system with mmdebstrap: first run only, about a minute');
  const r = spawnSync('mmdebstrap', ['--variant=minbase', '--mode=unshare', '--format=tar', 'bookworm', `${out}.tmp`], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) {
    rmSync(`${out}.tmp`, { recursive: true, force: true });
    throw new Error(`mmdebstrap failed (exit ${r.status}): see its output above`);
  }
  renameSync(`${out}.tmp`, out);
  return out;
}

/**
 * The base image archive (OCI): bookworm minbase + node 24 + npm, and this machine's CA bundle
 * when NODE_EXTRA_CA_CERTS names one (the way out to the npm registry here re-signs TLS, so
 * `npm ci` in the build trusts what the host's own npm trusts).
 */
export function ensureBaseArchive(log: (l: string) => void = (l) => process.stderr.write(`${l}\n`)): string {
  const node = path.join(repoRoot, 'node_modules', 'node', 'bin', 'node');
  const npm = npmDir();
  const nodeVersion = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
  const npmVersion = (JSON.parse(readFileSync(path.join(npm, 'package.json'), 'utf8')) as { version: string }).version;
  const extraCa = process.env.NODE_EXTRA_CA_CERTS && existsSync(process.env.NODE_EXTRA_CA_CERTS) ? readFileSync(process.env.NODE_EXTRA_CA_CERTS) : undefined;
  const key = createHash('sha256').update(`bookworm minbase ${nodeVersion} npm ${npmVersion}`).update(extraCa ?? '').digest('hex').slice(0, 16);
  const out = path.join(imageDir(), `base-${key}.tar`);
  if (existsSync(out)) return out;
  const rootfs = ensureDebianRootfs(log);
  const work = mkdtempSync(path.join(os.tmpdir(), 'modelgate-base-'));
  try {
    log(`building the base image (node ${nodeVersion}, npm ${npmVersion})`);
    const top = path.join(work, 'node');
    mkdirSync(path.join(top, 'usr/local/bin'), { recursive: true });
    mkdirSync(path.join(top, 'usr/local/lib/node_modules'), { recursive: true });
    cpSync(node, path.join(top, 'usr/local/bin/node'));
    cpSync(npm, path.join(top, 'usr/local/lib/node_modules/npm'), { recursive: true, dereference: false });
    symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', path.join(top, 'usr/local/bin/npm'));
    symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', path.join(top, 'usr/local/bin/npx'));
    const env = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];
    if (extraCa) {
      mkdirSync(path.join(top, 'etc/ssl/certs'), { recursive: true });
      writeFileSync(path.join(top, 'etc/ssl/certs/ca-certificates.crt'), extraCa);
      env.push('NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt');
    }
    layerTar(top, path.join(work, 'node.tar'));
    writeOciArchive(out, 'localhost/modelgate-base:node24', [rootfs, path.join(work, 'node.tar')], { Env: env, Cmd: ['node'] });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return out;
}

/** The inputs of the Dockerfile build: what its COPY lines read. */
function imageInputs(): string[] {
  const top = ['Dockerfile', 'package.json', 'package-lock.json', '.npmrc', 'tsconfig.json'].map((f) => path.join(repoRoot, f));
  return [...top, ...walk(path.join(repoRoot, 'src'))].filter((f) => statSync(f).isFile());
}

/** A docker-archive of the project's image (`modelgate:dev`), built from the Dockerfile unless cached. */
export function ensureProjectImage(log: (l: string) => void = (l) => process.stderr.write(`${l}\n`)): string {
  const base = ensureBaseArchive(log);
  const key = hashFiles(imageInputs()) + '-' + path.basename(base, '.tar').slice(5);
  const out = path.join(imageDir(), `modelgate-${key}.tar`);
  if (existsSync(out)) return out;
  need('/usr/bin/buildah', 'buildah');
  const work = mkdtempSync(path.join(os.tmpdir(), 'modelgate-buildah-'));
  const buildah = (args: string[], stdio: 'inherit' | 'ignore' = 'inherit'): void => {
    const r = spawnSync('buildah', ['--storage-driver=vfs', `--root=${path.join(work, 'storage')}`, `--runroot=${path.join(work, 'run')}`, ...args],
      { stdio: ['ignore', stdio, 'inherit'], env: { ...process.env, BUILDAH_ISOLATION: 'chroot' } });
    if (r.status !== 0) throw new Error(`buildah ${args[0]} failed (exit ${r.status}): see its output above`);
  };
  const started = Date.now();
  // containers/image keeps a blob-info cache here whatever --root says: removed if this build made it.
  const madeHostCache = !existsSync('/var/lib/containers');
  try {
    log('building the project image from the Dockerfile with buildah (a few minutes when the inputs change)');
    buildah(['bud', '--isolation=chroot', '--layers=false', `--build-arg=BASE_IMAGE=oci-archive:${base}`, '-t', 'modelgate:dev', '-f', path.join(repoRoot, 'Dockerfile'), repoRoot]);
    buildah(['push', 'modelgate:dev', `docker-archive:${out}.tmp:${projectImage}`], 'ignore');
    renameSync(`${out}.tmp`, out);
    log(`built ${projectImage} in ${Math.round((Date.now() - started) / 1000)} s: ${out}`);
  } finally {
    spawnSync('buildah', ['--storage-driver=vfs', `--root=${path.join(work, 'storage')}`, `--runroot=${path.join(work, 'run')}`, 'rm', '--all'], { stdio: 'ignore' });
    rmSync(work, { recursive: true, force: true });
    if (madeHostCache) rmSync('/var/lib/containers', { recursive: true, force: true });
  }
  return out;
}
