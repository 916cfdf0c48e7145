// fitJson: a document cut to a number of characters keeps everything that is
// not a list, the same first rows of every list, and counts what it left out.
import { describe, expect, test } from '@jest/globals';
import { fitJson, fitLines } from '../../src/report/fit.js';

describe('fitJson', () => {
  const doc = {
    status: 'done',
    error: { kind: 'remote', message: 'one target failed' },
    plan: Array.from({ length: 500 }, (_, i) => ({ object: `o-${i}`, action: 'put', tags: ['a', 'b'] })),
    outputs: { digests: Array.from({ length: 200 }, (_, i) => `ref-${i}`), counts: { put: 500 } },
  };

  test('a document that fits is itself', () => {
    const f = fitJson(doc, 1e6);
    expect(f).toEqual({ value: doc, text: JSON.stringify(doc), omitted: 0 });
  });

  test.each([200, 2_000, 10_000])('cut to %i characters: scalars kept, every list to the same first rows, the rest counted', (max) => {
    const f = fitJson(doc, max);
    expect(f.text.length).toBeLessThanOrEqual(max);
    const v = JSON.parse(f.text) as typeof doc & { planOmitted?: number; outputs: { digestsOmitted?: number } };
    expect(f.value).toEqual(v);
    expect(v.status).toBe('done');
    expect(v.error).toEqual(doc.error);
    expect(v.outputs.counts).toEqual({ put: 500 });
    expect(v.plan.length + (v.planOmitted ?? 0)).toBe(500);
    expect(v.outputs.digests.length + (v.outputs.digestsOmitted ?? 0)).toBe(200);
    expect(Math.min(v.plan.length, 200)).toBe(v.outputs.digests.length); // one cap for all lists
    expect(v.plan[0]).toEqual(v.plan.length ? doc.plan[0] : undefined);
    // A list inside a kept row is part of the row, kept whole.
    for (const row of v.plan) expect(row.tags).toEqual(['a', 'b']);
    expect(f.omitted).toBe(500 - v.plan.length + 200 - v.outputs.digests.length);
  });

  test('when no rows still do not fit, long strings are shortened', () => {
    const f = fitJson({ status: 'failed', message: 'x'.repeat(5000), rows: [1, 2, 3] }, 300);
    expect(f.text.length).toBeLessThanOrEqual(300);
    const v = JSON.parse(f.text) as { status: string; message: string; rows: number[]; rowsOmitted: number };
    expect(v.status).toBe('failed');
    expect(v.message).toMatch(/^x+…$/);
    expect(v).toMatchObject({ rows: [], rowsOmitted: 3 });
  });

  test('keys named like the prototype stay plain keys', () => {
    const v = fitJson(JSON.parse('{"__proto__": [1, 2, 3, 4, 5, 6, 7, 8, 9], "x": 1}'), 20).value as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.keys(v)).toContain('__proto__');
  });
});

describe('fitLines', () => {
  test('the first whole lines that fit', () => {
    expect(fitLines(['aaa', 'bbb', 'ccc'], 7)).toEqual({ text: 'aaa\nbbb', kept: 2 });
    expect(fitLines(['aaa'], 2)).toEqual({ text: '', kept: 0 });
  });
});
