import assert from 'node:assert/strict';
import { fitWidths, table, wrap } from '../../../scripts/demo/ui.js';

const plain = (s: string): string => s.replace(/\u001b\[[0-9;]*m/g, '');

describe('demo summary table', () => {
  const head = ['step', 'expected', 'observed', 'ok?', 'time'];
  const rows = [
    ['1. first checkpoint', 'Validated, deployed', 'Healthy; architecture Passed (NoBaseline); revision 1 → 2', 'ok', '12.3s'],
    ['4. live regression', 'rolled back by the guard', 'gates all Passed; RolledBack to v1 on conversion_rate 0.0123 vs baseline 0.0456 (relative -25% > 10%)', 'NOT OK', '48.0s'],
  ];

  for (const width of [60, 80, 120]) {
    it(`fits ${width} columns and keeps every word of every cell`, () => {
      const lines = plain(table(head, rows, undefined, width)).split('\n');
      for (const l of lines) assert.ok(l.length <= width, `line of ${l.length} > ${width}: ${l}`);
      const text = lines.join(' ');
      for (const cell of rows.flat()) for (const word of cell.split(/\s+/)) assert.ok(text.includes(word) || word.length > 6, `lost "${word}"`);
      // The short columns are never wrapped: "NOT OK" and the time stay on their row's first line.
      assert.ok(lines.some((l) => /NOT OK\s+48\.0s$/.test(l)), lines.join('\n'));
    });
  }

  it('leaves a table that already fits exactly as wide as its content', () => {
    const lines = plain(table(['a', 'b'], [['x', 'y']], undefined, 80)).split('\n');
    assert.deepEqual(lines, ['a  b', '─  ─', 'x  y']);
  });

  it('shrinks the widest column first and never below its header', () => {
    assert.deepEqual(fitWidths([10, 40, 8], [4, 8, 3], 40), [10, 18, 8]);
    assert.deepEqual(fitWidths([10, 10], [10, 10], 5), [10, 10]);
  });

  it('wraps words, breaking only a word longer than the line', () => {
    assert.deepEqual(wrap('the quick brown fox', 9), ['the quick', 'brown fox']);
    assert.deepEqual(wrap('abcdefghij', 4), ['abcd', 'efgh', 'ij']);
    assert.deepEqual(wrap('', 4), ['']);
  });
});
