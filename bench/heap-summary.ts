// What holds a heap snapshot's bytes: self sizes summed by node type and constructor (or string),
// largest first. For the snapshot bench/heap.ts writes with --snapshot yes:
//   npx tsx bench/heap-summary.ts bench/results/heap-500.heapsnapshot [--top 25]
import { readFileSync } from 'node:fs';
import { numFlag } from './lib.js';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

const file = process.argv[2];
if (!file) throw new Error('usage: npx tsx bench/heap-summary.ts <file.heapsnapshot> [--top 25]');
const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
const fields = snap.snapshot.meta.node_fields;
const types = snap.snapshot.meta.node_types[0];
const [iType, iName, iSize] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [number, number, number];
const sums = new Map<string, { bytes: number; count: number }>();
let total = 0;
for (let i = 0; i < snap.nodes.length; i += fields.length) {
  const type = types[snap.nodes[i + iType]!] ?? '?';
  const name = snap.strings[snap.nodes[i + iName]!] ?? '';
  const key = type === 'object' || type === 'closure' ? `${type} ${name}` : type;
  const size = snap.nodes[i + iSize]!;
  const s = sums.get(key) ?? { bytes: 0, count: 0 };
  s.bytes += size;
  s.count++;
  sums.set(key, s);
  total += size;
}
const top = [...sums.entries()].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, numFlag('top', 25));
process.stdout.write(`| what | count | KiB | share |\n| --- | --- | --- | --- |\n${top.map(([k, v]) => `| ${k} | ${v.count} | ${(v.bytes / 1024).toFixed(0)} | ${((100 * v.bytes) / total).toFixed(1)}% |`).join('\n')}\n\ntotal ${(total / 1024 / 1024).toFixed(1)} MiB\n`);
