// The operator for tests: in-process (fast, inspectable) or as a real child process (for kill,
// restart and leader-election tests), always against the real control plane.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ModelCheckpoint } from '../../src/api/types.js';
import { parseConfig, type OperatorConfig } from '../../src/operator/config.js';
import { startOperator, type RunningOperator } from '../../src/operator/operator.js';
import { liveGuard } from '../../src/operator/wiring.js';
import { createLogger } from '../../src/observability/logger.js';
import { OnnxValidator, type ValidatorOptions } from '../../src/validation/pipeline.js';
import type { CheckpointValidator } from '../../src/validation/contract.js';
import { repoRoot } from './binaries.js';
import type { ControlPlane } from './controlplane.js';
import { startProcess, stopProcess, waitFor, type Managed } from './process.js';

export interface TestOperatorOptions {
  fileRoots?: string[];
  trustedHosts?: string[];
  prometheusUrl?: string;
  validator?: CheckpointValidator;
  validatorOptions?: Partial<ValidatorOptions>;
  workers?: number;
  logLevel?: OperatorConfig['logLevel'];
  extraArgs?: string[];
  /** Talk to the apiserver through this kubeconfig instead of the control plane's own (e.g. a proxy). */
  kubeconfig?: string;
}

export interface TestOperator {
  op: RunningOperator;
  validator: CheckpointValidator;
  cacheDir: string;
  stop(): Promise<void>;
}

export function baseArgs(cp: ControlPlane, cacheDir: string, o: TestOperatorOptions): string[] {
  return [
    `--kubeconfig=${o.kubeconfig ?? cp.kubeconfigPath}`,
    '--bind-host=127.0.0.1',
    '--health-port=0',
    '--metrics-port=0',
    `--cache-dir=${cacheDir}`,
    `--file-roots=${(o.fileRoots ?? [os.tmpdir()]).join(',')}`,
    `--trusted-hosts=${(o.trustedHosts ?? ['127.0.0.1', 'localhost']).join(',')}`,
    `--log-level=${o.logLevel ?? (process.env.MODELGATE_TEST_LOG ? 'debug' : 'warn')}`,
    ...(o.prometheusUrl ? [`--prometheus-url=${o.prometheusUrl}`] : []),
    ...(o.workers ? [`--workers=${o.workers}`] : []),
    ...(o.extraArgs ?? []),
  ];
}

/** The operator in this process, leader election off, with the real ONNX validator unless given one. */
export async function startTestOperator(cp: ControlPlane, o: TestOperatorOptions = {}): Promise<TestOperator> {
  const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'modelgate-opcache-'));
  const cfg = parseConfig([...baseArgs(cp, cacheDir, o), '--leader-elect=false'], {});
  const validator = o.validator ?? new OnnxValidator({
    cacheDir,
    fileRoots: cfg.fileRoots,
    trustedHosts: cfg.trustedHosts,
    workers: 2,
    fetchRetries: 1,
    fetchBackoffMs: 100,
    ...o.validatorOptions,
  });
  if (validator instanceof OnnxValidator) await validator.start();
  // Quiet in tests unless MODELGATE_TEST_LOG is set; the status and Events are what tests read.
  const log = createLogger({ level: cfg.logLevel, fields: { component: 'operator' }, silent: !process.env.MODELGATE_TEST_LOG });
  const ref: { op?: RunningOperator } = {};
  const op = await startOperator(cfg, { validator, logger: log, ...liveGuard(cfg, log, () => ref.op?.metrics) });
  ref.op = op;
  await op.leading;
  return {
    op,
    validator,
    cacheDir,
    async stop() {
      await op.stop();
      if (!o.validator && validator instanceof OnnxValidator) await validator.close();
      rmSync(cacheDir, { recursive: true, force: true });
    },
  };
}

export interface OperatorProcess {
  proc: Managed;
  logPath: string;
  cacheDir: string;
  /** Peak resident set size of the process so far, in bytes (VmHWM). */
  peakRss(): number;
  stop(signal?: NodeJS.Signals): Promise<void>;
  kill(): Promise<void>;
}

let processCounter = 0;
// Operator logs sit beside their cache folder (a reused folder outlives one process); they are
// removed when the test process exits, so a run leaves nothing in /tmp.
const logs = new Set<string>();
process.on('exit', () => {
  for (const l of logs) rmSync(l, { force: true });
});

/** The operator as a real process (`src/operator/main.ts`), e.g. for kill and leader tests. */
export function startOperatorProcess(cp: ControlPlane, o: TestOperatorOptions & { identity?: string; leaderElect?: boolean; leaseNamespace?: string; env?: NodeJS.ProcessEnv; cacheDir?: string } = {}): OperatorProcess {
  // o.cacheDir: reuse a folder (a restart on the same volume); it is then left for the caller to remove.
  const cacheDir = o.cacheDir ?? mkdtempSync(path.join(os.tmpdir(), 'modelgate-opcache-'));
  const logPath = o.cacheDir
    ? path.join(path.dirname(cacheDir), `${path.basename(cacheDir)}-${Date.now().toString(36)}-${(processCounter++).toString(36)}.log`)
    : path.join(cacheDir, '..', `${path.basename(cacheDir)}.log`);
  const args = [
    '--import', 'tsx', path.join(repoRoot, 'src', 'operator', 'main.ts'),
    ...baseArgs(cp, cacheDir, { logLevel: 'info', ...o }),
    `--leader-elect=${o.leaderElect ?? false}`,
    ...(o.identity ? [`--identity=${o.identity}`] : []),
    ...(o.leaseNamespace ? [`--namespace=${o.leaseNamespace}`] : []),
    '--lease-duration=4', '--renew-deadline=3', '--retry-period=0.5',
  ];
  logs.add(logPath);
  const proc = startProcess(`operator-${o.identity ?? 'single'}`, process.execPath, args, logPath, { ...process.env, ...o.env });
  return {
    proc,
    logPath,
    cacheDir,
    peakRss() {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.child.pid}/status`, 'utf8'));
        return m ? Number(m[1]) * 1024 : 0;
      } catch {
        return 0;
      }
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      await stopProcess(proc, 20_000, signal);
      if (!o.cacheDir) rmSync(cacheDir, { recursive: true, force: true });
    },
    async kill() {
      proc.child.kill('SIGKILL');
      await proc.exited;
    },
  };
}

/** Waits until the checkpoint satisfies `pred`; the error names the last phase seen. */
export async function waitForCheckpoint(cp: ControlPlane, namespace: string, name: string, pred: (c: ModelCheckpoint) => boolean, timeoutMs = 60_000): Promise<ModelCheckpoint> {
  let last: ModelCheckpoint | undefined;
  try {
    return await waitFor(`checkpoint ${namespace}/${name}`, async () => {
      const r = await cp.kubectl(['get', 'modelcheckpoint', name, '-n', namespace, '-o', 'json']);
      if (r.code !== 0) return undefined;
      last = JSON.parse(r.stdout) as ModelCheckpoint;
      return pred(last) ? last : undefined;
    }, timeoutMs, 250);
  } catch (err) {
    const s = last?.status;
    throw new Error(`${(err as Error).message}; last phase ${s?.phase}, conditions ${JSON.stringify(s?.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}: ${c.message}`))}`);
  }
}

export const phaseIs = (...phases: string[]) => (c: ModelCheckpoint): boolean => phases.includes(c.status?.phase ?? '');
