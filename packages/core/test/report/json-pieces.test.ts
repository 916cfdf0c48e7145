// The CLI writes `--json` documents piece by piece; joined, the pieces must be
// exactly what JSON.stringify(doc, null, 2) gives, for any plain data.
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { jsonPieces } from '../../src/json.js';

const text = (v: unknown): string => [...jsonPieces(v)].join('');

describe('jsonPieces', () => {
  test('equals JSON.stringify(value, null, 2) for any JSON value, undefined members included', () => {
    const value = fc.letrec((tie) => ({
      leaf: fc.oneof(fc.string(), fc.double(), fc.integer(), fc.boolean(), fc.constant(null), fc.constant(undefined)),
      node: fc.oneof(
        { depthSize: 'small' },
        tie('leaf'),
        fc.array(tie('node'), { maxLength: 4 }),
        fc.dictionary(fc.string(), tie('node'), { maxKeys: 4 }),
      ),
    })).node;
    fc.assert(fc.property(value, (v) => expect(text(v)).toBe(JSON.stringify(v, null, 2) ?? 'null')));
  });

  test('a document of 10,000 plan rows comes in one piece per row, none of them large', () => {
    const doc = {
      operation: 'copy-image',
      plan: Array.from({ length: 10_000 }, (_, i) => ({ object: `oci:/x@sha256:${i}`, action: 'put', why: 'child → ✓' })),
      when: new Date(0),
    };
    const pieces = [...jsonPieces(doc)];
    expect(pieces.join('')).toBe(JSON.stringify(doc, null, 2));
    expect(pieces.length).toBeGreaterThan(20_000);
    expect(Math.max(...pieces.map((p) => p.length))).toBeLessThan(200);
  });
});
