// Everything the demo starts, in start order, and one stop() that takes it all down in reverse
// (also on Ctrl-C and on failure). Each stop has its own time limit, so one stuck part never
// keeps the rest running.
import { createWriteStream, mkdirSync, rmSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import { createLogger } from '../../src/observability/logger.js';
import { parseConfig } from '../../src/operator/config.js';
import { startOperator, type RunningOperator } from '../../src/operator/operator.js';
import { liveGuard } from '../../src/operator/wiring.js';
import { OnnxValidator } from '../../src/validation/pipeline.js';
import { ControlPlane } from '../../test/harness/controlplane.js';
import type { LoadGenerator } from '../../test/harness/loadgen.js';
import type { PodRunner } from '../../test/harness/podrunner.js';
import { startPrometheus, type PrometheusHandle } from '../../test/harness/prometheus.js';
import type { CheckpointWatcher } from './watch.js';

export interface DemoOperator {
  op: RunningOperator;
  validator: OnnxValidator;
  logPath: string;
  stop(): Promise<void>;
}

export class Stack {
  cp?: ControlPlane;
  prom?: PrometheusHandle;
  operator?: DemoOperator;
  pods?: PodRunner;
  load?: LoadGenerator;
  watcher?: CheckpointWatcher;
  private stopping?: Promise<void>;

  constructor(readonly workDir: string) {}

  async startControlPlane(log: (line: string) => void): Promise<ControlPlane> {
    this.cp = new ControlPlane({ log });
    await this.cp.start();
    return this.cp;
  }

  async startPrometheus(): Promise<PrometheusHandle> {
    this.prom = await startPrometheus({ scrapeInterval: 1 });
    return this.prom;
  }

  /** The operator in this process with the real ONNX validator (onnxruntime worker processes). */
  async startOperator(cp: ControlPlane, fileRoot: string, prometheusUrl: string): Promise<DemoOperator> {
    const cacheDir = path.join(this.workDir, 'operator-cache');
    mkdirSync(cacheDir, { recursive: true });
    const cfg = parseConfig([
      `--kubeconfig=${cp.kubeconfigPath}`,
      '--bind-host=127.0.0.1',
      '--health-port=0',
      '--metrics-port=0',
      `--cache-dir=${cacheDir}`,
      `--file-roots=${fileRoot}`,
      '--trusted-hosts=127.0.0.1,localhost',
      `--prometheus-url=${prometheusUrl}`,
      '--leader-elect=false',
      '--identity=demo-operator',
      `--log-level=${process.env.MODELGATE_DEMO_LOG_LEVEL ?? 'info'}`,
    ], {});
    const validator = new OnnxValidator({ cacheDir, fileRoots: cfg.fileRoots, trustedHosts: cfg.trustedHosts, workers: 2 });
    await validator.start();
    const logPath = path.join(this.workDir, 'operator.log');
    const stream: WriteStream = createWriteStream(logPath, { flags: 'a' });
    const log = createLogger({ level: cfg.logLevel, stream, fields: { component: 'operator' } });
    const ref: { op?: RunningOperator } = {};
    let op: RunningOperator;
    try {
      op = await startOperator(cfg, { validator, logger: log, ...liveGuard(cfg, log, () => ref.op?.metrics) });
    } catch (err) {
      await validator.close();
      throw err;
    }
    ref.op = op;
    const handle: DemoOperator = {
      op,
      validator,
      logPath,
      async stop() {
        await op.stop();
        await validator.close();
        await new Promise<void>((r) => stream.end(r));
      },
    };
    this.operator = handle;
    await op.leading;
    return handle;
  }

  /** Stops everything, newest first; keepWorkDir leaves the model files and logs for a look. */
  stop(opts: { keepWorkDir?: boolean } = {}): Promise<void> {
    this.stopping ??= (async () => {
      const step = async (what: string, fn: (() => Promise<unknown>) | undefined, ms = 20_000): Promise<void> => {
        if (!fn) return;
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([fn(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not stop within ${ms / 1000} s`)), ms)))]);
        } catch (err) {
          process.stderr.write(`demo: stopping ${what}: ${err instanceof Error ? err.message : String(err)}\n`);
        } finally {
          clearTimeout(timer);
        }
      };
      await step('the load generator', this.load && (() => this.load!.stop()));
      await step('the checkpoint watcher', this.watcher && (() => this.watcher!.stop()));
      await step('the pod runner', this.pods && (() => this.pods!.stop()));
      await step('the operator', this.operator && (() => this.operator!.stop()));
      await step('Prometheus', this.prom && (() => this.prom!.stop()));
      await step('the control plane', this.cp && (() => this.cp!.stop()));
      if (!opts.keepWorkDir) rmSync(this.workDir, { recursive: true, force: true, maxRetries: 3 });
    })();
    return this.stopping;
  }
}
