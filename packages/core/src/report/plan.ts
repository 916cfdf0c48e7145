import type { ReportSection } from './report.js';

/**
 * One plan vocabulary for every domain (registry objects, blobs, manifests,
 * tags, mirror targets). The plan is what dry-run prints, what the summary
 * shows, what --json returns and what execution walks. `repair` finishes what
 * an interrupted run left behind without changing content (a served copy
 * behind the store, a listed version with no audit record): it writes, so it
 * is never a silent no-op.
 */
export type PlanAction = 'put' | 'skip' | 'replace' | 'mount' | 'repair' | 'conflict';

/** What a row records when the destination holds nothing under its name. */
export const ABSENT = 'absent';

/** `sha256:<hex>` from 64 hex digits, as the plan rows spell digests (OCI's form). */
export const sha256Digest = (hex: string): string => `sha256:${hex}`;

/** What became of a planned object once executed. */
export type RowResult = 'written' | 'unchanged' | 'failed';

export interface PlanRow {
  /** The object: a store key, `repo@digest`, `repo:tag`. */
  object: string;
  action: PlanAction;
  /** Why this action, in a few words ("new", "identical", "exists with different content"). */
  why: string;
  bytes?: number;
  /*
   * What binds the row, beyond its action: the plan hash covers every field
   * but `result`, so whatever decides the bytes written is a field here, never
   * only text in `why`. A change between the approved dry run and the apply
   * in any of them refuses the apply before its first write.
   */
  /**
   * `sha256:<hex>` of the content the row makes the object hold: an object's
   * bytes, or for a tag the manifest it will point at. Absent only where the
   * bytes are not decided by the plan (a signature: see `signs`).
   */
  digest?: string;
  /**
   * A signature's bytes differ on every signing (OpenPGP signatures carry
   * their creation time), so its row binds who signs what instead: the
   * signing key's OpenPGP fingerprint (40 hex, upper case) and `sha256:<hex>`
   * of the bytes it signs. A dry run plans this without the private key.
   */
  signs?: { fingerprint: string; over: string };
  /**
   * What the destination held when the row was judged: `sha256:<hex>` of the
   * object there (for a tag, the manifest it points at), or `absent`.
   */
  observed?: string;
  /** Set after execution. */
  result?: RowResult;
}

export function countActions(rows: readonly PlanRow[]): Record<PlanAction, number> {
  const c: Record<PlanAction, number> = { put: 0, skip: 0, replace: 0, mount: 0, repair: 0, conflict: 0 };
  for (const r of rows) c[r.action]++;
  return c;
}

/** "3 put, 10 skip" for the rows' non-zero actions, in vocabulary order. */
export function describeCounts(rows: readonly PlanRow[]): string {
  const c = countActions(rows);
  return (Object.keys(c) as PlanAction[])
    .filter((a) => c[a] > 0)
    .map((a) => `${c[a]} ${a}`)
    .join(', ');
}

/** Mebibytes with one decimal, for plan and transfer lines. */
export function mib(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}

/** "3 written, 11 identical" after a run; "3 to write, 11 identical" for a plan not (yet) executed. */
export function countsLine(rows: readonly PlanRow[], executed: boolean): string {
  const c = countActions(rows);
  const writes = c.put + c.replace;
  const parts = [
    ...(writes ? [executed ? `${writes} written` : `${writes} to write`] : []),
    ...(c.mount ? [executed ? `${c.mount} mounted` : `${c.mount} to mount`] : []),
    ...(c.repair ? [executed ? `${c.repair} repaired` : `${c.repair} to repair`] : []),
    ...(c.skip ? [`${c.skip} identical`] : []),
    ...(c.conflict ? [`${c.conflict} in conflict`] : []),
  ];
  return parts.join(', ') || 'nothing to do';
}

/**
 * The plan as people read it: every row that changes something (or refuses),
 * and the identical ones counted in one line rather than listed.
 */
export function planSection(rows: readonly PlanRow[], heading = 'Plan'): ReportSection {
  const changing = rows.filter((r) => r.action !== 'skip');
  const same = rows.length - changing.length;
  if (changing.length === 0) return { heading, text: `${same} identical: nothing to write` };
  return {
    heading: same ? `${heading} (${same} identical not listed)` : heading,
    table: { head: ['object', 'action', 'why'], rows: changing.map((r) => [r.object, r.action, r.why]) },
  };
}
