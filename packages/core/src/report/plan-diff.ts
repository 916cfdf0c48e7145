import type { PlanRow } from './plan.js';
import { canonicalJson } from './plan-hash.js';

/** How two plans of the same operation differ, object by object (results left out: only execution sets them). */
export interface PlanDiff {
  added: PlanRow[];
  changed: { before: PlanRow; after: PlanRow }[];
  gone: PlanRow[];
}

/**
 * The difference between a run's plan and a later one (a replay's against the
 * failed run's): rows keyed by their object (the n-th row of one object by n),
 * compared by everything the plan hash covers.
 */
export function diffPlans(before: readonly PlanRow[], after: readonly PlanRow[]): PlanDiff {
  const keyed = (rows: readonly PlanRow[]): Map<string, PlanRow> => {
    const seen = new Map<string, number>();
    const out = new Map<string, PlanRow>();
    for (const { result: _result, ...row } of rows) {
      const n = seen.get(row.object) ?? 0;
      seen.set(row.object, n + 1);
      out.set(n === 0 ? row.object : `${row.object}#${n}`, row);
    }
    return out;
  };
  const a = keyed(before);
  const b = keyed(after);
  const diff: PlanDiff = { added: [], changed: [], gone: [] };
  for (const [k, row] of b) {
    const old = a.get(k);
    if (!old) diff.added.push(row);
    else if (canonicalJson(old) !== canonicalJson(row)) diff.changed.push({ before: old, after: row });
  }
  for (const [k, row] of a) if (!b.has(k)) diff.gone.push(row);
  return diff;
}

/** The diff as lines for people: a count line, then up to `max` rows of each kind. */
export function describePlanDiff(d: PlanDiff, max = 20): string[] {
  const lines = [`${d.added.length} added, ${d.changed.length} changed, ${d.gone.length} gone`];
  const some = <T>(rows: T[], show: (r: T) => string, label: string): void => {
    rows.slice(0, max).forEach((r) => lines.push(`  ${label} ${show(r)}`));
    if (rows.length > max) lines.push(`  … ${rows.length - max} more ${label === '+' ? 'added' : label === '~' ? 'changed' : 'gone'}`);
  };
  some(d.added, (r) => `${r.object}: ${r.action} (${r.why})`, '+');
  some(d.changed, (c) => `${c.after.object}: was ${c.before.action} (${c.before.why}), now ${c.after.action} (${c.after.why})`, '~');
  some(d.gone, (r) => `${r.object}: was ${r.action} (${r.why})`, '-');
  return lines;
}
