// A real OCI registry for tests: Debian's docker-registry (Distribution 2.8) started with its own
// config on a loopback port in a temp dir, with token auth. The token service is this file's
// small HTTP server: it checks basic credentials and signs the JWT the registry verifies against
// the certificate in its config (RS256, the certificate in the x5c header), as a real token
// service does. push() speaks the OCI push protocol itself: blob upload POST + PUT, manifest PUT.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, createPrivateKey, createSign, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, startProcess, stopProcess, waitFor } from './process.js';

export const REGISTRY_BINARY = process.env.DOCKER_REGISTRY_BINARY ?? '/usr/bin/docker-registry';
const SERVICE = 'modelgate-registry';
const ISSUER = 'modelgate-test-token-issuer';

export interface Registry {
  /** 127.0.0.1:<port>: the host of oci:// URIs. */
  host: string;
  /** A user allowed to pull and push. */
  user: { username: string; password: string };
  /** Pushes `body` as the one blob of an OCI image manifest tagged `tag`; returns the manifest digest. */
  push(repository: string, tag: string, body: Buffer, mediaType?: string): Promise<{ manifestDigest: string; blobDigest: string }>;
  /** Deletes a blob through the registry API (its manifest stays, pointing at nothing). */
  deleteBlob(repository: string, digest: string): Promise<void>;
  /** A kubernetes.io/dockerconfigjson `.dockerconfigjson` value for the given credentials (for `host`, default this.host). */
  dockerConfig(username: string, password: string, host?: string): string;
  /** The token service's port on 127.0.0.1. */
  tokenPort: number;
  /** Token requests the token service answered (to see the challenge was followed). */
  tokenRequests: number;
  stop(): Promise<void>;
  logPath: string;
}

function sha256(b: Buffer | string): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

function b64url(b: Buffer | string): string {
  return Buffer.from(b).toString('base64url');
}

/** A token service: basic auth in, a signed JWT granting the scope out (401 UNAUTHORIZED otherwise). */
function tokenServer(keyPem: string, certDer: Buffer, users: Map<string, string>, counter: { n: number }): http.Server {
  const key = createPrivateKey(keyPem);
  return http.createServer((req, res) => {
    counter.n++;
    const url = new URL(req.url ?? '/', 'http://token');
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const [user, pass] = basic ? Buffer.from(basic, 'base64').toString().split(/:(.*)/s) : [];
    if (!user || users.get(user) !== pass) {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="token"' });
      return res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
    }
    const access = url.searchParams.getAll('scope').flatMap((s) => {
      const [type, name, actions] = s.split(':');
      return type && name && actions ? [{ type, name, actions: actions.split(',') }] : [];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer.toString('base64')] };
    const claims = { iss: ISSUER, sub: user, aud: url.searchParams.get('service') ?? SERVICE, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = createSign('RSA-SHA256').update(input).sign(key);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token: `${input}.${b64url(sig)}`, expires_in: 300 }));
  });
}

const REGISTRY_HINT = `${REGISTRY_BINARY} is missing: apt-get install -y docker-registry (Debian's Distribution 2.8), or set DOCKER_REGISTRY_BINARY.`;

/** The registry binary; as root with apt-get, installs Debian's docker-registry when missing (its service is never started). */
export function ensureRegistryBinary(log: (l: string) => void = (l) => process.stderr.write(`${l}\n`)): string {
  if (existsSync(REGISTRY_BINARY)) return REGISTRY_BINARY;
  if (process.env.DOCKER_REGISTRY_BINARY || process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) throw new Error(REGISTRY_HINT);
  log('installing Debian\'s docker-registry (Distribution 2.8) for the OCI store tests');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('/usr/bin/apt-get', ['install', '-y', '--no-install-recommends', 'docker-registry'], { stdio: ['ignore', 'inherit', 'inherit'], env });
  if (r.status !== 0) {
    spawnSync('/usr/bin/apt-get', ['update'], { stdio: ['ignore', 'inherit', 'inherit'], env });
    r = spawnSync('/usr/bin/apt-get', ['install', '-y', '--no-install-recommends', 'docker-registry'], { stdio: ['ignore', 'inherit', 'inherit'], env });
  }
  if (r.status !== 0 || !existsSync(REGISTRY_BINARY)) throw new Error(REGISTRY_HINT);
  return REGISTRY_BINARY;
}

export interface RegistryOptions {
  /**
   * The token realm the registry sends in its challenge, given the token service's loopback port
   * (default http://127.0.0.1:<port>/token). Pods need an address of the pod network (a relay).
   */
  realm?: (tokenPort: number) => string;
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<Registry> {
  ensureRegistryBinary();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'modelgate-registry-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'token.key', '-out', 'token.crt', '-subj', '/CN=modelgate-token', '-days', '2'], { cwd: dir, stdio: 'ignore' });
  const certDer = execFileSync('openssl', ['x509', '-in', 'token.crt', '-outform', 'DER'], { cwd: dir });
  const user = { username: 'pusher', password: randomBytes(12).toString('hex') };
  const counter = { n: 0 };
  const tokens = tokenServer(readFileSync(path.join(dir, 'token.key'), 'utf8'), certDer, new Map([[user.username, user.password]]), counter);
  await new Promise<void>((ok) => tokens.listen(0, '127.0.0.1', ok));
  const tokenPort = (tokens.address() as AddressInfo).port;
  // Pushes from this process always ask the loopback realm; the challenge may advertise another.
  const realm = `http://127.0.0.1:${tokenPort}/token`;
  const advertised = opts.realm?.(tokenPort) ?? realm;
  const port = await freePort();
  const config = [
    'version: 0.1',
    'log: { level: info }',
    `storage: { filesystem: { rootdirectory: ${JSON.stringify(path.join(dir, 'data'))} }, delete: { enabled: true } }`,
    `http: { addr: "127.0.0.1:${port}", secret: "${randomBytes(8).toString('hex')}" }`,
    `auth: { token: { realm: "${advertised}", service: "${SERVICE}", issuer: "${ISSUER}", rootcertbundle: ${JSON.stringify(path.join(dir, 'token.crt'))} } }`,
  ].join('\n');
  writeFileSync(path.join(dir, 'config.yml'), `${config}\n`);
  const logPath = path.join(dir, 'registry.log');
  const proc = startProcess('docker-registry', REGISTRY_BINARY, ['serve', path.join(dir, 'config.yml')], logPath);
  const host = `127.0.0.1:${port}`;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await stopProcess(proc);
    await new Promise<void>((ok) => tokens.close(() => ok()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor('docker-registry', async () => {
      if (proc.child.exitCode !== null) throw new Error(`docker-registry exited with ${proc.child.exitCode}; see ${logPath}`);
      const r = await fetch(`http://${host}/v2/`).catch(() => undefined);
      return r?.status === 401 ? true : undefined;
    }, 30_000);
  } catch (err) {
    await stop();
    throw err;
  }
  const reg: Registry = {
    host, user, logPath, stop, tokenPort,
    get tokenRequests() {
      return counter.n;
    },
    dockerConfig: (username, password, at = host) => JSON.stringify({ auths: { [at]: { username, password, auth: Buffer.from(`${username}:${password}`).toString('base64') } } }),
    push: (repository, tag, body, mediaType) => push(host, realm, user, repository, tag, body, mediaType),
    deleteBlob: async (repository, digest) => {
      const auth = `Bearer ${await pushToken(realm, user, repository, 'delete')}`;
      const r = await fetch(`http://${host}/v2/${repository}/blobs/${digest}`, { method: 'DELETE', headers: { authorization: auth } });
      if (r.status !== 202) throw new Error(`blob DELETE answered ${r.status}: ${await r.text()}`);
    },
  };
  return reg;
}

async function pushToken(realm: string, user: { username: string; password: string }, repository: string, actions = 'pull,push'): Promise<string> {
  const r = await fetch(`${realm}?service=${SERVICE}&scope=repository:${repository}:${actions}`, {
    headers: { authorization: `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}` },
  });
  if (r.status !== 200) throw new Error(`token service answered ${r.status}`);
  return ((await r.json()) as { token: string }).token;
}

async function uploadBlob(host: string, auth: string, repository: string, body: Buffer): Promise<string> {
  const digest = sha256(body);
  const start = await fetch(`http://${host}/v2/${repository}/blobs/uploads/`, { method: 'POST', headers: { authorization: auth } });
  if (start.status !== 202) throw new Error(`blob upload POST answered ${start.status}: ${await start.text()}`);
  const loc = new URL(start.headers.get('location') ?? '', `http://${host}`);
  loc.searchParams.set('digest', digest);
  const put = await fetch(loc, { method: 'PUT', headers: { authorization: auth, 'content-type': 'application/octet-stream', 'content-length': String(body.length) }, body });
  if (put.status !== 201) throw new Error(`blob upload PUT answered ${put.status}: ${await put.text()}`);
  return digest;
}

async function push(host: string, realm: string, user: { username: string; password: string }, repository: string, tag: string, body: Buffer, mediaType = 'application/vnd.onnx.model'): Promise<{ manifestDigest: string; blobDigest: string }> {
  const auth = `Bearer ${await pushToken(realm, user, repository)}`;
  const config = Buffer.from('{}');
  const configDigest = await uploadBlob(host, auth, repository, config);
  const blobDigest = await uploadBlob(host, auth, repository, body);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: configDigest, size: config.length },
    layers: [{ mediaType, digest: blobDigest, size: body.length, annotations: { 'org.opencontainers.image.title': 'model.onnx' } }],
  });
  const r = await fetch(`http://${host}/v2/${repository}/manifests/${tag}`, {
    method: 'PUT',
    headers: { authorization: auth, 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
    body: manifest,
  });
  if (r.status !== 201) throw new Error(`manifest PUT answered ${r.status}: ${await r.text()}`);
  return { manifestDigest: sha256(manifest), blobDigest };
}
