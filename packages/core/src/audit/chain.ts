import { DEFAULTS } from '../defaults.js';
import { ConflictError, IntegrityError } from '../errors.js';
import { sha256Hex } from '../hash.js';
import { tryParseJson } from '../json.js';
import type { Logger } from '../log/logger.js';
import { withRetry } from '../retry.js';
import { PreconditionFailed, type Store } from '../store/store.js';

/**
 * Audit records form a chain: each names the record written before it in
 * the same store (its key and the sha256 of its bytes) and its place in the
 * chain, so a record deleted, altered or put in another's place breaks a
 * link that verify-terraform-registry reports, naming the record.
 *
 * The chain's end is the head, `audit-head.json`, the one object of the audit
 * trail that is ever overwritten: by compare-and-swap, as the `versions` index
 * (If-Match the ETag read, If-None-Match when there is none; a lost race
 * re-reads and chains onto the winner), so concurrent runs all land, one
 * after the other. It lives outside `audit/` so that the bucket policy can
 * make everything under `audit/` write-once and undeletable for every role
 * (iam/policy.ts) and still let the head move.
 *
 * The head carries the whole text of the record it names, and is written
 * before the record: a run that dies between the two leaves a head whose
 * record the next append (or a re-run) writes from it, so a crash never
 * breaks the chain, and a lost race never leaves a record outside it.
 */

/** The chain's head: outside `audit/`, compare-and-swap. */
export const AUDIT_HEAD_KEY = 'audit-head.json';
export const AUDIT_HEAD_SCHEMA = 'relay-audit-head/v1';

/** A record's place in the chain, as the record itself carries it. */
export interface ChainLink {
  /** 1 for the first record of a store, then one more for each. */
  sequence: number;
  /** The record before this one: its key in the store and the sha256 (hex) of its bytes; null for the first. */
  previous: { key: string; sha256: string } | null;
}

interface Head {
  schema: typeof AUDIT_HEAD_SCHEMA;
  key: string;
  sha256: string;
  sequence: number;
  /** The record's text, exactly as written at `key`. */
  record: string;
}

/** Where an appended record went. */
export interface Appended {
  key: string;
  sha256: string;
  sequence: number;
}

export interface AppendOptions {
  /** A fresh key for the record on each attempt (store keys are random enough never to be reused). */
  key: () => string;
  /** The record's text for its place in the chain (redacted, ready to write). */
  render: (link: ChainLink) => string;
  log: Logger;
  /** Where the head lives; AUDIT_HEAD_KEY in a registry store. */
  headKey?: string;
}

/**
 * Appends one record to the store's chain: the one way every audit record is
 * written (a run's record, a repair record, anything that links from it).
 * Refuses a key that exists (records are written once).
 */
export async function appendAuditRecord(store: Store, o: AppendOptions): Promise<Appended> {
  const headKey = o.headKey ?? AUDIT_HEAD_KEY;
  return withRetry(
    async () => {
      const cur = await store.get(headKey);
      const head = cur ? parseHead(`${store.url}/${headKey}`, cur.body) : undefined;
      // A run that died between its head and its record: finish its write before chaining onto it.
      if (head) await landRecord(store, head, o.log);
      const link: ChainLink = head
        ? { sequence: head.sequence + 1, previous: { key: head.key, sha256: head.sha256 } }
        : { sequence: 1, previous: null };
      let key = o.key();
      for (let i = 0; await store.head(key); i++) {
        if (i === 3) throw new ConflictError(`${store.url}/${key} exists (audit records are written once)`);
        key = o.key();
      }
      const text = o.render(link);
      const next: Head = { schema: AUDIT_HEAD_SCHEMA, key, sha256: sha256Hex(text), sequence: link.sequence, record: text };
      const body = Buffer.from(JSON.stringify(next, null, 2) + '\n');
      const opts = { contentType: 'application/json', cacheControl: 'no-store', sha256: sha256Hex(body) };
      await store.put(headKey, body, cur ? { ...opts, ifMatch: cur.info.etag } : { ...opts, ifNoneMatch: '*' });
      await landRecord(store, next, o.log);
      return { key, sha256: next.sha256, sequence: next.sequence };
    },
    (err) => err instanceof PreconditionFailed && err.key === headKey,
    DEFAULTS.casRetry,
    (_e, attempt) => o.log.debug(`${headKey} moved underneath us (attempt ${attempt}): another run appended a record; chaining onto it`),
  );
}

/** The record a head names, written once; already there with the same bytes is fine (its own run, or a retry). */
async function landRecord(store: Store, head: Head, log: Logger): Promise<void> {
  const body = Buffer.from(head.record);
  try {
    await store.put(head.key, body, { contentType: 'application/json', cacheControl: 'no-store', ifNoneMatch: '*', sha256: head.sha256 });
  } catch (err) {
    if (!(err instanceof PreconditionFailed)) throw err;
    const there = await store.get(head.key);
    if (there && sha256Hex(there.body) === head.sha256) return;
    // Someone wrote other bytes where the head's record belongs: the chain is broken there, and verify says so.
    // Chaining on keeps every later record linked; refusing would only stop every later run from recording.
    log.warn(
      `${store.url}/${head.key} does not hold the record ${AUDIT_HEAD_KEY} names (sha256 ${head.sha256}): the audit chain is broken there`,
    );
  }
}

function parseHead(where: string, bytes: Buffer): Head {
  const h = tryParseJson(bytes) as Partial<Head> | null | undefined;
  const ok =
    h &&
    typeof h === 'object' &&
    h.schema === AUDIT_HEAD_SCHEMA &&
    typeof h.key === 'string' &&
    typeof h.sha256 === 'string' &&
    /^[0-9a-f]{64}$/.test(h.sha256) &&
    Number.isSafeInteger(h.sequence) &&
    (h.sequence as number) >= 1 &&
    typeof h.record === 'string' &&
    sha256Hex(h.record) === h.sha256;
  if (!ok) throw new IntegrityError(`${where} is not a ${AUDIT_HEAD_SCHEMA} document naming its record's sha256; repair it by hand`);
  return h as Head;
}

/** What the chain of a store looks like, from its head back. */
export interface ChainState {
  state: 'intact' | 'broken' | 'none';
  /** Records walked from the head before the walk ended (all of them when intact). */
  length: number;
  head?: { key: string; sha256: string; sequence: number };
  /** The first broken link from the head: the record named, and what is wrong. */
  broken?: { record: string; problem: string };
  /** Records under audit/ the chain does not reach (older than the chain, or cut off by a break). */
  outside: string[];
}

/**
 * Walks the chain from the head over the records read (key -> bytes), checking
 * each link: the record is there, its bytes hash to what the next one names,
 * it names its own place (sequence) one below the next's. Reads nothing
 * itself; the caller read every record once.
 */
export function checkChain(headBytes: Buffer | undefined, records: ReadonlyMap<string, Buffer>, where: string): ChainState {
  const outside = (seen: Set<string>): string[] => [...records.keys()].filter((k) => !seen.has(k)).sort();
  if (!headBytes) {
    const missing = headMissing(records);
    return { state: missing ? 'broken' : 'none', length: 0, outside: outside(new Set()), ...(missing && { broken: missing }) };
  }
  let head: Head;
  try {
    head = parseHead(`${where}/${AUDIT_HEAD_KEY}`, headBytes);
  } catch (err) {
    return { state: 'broken', length: 0, broken: { record: AUDIT_HEAD_KEY, problem: (err as Error).message }, outside: outside(new Set()) };
  }
  const seen = new Set<string>();
  let want: { key: string; sha256: string; sequence: number; by: string } = { ...head, by: AUDIT_HEAD_KEY };
  const headInfo = { key: head.key, sha256: head.sha256, sequence: head.sequence };
  for (;;) {
    const bytes = records.get(want.key);
    const broken = (problem: string): ChainState => ({
      state: 'broken',
      length: seen.size,
      head: headInfo,
      broken: { record: want.key, problem },
      outside: outside(seen),
    });
    if (!bytes) return broken(`missing: ${want.by} names it as record #${want.sequence} (deleted?)`);
    const got = sha256Hex(bytes);
    const rec = tryParseJson(bytes) as { chain?: Partial<ChainLink> } | null | undefined;
    const link = rec && typeof rec === 'object' ? rec.chain : undefined;
    if (got !== want.sha256) {
      const also =
        typeof link?.sequence === 'number' && link.sequence !== want.sequence
          ? `: it holds record #${link.sequence} (reordered?)`
          : ' (altered?)';
      return broken(`sha256 ${got}, but ${want.by} names ${want.sha256} for record #${want.sequence}${also}`);
    }
    seen.add(want.key);
    if (!link || link.sequence !== want.sequence)
      return broken(`says it is record #${String(link?.sequence)}, but ${want.by} names it as #${want.sequence}`);
    if (link.previous === null || link.previous === undefined) {
      if (want.sequence !== 1) return broken(`names no record before it, but it is #${want.sequence}`);
      return { state: 'intact', length: seen.size, head: headInfo, outside: outside(seen) };
    }
    if (seen.has(link.previous.key)) return broken(`names ${link.previous.key} before it, which comes after it (a loop)`);
    want = { key: link.previous.key, sha256: link.previous.sha256, sequence: want.sequence - 1, by: want.key };
  }
}

/** No head, yet chained records: the head was removed. (Records older than the chain have no head to lose.) */
function headMissing(records: ReadonlyMap<string, Buffer>): ChainState['broken'] {
  const chained = [...records.values()].some((b) => (tryParseJson(b) as { chain?: unknown } | null)?.chain !== undefined);
  return chained ? { record: AUDIT_HEAD_KEY, problem: 'missing, while records under audit/ are chained (deleted?)' } : undefined;
}

/** One line for the report and the log. */
export function describeChain(c: ChainState): string {
  const outside = c.outside.length ? `; ${c.outside.length} record${c.outside.length === 1 ? '' : 's'} outside it` : '';
  if (c.state === 'none')
    return c.outside.length
      ? `no chain: ${c.outside.length} record${c.outside.length === 1 ? '' : 's'} written before Relay chained them`
      : 'no records';
  if (c.state === 'intact')
    return `intact: ${c.length} record${c.length === 1 ? '' : 's'}, head ${c.head!.key} (sha256 ${c.head!.sha256})${outside}`;
  return `broken at ${c.broken!.record}: ${c.broken!.problem}; ${c.length} record${c.length === 1 ? '' : 's'} intact from the head${c.head ? ` ${c.head.key}` : ''}${outside}`;
}
