// Benchmark: does the regression gate decide right? Runs the real CLI, `modelgate validate`, on
// every production/candidate pair of a corpus whose true quality is known (scikit-learn models
// trained on real data, exported to ONNX; truth measured on a large population, each holdout a
// small noisy draw from it: see bench/decision/make_corpus.py), and counts
//   - unsafe promotions: truly bad (> 15% worse) yet passed;
//   - false blocks: truly fine (<= 5% worse) yet blocked as Regression (and, apart, fine but
//     blocked as InsufficientEvidence);
//   - the too-little-evidence rate (InsufficientEvidence among all, fine and bad pairs);
// and, side by side from the same JSON, the naive point-estimate rule: block iff the holdout
// point estimate of the primary metric's degradation is above 0.15 (the SEVERE band edge).
//
//   npx tsx bench/decision.ts [--corpus DIR] [--concurrency 2] [--limit N] [--json-out FILE]
//                             [--seed S] [--pairs-per-task N]
//
// --limit N runs N pairs taken in turn from each (task, class) of the corpus.
// Without --corpus it runs make_corpus.py (with --seed / --pairs-per-task) into a temporary
// folder and removes it afterwards. Per-pair results go to --json-out (default
// bench/results/decision.json). A pair that exits 2, crashes or prints no JSON is an error:
// counted, listed, never dropped.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchDir, flag, log, numFlag, resultsDir, table } from './lib.js';

const SEVERE = 0.15;

interface Pair {
  id: string;
  task: 'classification' | 'regression' | 'conversion';
  taskName: string;
  dataset: string;
  holdoutSize: number;
  production: string;
  candidate: string;
  holdout: string;
  outputName: string;
  primaryMetric: string;
  candidateRecipe: string;
  trueProduction: number;
  trueCandidate: number;
  trueDegradation: number;
  class: 'fine' | 'between' | 'bad';
}

type Outcome = 'passed' | 'Regression' | 'InsufficientEvidence' | 'other' | 'error';

interface Comparison {
  metric: string;
  source: 'holdout' | 'training';
  candidate: number;
  baseline: number;
  degradation: number;
  severity: string;
  critical: boolean;
  ci95?: { low: number; high: number };
}

interface PairResult {
  id: string;
  taskName: string;
  task: string;
  holdoutSize: number;
  class: Pair['class'];
  candidateRecipe: string;
  primaryMetric: string;
  trueDegradation: number;
  exitCode: number | null;
  outcome: Outcome;
  passed: boolean | undefined;
  reason: string | undefined;
  regressionReason: string | undefined;
  severity: string | undefined;
  message: string | undefined;
  /** Point-estimate degradation of the primary metric on the holdout, from candidate/baseline. */
  pointDegradation: number | undefined;
  /** The primary metric of each model on the holdout, as the gate measured it. */
  holdoutCandidate: number | undefined;
  holdoutBaseline: number | undefined;
  /** The gate's own numbers for the primary metric (ci95: of candidate - baseline). */
  gateDegradation: number | undefined;
  ci95: { low: number; high: number } | undefined;
  naiveBlocks: boolean | undefined;
  blockingMetrics: string[];
  error: string | undefined;
  ms: number;
}

const repoRoot = path.resolve(benchDir, '..');
const nodeBin = process.execPath;
const concurrency = Math.max(1, Math.floor(numFlag('concurrency', 2)));
const limit = flag('limit', '') === '' ? Infinity : numFlag('limit', 0);
const jsonOut = path.resolve(flag('json-out', path.join(resultsDir, 'decision.json')));
const corpusFlag = flag('corpus', '');

function fail(message: string): never {
  process.stderr.write(`decision: ${message}\n`);
  process.exit(2);
}

/** Higher-is-better metrics of the tasks' primary ones; rmse (and other errors) are lower-is-better. */
function relativeWorsening(metric: string, candidate: number, baseline: number): number {
  const higher = metric === 'accuracy' || metric === 'auc';
  if (!Number.isFinite(candidate) || !Number.isFinite(baseline)) return NaN;
  if (baseline === 0) return candidate === baseline ? 0 : higher ? (candidate < 0 ? Infinity : 0) : Infinity;
  return higher ? (baseline - candidate) / baseline : (candidate - baseline) / baseline;
}

function makeCorpus(): { dir: string; cleanup: () => void } {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'modelgate-decision-'));
  const dir = path.join(tmp, 'corpus');
  const script = path.join(benchDir, 'decision', 'make_corpus.py');
  const args = [script, '--out', dir, '--seed', flag('seed', '1'), '--pairs-per-task', flag('pairs-per-task', '48')];
  log(`no --corpus: python3 ${args.map((a) => path.relative(repoRoot, a) || a).join(' ')}`);
  const r = spawnSync('python3', args, { stdio: ['ignore', 'inherit', 'inherit'] });
  const cleanup = (): void => rmSync(tmp, { recursive: true, force: true });
  if (r.status !== 0) {
    cleanup();
    fail(`${path.relative(repoRoot, script)} failed (${r.error ? r.error.message : `exit ${r.status ?? r.signal}`}); it needs python3 with scikit-learn, skl2onnx, onnx and numpy`);
  }
  return { dir, cleanup };
}

function readCorpus(dir: string): { pairs: Pair[]; seed: unknown } {
  const file = path.join(dir, 'corpus.json');
  if (!existsSync(file)) fail(`${file} does not exist: pass --corpus with a folder written by bench/decision/make_corpus.py`);
  let manifest: { pairs?: Pair[]; seed?: unknown };
  try {
    manifest = JSON.parse(readFileSync(file, 'utf8')) as { pairs?: Pair[]; seed?: unknown };
  } catch (err) {
    fail(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(manifest.pairs) || manifest.pairs.length === 0) fail(`${file} lists no pairs`);
  for (const p of manifest.pairs) {
    for (const k of ['production', 'candidate', 'holdout'] as const) {
      if (typeof p[k] !== 'string' || !existsSync(path.join(dir, p[k]))) fail(`${file}: pair ${p.id} names ${k} ${String(p[k])}, which does not exist in ${dir}`);
    }
  }
  return { pairs: manifest.pairs, seed: manifest.seed };
}

/** The CLI runs in flight, stopped when this run is interrupted. */
const live = new Set<ChildProcess>();

function runCli(args: string[]): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(nodeBin, ['--import', 'tsx', path.join(repoRoot, 'src', 'cli', 'main.ts'), ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    child.on('exit', () => live.delete(child));
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => resolve({ code: null, signal: null, stdout, stderr: `${stderr}\n${err.message}` }));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

interface CliReport {
  passed?: boolean;
  reason?: string;
  message?: string;
  severity?: string;
  stages?: Array<{ stage: string; reason: string; verdict: string }>;
  full?: { regression?: { comparisons?: Comparison[] } };
}

function blankResult(p: Pair): PairResult {
  return {
    id: p.id, taskName: p.taskName, task: p.task, holdoutSize: p.holdoutSize, class: p.class, candidateRecipe: p.candidateRecipe,
    primaryMetric: p.primaryMetric, trueDegradation: p.trueDegradation, exitCode: null, outcome: 'error', passed: undefined,
    reason: undefined, regressionReason: undefined, severity: undefined, message: undefined, pointDegradation: undefined,
    holdoutCandidate: undefined, holdoutBaseline: undefined, gateDegradation: undefined, ci95: undefined, naiveBlocks: undefined, blockingMetrics: [], error: undefined, ms: 0,
  };
}

async function runPair(dir: string, p: Pair): Promise<PairResult> {
  const args = [
    'validate',
    '--candidate', path.join(dir, p.candidate),
    '--baseline', path.join(dir, p.production),
    '--holdout', path.join(dir, p.holdout),
    '--task', p.task,
    '--output-name', p.outputName,
    '--skip-benchmark', '-q', '-o', 'json',
  ];
  const t0 = Date.now();
  const r = await runCli(args);
  const ms = Date.now() - t0;
  const base: PairResult = { ...blankResult(p), exitCode: r.code, ms };
  const tail = (s: string): string => s.trim().split('\n').slice(-3).join(' | ').slice(0, 400);
  if (r.code !== 0 && r.code !== 1) return { ...base, error: `exit ${r.code ?? r.signal}: ${tail(r.stderr) || tail(r.stdout) || 'no output'}` };
  let rep: CliReport;
  try {
    rep = JSON.parse(r.stdout) as CliReport;
  } catch (err) {
    return { ...base, error: `exit ${r.code} without JSON on stdout (${(err as Error).message}): ${tail(r.stderr)}` };
  }
  if (typeof rep.passed !== 'boolean' || (rep.passed ? 0 : 1) !== r.code) {
    return { ...base, error: `exit ${r.code} but the report says passed=${String(rep.passed)} (${rep.reason ?? 'no reason'})` };
  }
  const regStage = rep.stages?.find((s) => s.stage === 'regression');
  const comparisons = rep.full?.regression?.comparisons ?? [];
  const primary = comparisons.find((c) => c.source === 'holdout' && c.metric === p.primaryMetric);
  const point = primary ? relativeWorsening(p.primaryMetric, primary.candidate, primary.baseline) : undefined;
  const insufficient = rep.reason === 'InsufficientEvidence' || regStage?.reason === 'InsufficientEvidence';
  let outcome: Outcome;
  if (insufficient) outcome = 'InsufficientEvidence';
  else if (rep.passed) outcome = 'passed';
  else if (rep.reason === 'Regression') outcome = 'Regression';
  else outcome = 'other';
  const rank = ['NONE', 'MINOR', 'MODERATE', 'SEVERE', 'CRITICAL'];
  return {
    ...base,
    outcome,
    passed: rep.passed,
    reason: rep.reason,
    regressionReason: regStage?.reason,
    severity: rep.severity,
    message: outcome === 'passed' ? undefined : rep.message,
    pointDegradation: point,
    holdoutCandidate: primary?.candidate,
    holdoutBaseline: primary?.baseline,
    gateDegradation: primary?.degradation,
    ci95: primary?.ci95 ? { low: primary.ci95.low, high: primary.ci95.high } : undefined,
    // NaN never passes: a NaN point estimate blocks, as it would in the gate.
    naiveBlocks: point === undefined ? undefined : !(point <= SEVERE),
    blockingMetrics: comparisons.filter((c) => c.critical && rank.indexOf(c.severity) >= rank.indexOf('SEVERE')).map((c) => `${c.source === 'training' ? 'training.' : ''}${c.metric}`),
  };
}

async function runAll(dir: string, pairs: Pair[]): Promise<PairResult[]> {
  const results: PairResult[] = new Array(pairs.length);
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= pairs.length) return;
      const p = pairs[i]!;
      let r: PairResult;
      try {
        r = await runPair(dir, p);
      } catch (err) {
        r = { ...blankResult(p), error: `runner: ${(err as Error).message}` };
      }
      results[i] = r;
      done++;
      if (done % 10 === 0 || done === pairs.length) log(`${done}/${pairs.length} pairs`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, pairs.length) }, worker));
  return results;
}

// ---------------------------------------------------------------- figures

const pct = (k: number, n: number): string => (n === 0 ? '–' : `${k}/${n} (${((100 * k) / n).toFixed(1)}%)`);

interface Figures {
  pairs: number;
  fine: number;
  between: number;
  bad: number;
  passed: number;
  regression: number;
  insufficient: number;
  other: number;
  errors: number;
  unsafe: number;
  falseBlocks: number;
  fineInsufficient: number;
  fineOther: number;
  badInsufficient: number;
  naiveScored: number;
  naiveUnsafe: number;
  naiveFalseBlocks: number;
  naiveBad: number;
  naiveFine: number;
}

function figures(rs: PairResult[]): Figures {
  const fine = rs.filter((r) => r.class === 'fine');
  const bad = rs.filter((r) => r.class === 'bad');
  const scored = rs.filter((r) => r.naiveBlocks !== undefined);
  return {
    pairs: rs.length,
    fine: fine.length,
    between: rs.filter((r) => r.class === 'between').length,
    bad: bad.length,
    passed: rs.filter((r) => r.outcome === 'passed').length,
    regression: rs.filter((r) => r.outcome === 'Regression').length,
    insufficient: rs.filter((r) => r.outcome === 'InsufficientEvidence').length,
    other: rs.filter((r) => r.outcome === 'other').length,
    errors: rs.filter((r) => r.outcome === 'error').length,
    // Promoted = the CLI exited 0, whatever the reason (an InsufficientEvidence that passes counts).
    unsafe: bad.filter((r) => r.passed === true).length,
    falseBlocks: fine.filter((r) => r.outcome === 'Regression').length,
    fineInsufficient: fine.filter((r) => r.outcome === 'InsufficientEvidence').length,
    fineOther: fine.filter((r) => r.outcome === 'other').length,
    badInsufficient: bad.filter((r) => r.outcome === 'InsufficientEvidence').length,
    naiveScored: scored.length,
    naiveBad: scored.filter((r) => r.class === 'bad').length,
    naiveFine: scored.filter((r) => r.class === 'fine').length,
    naiveUnsafe: scored.filter((r) => r.class === 'bad' && r.naiveBlocks === false).length,
    naiveFalseBlocks: scored.filter((r) => r.class === 'fine' && r.naiveBlocks === true).length,
  };
}

function groups<T>(rs: T[], key: (r: T) => string, order?: string[]): Array<[string, T[]]> {
  const m = new Map<string, T[]>();
  for (const k of order ?? []) m.set(k, []);
  for (const r of rs) m.set(key(r), [...(m.get(key(r)) ?? []), r]);
  return [...m.entries()].filter(([, v]) => v.length > 0);
}

function gateTable(rows: Array<[string, Figures]>): string {
  return table(
    ['', 'pairs (fine/between/bad)', 'passed', 'blocked Regression', 'InsufficientEvidence', 'other', 'errors', 'unsafe promotions (bad passed)', 'false blocks (fine blocked Regression)', 'fine InsufficientEvidence', 'InsufficientEvidence rate all / fine / bad'],
    rows.map(([name, f]) => [
      name, `${f.pairs} (${f.fine}/${f.between}/${f.bad})`, f.passed, f.regression, f.insufficient, f.other, f.errors,
      pct(f.unsafe, f.bad), pct(f.falseBlocks, f.fine), pct(f.fineInsufficient, f.fine),
      `${pct(f.insufficient, f.pairs)} / ${pct(f.fineInsufficient, f.fine)} / ${pct(f.badInsufficient, f.bad)}`,
    ]),
  );
}

function naiveTable(rows: Array<[string, Figures]>): string {
  return table(
    ['', 'gate: unsafe promotions', 'naive: unsafe promotions', 'gate: false blocks', 'naive: false blocks'],
    rows.map(([name, f]) => [name, pct(f.unsafe, f.bad), pct(f.naiveUnsafe, f.naiveBad), pct(f.falseBlocks, f.fine), pct(f.naiveFalseBlocks, f.naiveFine)]),
  );
}

const fmt = (v: number | undefined): string => (v === undefined ? '–' : Number.isFinite(v) ? v.toFixed(3) : String(v));

async function main(): Promise<void> {
  const made = corpusFlag ? undefined : makeCorpus();
  const dir = corpusFlag ? path.resolve(corpusFlag) : made!.dir;
  // An interrupted run still removes the corpus it made.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const c of live) c.kill('SIGTERM');
      made?.cleanup();
      process.exit(130);
    });
  }
  try {
    const corpus = readCorpus(dir);
    let pairs = corpus.pairs;
    if (Number.isFinite(limit) && limit < pairs.length) {
      // Round robin over (task, class), so a short run still covers every task and class.
      const n = Math.max(1, Math.floor(limit));
      const queues = groups(pairs, (p) => `${p.taskName}/${p.class}`).map(([, v]) => [...v]);
      const picked: Pair[] = [];
      while (picked.length < n) for (const q of queues) if (q.length > 0 && picked.length < n) picked.push(q.shift()!);
      pairs = picked;
    }
    log(`${pairs.length} pairs from ${corpusFlag ? dir : 'a fresh corpus'}, concurrency ${concurrency}`);
    const t0 = Date.now();
    const results = await runAll(dir, pairs);
    const wallS = (Date.now() - t0) / 1000;

    const taskOrder = ['binary', 'multiclass', 'regression', 'conversion'];
    const byTask = groups(results, (r) => r.taskName, taskOrder).map(([k, v]): [string, Figures] => [k, figures(v)]);
    const rows: Array<[string, Figures]> = [...byTask, ['**all**', figures(results)]];
    const bySize = groups(results, (r) => String(r.holdoutSize), ['100', '200', '400', '800']).map(([k, v]): [string, Figures] => [`holdout ${k}`, figures(v)]);

    const errors = results.filter((r) => r.outcome === 'error');
    const others = results.filter((r) => r.outcome === 'other');
    const unsafe = results.filter((r) => r.class === 'bad' && r.passed === true);
    const falseBlocks = results.filter((r) => r.class === 'fine' && r.outcome === 'Regression');
    const list = (rs: PairResult[], what: (r: PairResult) => string): string =>
      rs.map((r) => `- ${r.id} (${r.candidateRecipe}; holdout ${r.holdoutSize}): true ${fmt(r.trueDegradation)}, holdout point ${fmt(r.pointDegradation)}${r.ci95 ? `, CI of change [${fmt(r.ci95.low)}, ${fmt(r.ci95.high)}]` : ''}; ${what(r)}`).join('\n');
    const blockedBy = (rs: PairResult[]): string => {
      const counts = new Map<string, number>();
      for (const r of rs) for (const m of r.blockingMetrics) counts.set(m, (counts.get(m) ?? 0) + 1);
      return [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([m, n]) => `${m} ${n}`).join(', ') || 'none';
    };

    const md = [
      `### Decision benchmark (${new Date().toISOString().slice(0, 10)})`,
      '',
      `\`npx tsx bench/decision.ts${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}\`: ${results.length} pairs (corpus seed ${String(corpus.seed)}), wall time ${wallS.toFixed(0)} s at concurrency ${concurrency}` +
        ` (${(results.reduce((a, r) => a + r.ms, 0) / Math.max(1, results.length) / 1000).toFixed(1)} s per \`modelgate validate\`).` +
        ' Truly fine: ≤ 5% worse on the population; truly bad: > 15% worse. Naive rule: block iff the holdout point estimate of the primary metric is > 15% worse.',
      '',
      gateTable(rows),
      '',
      'By holdout size:',
      '',
      gateTable(bySize),
      '',
      'The gate against the naive point-estimate rule on the same runs:',
      '',
      naiveTable([...rows, ...bySize]),
      '',
      `Metrics at SEVERE or worse among the false blocks: ${blockedBy(falseBlocks)}.`,
    ].join('\n');

    process.stdout.write(`\n${md}\n`);
    if (unsafe.length) process.stdout.write(`\nUnsafe promotions:\n${list(unsafe, (r) => `${r.reason}`)}\n`);
    if (falseBlocks.length) process.stdout.write(`\nFalse blocks:\n${list(falseBlocks, (r) => `blocked by ${r.blockingMetrics.join(', ') || '?'}`)}\n`);
    if (others.length) process.stdout.write(`\nOther outcomes:\n${list(others, (r) => `${r.reason}: ${r.message ?? ''}`)}\n`);
    if (errors.length) process.stdout.write(`\nErrors (${errors.length}):\n${errors.map((r) => `- ${r.id}: ${r.error}`).join('\n')}\n`);

    mkdirSync(path.dirname(jsonOut), { recursive: true });
    writeFileSync(jsonOut, `${JSON.stringify({ benchmark: 'decision', at: new Date().toISOString(), argv: process.argv.slice(2), corpus: corpusFlag ? dir : '(temporary)', wallSeconds: wallS, concurrency, figures: Object.fromEntries(rows.concat(bySize)), pairs: results }, null, 2)}\n`);
    log(`per-pair results: ${jsonOut}`);
    if (errors.length > 0) process.exitCode = 1;
  } finally {
    made?.cleanup();
  }
}

await main();
