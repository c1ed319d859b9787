// The load generator as a process of its own, for the pod network: started inside the node's
// network namespace (nsenter --net, see podnetwork.ts startPodNetworkLoad), it finds its target
// pods itself through the apiserver (a label selector, re-read every second, since pods come
// and go across a rollout) and spreads requests over the Ready pods' IPs with loadgen.ts.
//
//   node --import tsx test/harness/loadgen-main.ts --api-server https://10.244.0.1:6443 \
//     --ca ca.crt --token-file token --namespace ns --selector app=ranker --port 8080 \
//     --model ranker --rate 20 --conversion-rate 0.5 [--click-through-rate 0.1 ...]
//     [--conversion-rate-by-version '{"v2":0.3}'] [--outcomes-token-file outcomes.token]
// The outcomes token (the pods' OUTCOMES_TOKEN, from their Secret) is read from a file, not
// an argument, so it does not show in `ps`.
//
// stdout: JSON lines, one a report interval and a last one with "final": true:
//   {"type":"stats","final":false,"at":<ms>,"pods":[{"name","ip"}],"stats":{...LoadStats}}
// stdin: JSON lines that change it while it runs: {"rate":n}, {"conversionRate":x},
// {"clickThroughRate":x}, {"stop":true}. When stdin closes (the parent went away) it stops.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import readline from 'node:readline';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { startLoad, type LoadGenerator, type LoadOptions, type LoadStats } from './loadgen.js';

export interface ReadyPod {
  name: string;
  ip: string;
}

interface PodList {
  items?: Array<{
    metadata?: { name?: string; deletionTimestamp?: string };
    status?: { podIP?: string; conditions?: Array<{ type?: string; status?: string }> };
  }>;
}

/** The pods of a list that should get traffic: Ready, with an IP, not being deleted. */
export function readyPods(list: PodList): ReadyPod[] {
  const out: ReadyPod[] = [];
  for (const p of list.items ?? []) {
    const name = p.metadata?.name;
    const ip = p.status?.podIP;
    if (!name || !ip || p.metadata?.deletionTimestamp) continue;
    if (!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) continue;
    out.push({ name, ip });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

function listPods(apiServer: string, ca: Buffer, tokenFile: string, namespace: string, selector: string): Promise<PodList> {
  const url = new URL(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`, apiServer);
  url.searchParams.set('labelSelector', selector);
  // The token is read each time, so a rotated token file is picked up.
  const token = readFileSync(tokenFile, 'utf8').trim();
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, timeout: 3000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) return reject(new Error(`listing pods: HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
        try {
          resolve(JSON.parse(text) as PodList);
        } catch (err) {
          reject(err as Error);
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('listing pods: timed out')));
    req.on('error', reject);
  });
}

const OPTIONS = {
  'api-server': { type: 'string' },
  ca: { type: 'string' },
  'token-file': { type: 'string' },
  namespace: { type: 'string' },
  selector: { type: 'string' },
  port: { type: 'string' },
  model: { type: 'string' },
  rate: { type: 'string' },
  'duration-ms': { type: 'string', default: String(3600_000) },
  'conversion-rate': { type: 'string' },
  'conversion-rate-by-version': { type: 'string' },
  'click-through-rate': { type: 'string' },
  'revenue-per-conversion': { type: 'string' },
  'cost-per-impression': { type: 'string' },
  'input-name': { type: 'string' },
  features: { type: 'string' },
  'tick-ms': { type: 'string' },
  'max-in-flight': { type: 'string' },
  'request-timeout-ms': { type: 'string' },
  'outcomes-token-file': { type: 'string' },
  random: { type: 'boolean', default: false },
  'refresh-ms': { type: 'string', default: '1000' },
  'report-ms': { type: 'string', default: '500' },
} as const;

interface CommandLine {
  apiServer: string;
  ca: Buffer;
  tokenFile: string;
  namespace: string;
  selector: string;
  port: number;
  refreshMs: number;
  reportMs: number;
  /** The load generator's options, except its targets. */
  load: Omit<LoadOptions, 'url' | 'targets'>;
}

function parseCommandLine(): CommandLine {
  const { values: v } = parseArgs({ options: OPTIONS });
  const need = (k: keyof typeof v): string => {
    const x = v[k];
    if (typeof x !== 'string' || x === '') throw new Error(`--${k} is required`);
    return x;
  };
  const num = (k: keyof typeof v): number | undefined => {
    const x = v[k];
    if (x === undefined) return undefined;
    const n = Number(x);
    if (typeof x !== 'string' || !Number.isFinite(n)) throw new Error(`--${k} must be a number, got ${String(x)}`);
    return n;
  };
  const byVersionArg = v['conversion-rate-by-version'];
  let conversionRateByVersion: Record<string, number> | undefined;
  if (byVersionArg !== undefined) {
    const parsed = JSON.parse(byVersionArg) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || Object.values(parsed).some((x) => typeof x !== 'number')) {
      throw new Error(`--conversion-rate-by-version must be a JSON object of numbers, got ${byVersionArg}`);
    }
    conversionRateByVersion = parsed as Record<string, number>;
  }
  const outcomesTokenFile = v['outcomes-token-file'];
  return {
    apiServer: need('api-server'),
    ca: readFileSync(need('ca')),
    tokenFile: need('token-file'),
    namespace: need('namespace'),
    selector: need('selector'),
    port: num('port') ?? 8080,
    refreshMs: num('refresh-ms')!,
    reportMs: num('report-ms')!,
    load: {
      model: need('model'),
      rate: num('rate') ?? 10,
      durationMs: num('duration-ms')!,
      conversionRate: num('conversion-rate') ?? 0.1,
      conversionRateByVersion,
      clickThroughRate: num('click-through-rate'),
      revenuePerConversion: num('revenue-per-conversion'),
      costPerImpression: num('cost-per-impression'),
      inputName: v['input-name'],
      features: num('features'),
      tickMs: num('tick-ms'),
      maxInFlight: num('max-in-flight'),
      requestTimeoutMs: num('request-timeout-ms'),
      outcomesToken: outcomesTokenFile === undefined ? undefined : readFileSync(outcomesTokenFile, 'utf8').trim(),
      random: v.random,
    },
  };
}

/** The Ready pods, re-listed every refreshMs; a failed list keeps the last one (a blip of the apiserver should not stop the traffic). */
async function watchPods(cl: CommandLine): Promise<{ pods: () => ReadyPod[]; listError: () => string | undefined; stop: () => void }> {
  let pods: ReadyPod[] = [];
  let listError: string | undefined;
  const refresh = async (): Promise<void> => {
    try {
      pods = readyPods(await listPods(cl.apiServer, cl.ca, cl.tokenFile, cl.namespace, cl.selector));
      listError = undefined;
    } catch (err) {
      listError = (err as Error).message;
    }
  };
  await refresh();
  let refreshing = false;
  const refresher = setInterval(() => {
    if (refreshing) return;
    refreshing = true;
    void refresh().finally(() => (refreshing = false));
  }, cl.refreshMs);
  return { pods: () => pods, listError: () => listError, stop: () => clearInterval(refresher) };
}

/** stdin JSON lines change the running generator; a closed stdin (the parent went away) stops it. */
function obeyStdin(load: LoadGenerator, finish: () => void): void {
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line.trim() === '') return;
    try {
      const cmd = JSON.parse(line) as { rate?: number; conversionRate?: number; clickThroughRate?: number; stop?: boolean };
      if (cmd.rate !== undefined) load.setRate(cmd.rate);
      if (cmd.conversionRate !== undefined) load.setConversionRate(cmd.conversionRate);
      if (cmd.clickThroughRate !== undefined) load.setClickThroughRate(cmd.clickThroughRate);
      if (cmd.stop) finish();
    } catch (err) {
      process.stdout.write(`${JSON.stringify({ type: 'error', message: `bad command ${JSON.stringify(line)}: ${(err as Error).message}` })}\n`);
    }
  });
  rl.on('close', finish);
}

async function main(): Promise<void> {
  const cl = parseCommandLine();
  const watch = await watchPods(cl);
  const load = startLoad({ ...cl.load, targets: () => watch.pods().map((p) => `http://${p.ip}:${cl.port}`) });
  const report = (stats: LoadStats, final: boolean): void => {
    process.stdout.write(`${JSON.stringify({ type: 'stats', final, at: Date.now(), pods: watch.pods(), listError: watch.listError(), stats })}\n`);
  };
  const reporter = setInterval(() => report(load.stats(), false), cl.reportMs);

  let finishing = false;
  const finish = async (): Promise<void> => {
    if (finishing) return;
    finishing = true;
    watch.stop();
    clearInterval(reporter);
    const final = await load.stop();
    report(final, true);
    process.exit(0);
  };
  void load.done.then(finish);
  process.once('SIGTERM', () => void finish());
  process.once('SIGINT', () => void finish());
  obeyStdin(load, () => void finish());
}

// Only when run as the entrypoint (unit tests import readyPods).
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`loadgen: ${(err as Error).message}\n`);
    process.exit(2);
  });
}
