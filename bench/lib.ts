// Shared helpers for the benchmarks: flags, medians, results files and markdown tables.
// Every figure a benchmark reports is a ratio against a reference measured in the same run
// (these machines are noisy); absolute numbers are printed for context only.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ControlPlane } from '../test/harness/controlplane.js';

export const benchDir = path.dirname(fileURLToPath(import.meta.url));
export const resultsDir = path.join(benchDir, 'results');

/** `--name=value` or `--name value` from argv; numbers parsed by the caller. */
export function flag(name: string, fallback: string): string {
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === `--${name}`) return argv[i + 1] ?? fallback;
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return fallback;
}

export function numFlag(name: string, fallback: number): number {
  const v = Number(flag(name, String(fallback)));
  if (!Number.isFinite(v)) throw new Error(`--${name} must be a number`);
  return v;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const idx = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[idx]!;
}

/** Least-squares slope of y over x. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

export const round = (v: number, digits = 3): number => (Number.isFinite(v) ? Number(v.toPrecision(digits)) : v);

export function table(headers: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>): string => `| ${cells.map((c) => String(c)).join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

export function writeResult(name: string, result: Record<string, unknown>): string {
  mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `${name}.json`);
  writeFileSync(file, `${JSON.stringify({ benchmark: name, at: new Date().toISOString(), argv: process.argv.slice(2), ...result }, null, 2)}\n`);
  return file;
}

export function log(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A fresh control plane for one benchmark; `use` runs with it and it is always stopped. */
export async function withControlPlane<T>(use: (cp: ControlPlane) => Promise<T>): Promise<T> {
  const cp = new ControlPlane({ log: (l) => log(`[controlplane] ${l}`) });
  try {
    await cp.start();
    return await use(cp);
  } finally {
    await cp.stop();
  }
}

/** Runs `fn` with up to `n` in flight over `items`. */
export async function pool<T>(items: readonly T[], n: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, worker));
}

/** kubectl create/apply of many objects in chunks (one kubectl per chunk, `parallel` at once). */
export async function applyMany(cp: ControlPlane, namespace: string, objects: unknown[], chunk = 250, parallel = 2, verb: 'apply' | 'create' = 'create'): Promise<void> {
  const chunks: unknown[][] = [];
  for (let i = 0; i < objects.length; i += chunk) chunks.push(objects.slice(i, i + chunk));
  await pool(chunks, parallel, async (c) => {
    const list = { apiVersion: 'v1', kind: 'List', items: c };
    const r = await cp.kubectl([verb, '-n', namespace, '-f', '-', '-o', 'name'], JSON.stringify(list));
    if (r.code !== 0) throw new Error(`kubectl ${verb} failed: ${r.stderr.slice(0, 500)}`);
  });
}

/** An env var's value in a Deployment's container, or undefined. */
export function containerEnv(d: unknown, container: string, env: string): string | undefined {
  const spec = (d as { spec?: { template?: { spec?: { containers?: Array<{ name: string; env?: Array<{ name: string; value?: string }> }> } } } }).spec;
  return spec?.template?.spec?.containers?.find((c) => c.name === container)?.env?.find((e) => e.name === env)?.value;
}

/** One side of an operator-vs-bare comparison: its label in the table and its timings (ms). */
export interface ComparedSide {
  label: string;
  ms: readonly number[];
}

/**
 * Writes bench/results/<name>.json and prints the markdown table of an operator-vs-bare latency
 * comparison: medians, p90 and min of each side, and the ratio of medians against `target`.
 */
export function reportComparison(name: string, o: { heading: string; reference: string; target: number; operator: ComparedSide; bare: ComparedSide; extra?: Record<string, unknown>; trailing?: Record<string, unknown> }): void {
  const ratio = median(o.operator.ms) / median(o.bare.ms);
  const summary = (ms: readonly number[]): Record<string, unknown> => ({ median: round(median(ms), 4), p90: round(percentile(ms, 90), 4), raw: ms.map((v) => round(v, 4)) });
  const file = writeResult(name, {
    ...o.extra,
    target: `median(operator) / median(${o.reference}) <= ${o.target}`,
    operatorMs: summary(o.operator.ms),
    bareMs: summary(o.bare.ms),
    ratio: round(ratio, 3),
    met: ratio <= o.target,
    ...o.trailing,
  });
  const row = (s: ComparedSide): Array<string | number> => [s.label, round(median(s.ms)), round(percentile(s.ms, 90)), round(Math.min(...s.ms))];
  process.stdout.write(`\n### ${o.heading}\n\n${table(['path', 'median ms', 'p90 ms', 'min ms'], [row(o.operator), row(o.bare)])}\n\nratio of medians operator/bare: **${round(ratio)}** (target <= ${o.target}: ${ratio <= o.target ? 'met' : 'missed'}); results: ${file}\n`);
}
