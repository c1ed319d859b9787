// Output formats: aligned text tables, JSON and YAML, written to stdout.
import { stringify } from 'yaml';
import { UsageError } from './errors.js';

export type OutputFormat = 'text' | 'json' | 'yaml';

/** Checks --output against the formats a command supports. */
export function outputFormat(value: string | undefined, allowed: readonly OutputFormat[], fallback: OutputFormat, command: string): OutputFormat {
  if (value === undefined) return fallback;
  if ((allowed as readonly string[]).includes(value)) return value as OutputFormat;
  throw new UsageError(`--output ${value} is not supported by \`modelgate ${command}\`: use ${allowed.join(' or ')}.`);
}

export function write(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function toJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

export function toYaml(value: unknown): string {
  return stringify(value, { lineWidth: 0, aliasDuplicateObjects: false });
}

/** Prints a value as JSON or YAML (text callers print their own rendering). */
export function printData(format: 'json' | 'yaml', value: unknown): void {
  write(format === 'json' ? toJson(value) : toYaml(value));
}

/** An aligned table: headers in capitals, two spaces between columns, the last column unpadded. */
export function table(headers: string[], rows: Array<Array<string | number | undefined>>): string {
  const cells = [headers.map((h) => h.toUpperCase()), ...rows.map((r) => headers.map((_, i) => cell(r[i])))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd())
    .join('\n');
}

function cell(v: string | number | undefined): string {
  if (v === undefined || v === '') return '-';
  return String(v).replace(/\s+/g, ' ');
}

/** "key=value" pairs of a summary, in its own order. */
export function pairs(summary: Record<string, unknown> | undefined): string {
  if (!summary) return '';
  return Object.entries(summary)
    .map(([k, v]) => `${k}=${typeof v === 'number' ? formatNumber(v) : String(v)}`)
    .join(' ');
}

/** Six significant digits, no exponent for ordinary sizes. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(6)));
}

/** "3m", "2h", "5d" since an ISO time (kubectl's style). */
export function age(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const ms = now - Date.parse(iso);
  if (!Number.isFinite(ms)) return '-';
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** A "Label:  value" block with aligned values; undefined values are left out. */
export function fields(entries: Array<[string, string | number | undefined]>): string {
  const present = entries.filter(([, v]) => v !== undefined && v !== '');
  const width = Math.max(0, ...present.map(([k]) => k.length + 1));
  return present.map(([k, v]) => `${`${k}:`.padEnd(width)}  ${String(v)}`).join('\n');
}

export function shortDigest(digest: string | undefined): string | undefined {
  return digest ? (digest.length > 19 ? `${digest.slice(0, 19)}…` : digest) : undefined;
}
