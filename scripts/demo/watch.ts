// Follows the ModelCheckpoints of the demo namespace (a list every 250 ms) and prints what
// changes as it happens: phase transitions with their reason, each gate's verdict with its
// numbers (status.stages[].summary), and the live guard's measurements. Steps wait on it.
import type { Measurement, ModelCheckpoint, StageResult } from '../../src/api/types.js';
import { KubeClient, loadKubeConfig, paths } from '../../src/kube/client.js';
import { c, num, phaseColour, ui, verdictColour } from './ui.js';

interface Seen {
  phase?: string;
  stages: Set<string>;
  measurements: Set<string>;
}

export class CheckpointWatcher {
  private readonly client: KubeClient;
  private readonly seen = new Map<string, Seen>();
  private latest = new Map<string, ModelCheckpoint>();
  private stopped = false;
  private loop?: Promise<void>;
  private readonly waiters = new Set<() => void>();
  lastError?: string;

  constructor(kubeconfigPath: string, private readonly namespace: string) {
    this.client = new KubeClient(loadKubeConfig(kubeconfigPath), { qps: 50, burst: 100, userAgent: 'modelgate-demo' });
  }

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        await this.poll();
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  get(name: string): ModelCheckpoint | undefined {
    return this.latest.get(name);
  }

  /** Reads once more now (so a wait sees the newest state), then resolves when `pred` holds. */
  async waitFor(name: string, what: string, pred: (cp: ModelCheckpoint) => boolean, timeoutMs: number): Promise<ModelCheckpoint> {
    await this.poll();
    const now = this.latest.get(name);
    if (now && pred(now)) return now;
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const cp = this.latest.get(name);
        if (cp && pred(cp)) {
          done();
          resolve(cp);
        }
      };
      const timer = setTimeout(() => {
        done();
        const cp = this.latest.get(name);
        const ready = cp?.status?.conditions?.find((x) => x.type === 'Ready');
        reject(new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${name} to be ${what}; it is ${cp?.status?.phase ?? 'not there'}${ready ? ` (${ready.reason}: ${ready.message})` : ''}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  private async poll(): Promise<void> {
    let items: ModelCheckpoint[];
    try {
      items = (await this.client.get<{ items: ModelCheckpoint[] }>(paths.checkpoints(this.namespace))).items;
      this.lastError = undefined;
    } catch (err) {
      this.lastError = err instanceof Error ? err.message : String(err);
      return;
    }
    items.sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? ''));
    for (const cp of items) {
      this.latest.set(cp.metadata.name as string, cp);
      this.report(cp);
    }
    for (const w of [...this.waiters]) w();
  }

  private report(cp: ModelCheckpoint): void {
    const name = cp.metadata.name as string;
    let s = this.seen.get(name);
    if (!s) this.seen.set(name, (s = { stages: new Set(), measurements: new Set() }));
    const st = cp.status ?? {};
    const phase = st.phase;
    const changed = phase !== undefined && phase !== s.phase;
    // Gate verdicts first (they lead to the phase); measurements after a phase that starts the
    // watch, before one that concludes it, so the deciding measurement reads before RolledBack.
    const concluding = changed && ['Healthy', 'RolledBack', 'Rejected', 'Failed', 'Superseded'].includes(phase);
    for (const stage of st.stages ?? []) {
      const key = `${cp.metadata.generation}/${stage.stage}/${stage.verdict}/${stage.reason}`;
      if (s.stages.has(key)) continue;
      s.stages.add(key);
      ui.detail(describeStage(name, stage));
    }
    if (changed && !concluding) this.phaseLine(name, s, st);
    for (const m of st.analysis?.measurements ?? []) {
      const key = `${m.metric}/${m.at}`;
      if (s.measurements.has(key)) continue;
      s.measurements.add(key);
      ui.detail(describeMeasurement(name, m));
    }
    if (concluding) this.phaseLine(name, s, st);
  }

  private phaseLine(name: string, s: Seen, st: NonNullable<ModelCheckpoint['status']>): void {
    const phase = st.phase as string;
    const from = s.phase;
    s.phase = phase;
    const last = [...(st.history ?? [])].sort((a, b) => a.time.localeCompare(b.time)).at(-1);
    const why = last && last.phase === phase ? `  ${c.dim(`${last.reason}: ${truncate(last.message, 160)}`)}` : '';
    ui.info(`${c.bold(name)} ${from ? `${phaseColour(from)} → ` : ''}${phaseColour(phase)}${why}`);
  }
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

const SKIP_KEYS = new Set(['severity']);

export function describeStage(name: string, stage: StageResult): string {
  const summary = Object.entries(stage.summary ?? {})
    .filter(([k]) => !SKIP_KEYS.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'number' ? num(v) : String(v)}`)
    .join(' ');
  const sev = stage.severity ? ` ${stage.severity}` : '';
  const ms = stage.durationMs !== undefined ? c.dim(` ${stage.durationMs} ms`) : '';
  return `${name} gate ${stage.stage.padEnd(12)} ${verdictColour(stage.verdict)}${sev} (${stage.reason})${ms}${summary ? `  ${c.dim(summary)}` : ''}`;
}

export function describeMeasurement(name: string, m: Measurement): string {
  const phase = m.phase === 'Successful' ? c.green(m.phase) : m.phase === 'Failed' ? c.red(m.phase) : c.yellow(m.phase);
  const nums = [
    m.value !== undefined ? `value=${num(m.value)}` : undefined,
    m.baseline !== undefined ? `baseline=${num(m.baseline)}` : undefined,
    m.severity ? `severity=${m.severity}` : undefined,
    m.bound ? `bound="${m.bound}"` : undefined,
  ].filter(Boolean).join(' ');
  return `${name} measure ${m.metric} ${phase}${nums ? ` ${nums}` : ''}${m.phase !== 'Successful' && m.message ? c.dim(`  ${truncate(m.message, 140)}`) : ''}`;
}
