import { createHash } from 'node:crypto';
import type { PlanRow } from './plan.js';

/**
 * JSON with object keys sorted (by UTF-16 code units, as Array.prototype.sort
 * does), no whitespace, and `undefined` members left out: the same value always
 * gives the same text. Plans hold only strings, numbers and plain objects, for
 * which this agrees with RFC 8785 (JCS).
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return '[' + value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',') + ']';
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return (
      '{' +
      Object.keys(o)
        .sort()
        .filter((k) => o[k] !== undefined)
        .map((k) => JSON.stringify(k) + ':' + canonicalJson(o[k]))
        .join(',') +
      '}'
    );
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * The hash that binds an approval to a plan: sha256 (hex) of the canonical JSON
 * array of the plan rows without their `result` (which only execution sets),
 * the rows sorted by their canonical JSON text. Sorted, because a plan is the
 * set of decisions, not the order they were reached in: an image's blobs and
 * manifests are read in parallel and listed as they arrive, and the commit
 * order is the code's, not the plan's. The plan job of a reusable workflow
 * computes it from the dry run's run document; the apply job passes it back as
 * `expect-plan`, and the operation refuses when the plan it recomputes hashes
 * differently (the store or a registry changed after approval).
 * `.github/workflows` carries the same computation as a small script; a unit
 * test keeps the two equal.
 */
export function planHash(plan: readonly PlanRow[]): string {
  const rows = plan.map(({ result: _result, ...row }) => canonicalJson(row)).sort();
  // Row by row: one joined text of 10,000 rows is a string of megabytes at a run's peak memory.
  const h = createHash('sha256').update('[');
  rows.forEach((row, i) => h.update(i === 0 ? row : ',' + row));
  return h.update(']').digest('hex');
}
