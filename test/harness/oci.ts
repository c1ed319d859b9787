// OCI image archives written by hand (no registry can be reached here): layer tars made by GNU
// tar with numeric root ownership, a config, a manifest and an index, in the OCI layout that
// `ctr images import` reads. Also the pause image: a static C program built with gcc -static.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cacheRoot } from './binaries.js';

export interface ImageConfig {
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
  WorkingDir?: string;
  User?: string;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A reproducible tar of a folder's contents: sorted, owned by 0:0, fixed mtime. */
export function layerTar(rootDir: string, outFile: string): void {
  execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-C', rootDir, '-cf', outFile, '.']);
}

/** Writes an OCI image-layout tar holding one image named `ref` built from `layers` (uncompressed tars). */
export function writeOciArchive(outFile: string, ref: string, layers: string[], config: ImageConfig): void {
  const work = mkdtempSync(path.join(os.tmpdir(), 'modelgate-oci-'));
  try {
    const blobs = path.join(work, 'blobs', 'sha256');
    mkdirSync(blobs, { recursive: true });
    const put = (b: Buffer): string => {
      const d = sha(b);
      writeFileSync(path.join(blobs, d), b);
      return d;
    };
    const layerDescs = layers.map((file) => {
      const d = createHash('sha256').update(readFileSync(file)).digest('hex');
      copyFileSync(file, path.join(blobs, d));
      return { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${d}`, size: readFileSync(file).length };
    });
    const cfg = Buffer.from(JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: config,
      rootfs: { type: 'layers', diff_ids: layerDescs.map((l) => l.digest) },
      history: layerDescs.map(() => ({ created_by: 'modelgate test harness' })),
    }));
    const cfgDigest = put(cfg);
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${cfgDigest}`, size: cfg.length },
      layers: layerDescs,
    }));
    const mDigest = put(manifest);
    writeFileSync(path.join(work, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    writeFileSync(path.join(work, 'index.json'), JSON.stringify({
      schemaVersion: 2,
      manifests: [{
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: `sha256:${mDigest}`,
        size: manifest.length,
        annotations: { 'io.containerd.image.name': ref, 'org.opencontainers.image.ref.name': ref },
      }],
    }));
    execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '-C', work, '-cf', `${outFile}.tmp`, 'oci-layout', 'index.json', 'blobs']);
    renameSync(`${outFile}.tmp`, outFile);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// The sandbox process of every pod: sleeps until told to stop, reaps orphans.
const pauseC = `#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
static void stop(int s) { (void)s; _exit(0); }
static void reap(int s) { (void)s; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
  struct sigaction a = {0};
  a.sa_handler = stop; sigaction(SIGINT, &a, 0); sigaction(SIGTERM, &a, 0);
  a.sa_handler = reap; a.sa_flags = SA_NOCLDSTOP; sigaction(SIGCHLD, &a, 0);
  for (;;) pause();
}
`;

export const pauseImage = 'registry.k8s.io/pause:3.10';

/** The pause image archive, built once per machine (gcc -static) and cached by its source hash. */
export function ensurePauseArchive(): string {
  const dir = path.join(cacheRoot(), 'images');
  const out = path.join(dir, `pause-${sha(Buffer.from(pauseC + pauseImage)).slice(0, 16)}.tar`);
  if (existsSync(out)) return out;
  mkdirSync(dir, { recursive: true });
  const work = mkdtempSync(path.join(os.tmpdir(), 'modelgate-pause-'));
  try {
    writeFileSync(path.join(work, 'pause.c'), pauseC);
    mkdirSync(path.join(work, 'root'));
    try {
      execFileSync('gcc', ['-static', '-O2', '-o', path.join(work, 'root', 'pause'), path.join(work, 'pause.c')], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      throw new Error(`building the pause image needs gcc with a static libc (apt-get install -y gcc libc6-dev): ${(err as Error).message}`);
    }
    layerTar(path.join(work, 'root'), path.join(work, 'layer.tar'));
    writeOciArchive(out, pauseImage, [path.join(work, 'layer.tar')], { Entrypoint: ['/pause'], User: '65535:65535' });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return out;
}
