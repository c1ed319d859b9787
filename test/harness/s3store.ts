// A real S3 server that verifies AWS Signature V4: SeaweedFS (`weed server -s3`, built from the
// Go module proxy at the version in tools/seaweedfs/go.mod) with an identities file, on loopback
// ports in a temp dir removed at stop. Tests put objects with the AWS SDK's own S3 client.
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureBuilt, pinnedVersion } from './buildlock.js';
import { freePort, GiveUp, startProcess, stopProcess, waitFor } from './process.js';

export const SEAWEEDFS_MODULE = 'github.com/seaweedfs/seaweedfs';

export function ensureSeaweedfs(log?: (l: string) => void): string {
  return ensureBuilt('seaweedfs', pinnedVersion('seaweedfs', SEAWEEDFS_MODULE), 'weed', 'build-seaweedfs.sh', 'SEAWEEDFS_BINARY', log);
}

export interface S3Keys {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface S3Store {
  /** http://127.0.0.1:<port>: the endpoint (path-style). */
  endpoint: string;
  region: string;
  /** An identity allowed to read and write every bucket. */
  admin: S3Keys;
  /** An identity allowed to read only. */
  reader: S3Keys;
  client: S3Client;
  put(bucket: string, key: string, body: Buffer): Promise<void>;
  createBucket(bucket: string): Promise<void>;
  /** Stops the server and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
  logPath: string;
}

/** Thrown when weed exits before its gateway answers: with fresh ports a second try may work. */
class WeedExited extends GiveUp {}

/** The last lines of a log, for an error message (the temp dir is gone after stop). */
function tail(file: string, lines = 15): string {
  return existsSync(file) ? readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') : '(no log)';
}

/**
 * Starts SeaweedFS. Its eight ports are picked free, then bound by weed a moment later, so on a
 * busy machine another process may take one in between (the likely cause of a CI run's weed
 * exiting at once with 255; its log was gone, so unconfirmed). An exit before the gateway
 * answers is retried with fresh ports, twice; any other failure is not.
 */
export async function startS3Store(): Promise<S3Store> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startS3StoreOnce();
    } catch (err) {
      if (!(err instanceof WeedExited) || attempt >= 3) throw err;
    }
  }
}

async function startS3StoreOnce(): Promise<S3Store> {
  const weed = ensureSeaweedfs();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'modelgate-s3-'));
  const admin = { accessKeyId: 'MGADMINKEY0000000001', secretAccessKey: 'mg-admin-secret-0000000000000000000000' };
  const reader = { accessKeyId: 'MGREADERKEY000000001', secretAccessKey: 'mg-reader-secret-000000000000000000000' };
  const identities = {
    identities: [
      { name: 'admin', credentials: [{ accessKey: admin.accessKeyId, secretKey: admin.secretAccessKey }], actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'] },
      { name: 'reader', credentials: [{ accessKey: reader.accessKeyId, secretKey: reader.secretAccessKey }], actions: ['Read', 'List'] },
    ],
  };
  const config = path.join(dir, 's3.json');
  writeFileSync(config, JSON.stringify(identities));
  const ports = { master: await freePort(), volume: await freePort(), filer: await freePort(), s3: await freePort() };
  const grpc = { master: await freePort(), volume: await freePort(), filer: await freePort(), s3: await freePort() };
  mkdirSync(path.join(dir, 'data'));
  const logPath = path.join(dir, 'weed.log');
  const args = [
    'server', `-dir=${path.join(dir, 'data')}`, '-ip=127.0.0.1', '-ip.bind=127.0.0.1',
    `-master.port=${ports.master}`, `-master.port.grpc=${grpc.master}`, `-volume.port=${ports.volume}`, `-volume.port.grpc=${grpc.volume}`,
    `-filer.port=${ports.filer}`, `-filer.port.grpc=${grpc.filer}`, '-s3', `-s3.port=${ports.s3}`, `-s3.port.grpc=${grpc.s3}`, `-s3.config=${config}`,
    '-s3.port.iceberg=0', '-s3.port.lance=0', '-master.volumeSizeLimitMB=64', '-volume.max=4', '-metricsPort=0',
  ];
  const proc = startProcess('seaweedfs', weed, args, logPath, process.env, { cwd: dir });
  const endpoint = `http://127.0.0.1:${ports.s3}`;
  const region = 'us-east-1';
  const client = new S3Client({ endpoint, region, forcePathStyle: true, credentials: admin });
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    client.destroy();
    await stopProcess(proc);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // Ready when the S3 gateway answers a signed request (it refuses until the filer is up).
    await waitFor('the SeaweedFS S3 gateway', async () => {
      if (proc.child.exitCode !== null) throw new WeedExited(`weed exited with ${proc.child.exitCode}; the end of ${logPath}:\n${tail(logPath)}`);
      try {
        await client.send(new CreateBucketCommand({ Bucket: 'modelgate-probe' }));
        return true;
      } catch {
        return undefined;
      }
    }, 90_000, 500);
  } catch (err) {
    // The log's end goes into the error before stop removes the temp dir.
    const e = err instanceof GiveUp ? err : new Error(`${(err as Error).message}\nthe end of ${logPath}:\n${tail(logPath)}`);
    await stop();
    throw e;
  }
  return {
    endpoint, region, admin, reader, client, logPath, stop,
    createBucket: async (bucket) => void (await client.send(new CreateBucketCommand({ Bucket: bucket }))),
    put: async (bucket, key, body) => void (await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }))),
  };
}
