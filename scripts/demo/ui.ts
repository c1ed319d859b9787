// Output for `npm run demo`: one line per thing that happens, stamped with the seconds since the
// start, colours only on a terminal (NO_COLOR turns them off, FORCE_COLOR on), and the summary table.

const wantColour = (): boolean => {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false;
  if (process.env.FORCE_COLOR !== undefined && process.env.FORCE_COLOR !== '0') return true;
  return process.stdout.isTTY === true;
};

const enabled = wantColour();
const sgr = (open: number, close: number) => (s: string): string => (enabled ? `\u001b[${open}m${s}\u001b[${close}m` : s);

export const c = {
  bold: sgr(1, 22),
  dim: sgr(2, 22),
  red: sgr(31, 39),
  green: sgr(32, 39),
  yellow: sgr(33, 39),
  blue: sgr(34, 39),
  magenta: sgr(35, 39),
  cyan: sgr(36, 39),
};

const started = Date.now();

/** Seconds since the demo started, e.g. "  12.3s". */
export function elapsed(): string {
  return `${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s`;
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function out(line: string): void {
  process.stdout.write(`${c.dim(elapsed())}  ${line}\n`);
}

export const ui = {
  /** A step's heading. */
  step(n: number | string, title: string): void {
    process.stdout.write('\n');
    out(c.bold(c.blue(`── Step ${n}: ${title}`)));
  },
  /** A heading outside the numbered steps (setup, cleanup). */
  section(title: string): void {
    process.stdout.write('\n');
    out(c.bold(`── ${title}`));
  },
  info(msg: string): void {
    out(msg);
  },
  /** Indented detail under the previous line. */
  detail(msg: string): void {
    for (const l of msg.split('\n')) out(`    ${l}`);
  },
  good(msg: string): void {
    out(`${c.green('✔')} ${msg}`);
  },
  bad(msg: string): void {
    out(`${c.red('✘')} ${msg}`);
  },
  warn(msg: string): void {
    out(`${c.yellow('!')} ${msg}`);
  },
  /** Lines of another program's output, as they are. */
  verbatim(text: string): void {
    for (const l of text.replace(/\n+$/, '').split('\n')) process.stdout.write(`           ${c.dim('│')} ${l}\n`);
  },
};

/** The terminal's width, or 80 when stdout is no terminal (a pipe, a CI log). */
export function terminalWidth(): number {
  const cols = process.stdout.columns;
  return typeof cols === 'number' && cols > 0 ? cols : 80;
}

/**
 * Column widths that fit `width`: natural widths, then the widest column gives up a character
 * at a time (never below its header, nor below 6) until the row fits or nothing can shrink.
 */
export function fitWidths(natural: number[], minimums: number[], width: number): number[] {
  const w = [...natural];
  const total = (): number => w.reduce((a, b) => a + b, 0) + 2 * Math.max(0, w.length - 1);
  while (total() > width) {
    let widest = -1;
    for (let i = 0; i < w.length; i++) if (w[i]! > Math.max(minimums[i] ?? 0, 6) && (widest < 0 || w[i]! > w[widest]!)) widest = i;
    if (widest < 0) break;
    w[widest]! -= 1;
  }
  return w;
}

/** Words of `text` in lines of at most `width` characters; a longer word is broken. */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (let word of text.split(/\s+/).filter((x) => x !== '')) {
    while (word.length > width) {
      if (line) lines.push(line);
      lines.push(word.slice(0, width));
      word = word.slice(width);
      line = '';
    }
    if (!line) line = word;
    else if (line.length + 1 + word.length <= width) line += ` ${word}`;
    else {
      lines.push(line);
      line = word;
    }
  }
  if (line || lines.length === 0) lines.push(line);
  return lines;
}

/**
 * A plain text table no wider than `width` (the terminal's): cells too long for their column
 * wrap onto more lines instead of the terminal wrapping, and so cutting, the whole row.
 * `colour` may wrap cells after the widths are computed.
 */
export function table(head: string[], rows: string[][], colour?: (row: number, col: number, cell: string) => string, width = terminalWidth()): string {
  const natural = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const widths = fitWidths(natural, head.map((h) => h.length), width);
  const line = (cells: string[], row: number): string[] => {
    const wrapped = cells.map((cell, i) => wrap(cell, widths[i] ?? 1));
    const height = Math.max(...wrapped.map((w) => w.length));
    const out: string[] = [];
    for (let k = 0; k < height; k++) {
      out.push(wrapped.map((w, i) => {
        const padded = (w[k] ?? '').padEnd(widths[i] ?? 0);
        return row >= 0 && colour && w[k] !== undefined ? colour(row, i, padded) : padded;
      }).join('  ').trimEnd());
    }
    return out;
  };
  return [...line(head, -1).map((l) => c.bold(l)), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.flatMap((r, i) => line(r, i))].join('\n');
}

/** Colour for a phase name. */
export function phaseColour(phase: string): string {
  switch (phase) {
    case 'Healthy':
    case 'Deployed':
    case 'Validated':
      return c.green(phase);
    case 'Rejected':
    case 'Failed':
    case 'RolledBack':
      return c.red(phase);
    case 'Monitoring':
    case 'Deploying':
      return c.cyan(phase);
    case 'Superseded':
      return c.magenta(phase);
    default:
      return c.yellow(phase);
  }
}

export function verdictColour(verdict: string): string {
  if (verdict === 'Passed') return c.green(verdict);
  if (verdict === 'Skipped') return c.dim(verdict);
  return c.red(verdict);
}

/** A number for people: up to 4 significant digits, no trailing noise. */
export function num(v: unknown): string {
  if (typeof v !== 'number') return String(v);
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(4)));
}

export function pct(v: unknown): string {
  return typeof v === 'number' && Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${num(v * 100)}%` : String(v);
}
