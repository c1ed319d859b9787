// Lists the files in src/ over 400 lines and the functions over 60 (the architecture issue's
// limits), longest first. Exit code 0 either way: a report, not a gate (yet).
//
//   npx tsx scripts/sizes.ts [--file-lines 400] [--function-lines 60]
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const flag = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const maxFile = flag('file-lines', 400);
const maxFunction = flag('function-lines', 60);

const files: string[] = [];
const walk = (dir: string): void => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (p.endsWith('.ts')) files.push(p);
  }
};
walk('src');

const long: Array<[number, string]> = [];
const big: Array<[number, string]> = [];
for (const f of files) {
  const text = readFileSync(f, 'utf8');
  const lines = text.split('\n').length;
  if (lines > maxFile) big.push([lines, f]);
  const src = ts.createSourceFile(f, text, ts.ScriptTarget.Latest, true);
  const visit = (n: ts.Node): void => {
    const isFn = ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n) || ts.isArrowFunction(n) || ts.isFunctionExpression(n) || ts.isConstructorDeclaration(n);
    if (isFn && n.body) {
      const from = src.getLineAndCharacterOfPosition(n.getStart()).line;
      const to = src.getLineAndCharacterOfPosition(n.end).line;
      const name = 'name' in n && n.name ? n.name.getText() : '(anonymous)';
      if (to - from + 1 > maxFunction) long.push([to - from + 1, `${f}:${from + 1} ${name}`]);
    }
    ts.forEachChild(n, visit);
  };
  visit(src);
}
const show = (title: string, rows: Array<[number, string]>): void => {
  process.stdout.write(`${title}: ${rows.length}\n`);
  for (const [n, what] of rows.sort((a, b) => b[0] - a[0])) process.stdout.write(`  ${String(n).padStart(4)}  ${what}\n`);
};
show(`files over ${maxFile} lines`, big);
show(`functions over ${maxFunction} lines`, long);
