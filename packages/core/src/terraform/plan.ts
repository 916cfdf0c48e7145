import { auditedVersions } from '../audit/read.js';
import { AUDIT_PREFIX } from '../audit/write.js';
import { mapLimit } from '../concurrency.js';
import { DEFAULTS } from '../defaults.js';
import { ConflictError, InputError } from '../errors.js';
import { sha256Hex } from '../hash.js';
import { ABSENT, sha256Digest, type PlanAction, type PlanRow } from '../report/plan.js';
import { verifyDetached } from '../signing/key.js';
import type { ObjectInfo, Store } from '../store/store.js';
import { addMirrorVersion, json, mergeVersion, parseMirrorIndex, parseVersionsDoc, type VersionsDoc } from './documents.js';
import * as L from './layout.js';
import type { Release, ReleaseObject } from './release.js';

/** A row of the shared plan vocabulary, with the object it would write (the two indexes have none: they are merged at write time). */
export interface PlanItem extends PlanRow {
  action: Exclude<PlanAction, 'mount'>;
  obj?: ReleaseObject;
}

export interface Plan {
  objects: PlanItem[];
  /** The commit point: the `versions` index. */
  versions: PlanItem;
  mirrorIndex: PlanItem;
  /** A `repair` row when the store already lists the version but no audit record names it: this run's record is the repair. */
  audit?: PlanItem;
}

export interface PlanOptions {
  immutable: boolean;
  /** The signing key: an existing signature it made over the same SHA256SUMS is kept. */
  publicArmor: string;
  sums: Buffer;
  /** HEADs already made or under way, by key (publish reads the zips' before it uploads any). */
  heads?: ReadonlyMap<string, Promise<ObjectInfo | undefined>>;
}

/**
 * A row for an object: its action, and what binds it (report/plan.ts): the
 * digest of the bytes it writes (for the signature, the key and what it
 * signs) and what the store held when it was judged.
 */
const item = (obj: ReleaseObject, action: PlanItem['action'], why: string, observed: string): PlanItem => ({
  object: obj.key,
  action,
  why,
  // A signature's length varies by a byte from one signing to the next (leading zeros of its numbers are dropped), and the plan hash
  // must not: its row binds the key and the SHA256SUMS it signs instead.
  // The build record and the provenance statements name the run (its id and attempt; a promotion, its plan hash), so
  // their length may differ between the dry run an approver saw and the apply (a re-run job): every such object has
  // `sameAs`. The build record is bound by its planDigest (without the run); the statements by the files they list.
  ...(!obj.signs && obj.body !== undefined && !obj.sameAs && { bytes: Buffer.isBuffer(obj.body) ? obj.body.length : obj.body.size }),
  ...(obj.signs ? { signs: obj.signs } : obj.planDigest || !obj.sameAs ? { digest: obj.planDigest ?? sha256Digest(obj.sha256) } : {}),
  observed,
  obj,
});

/** Compares one object with what the store holds. Reads only; never writes. */
export async function planObject(store: Store, obj: ReleaseObject, o: PlanOptions): Promise<PlanItem> {
  const planned = await compareObject(store, obj, o);
  return planned.action === 'skip' ? repairIfBehind(store, planned) : planned;
}

/**
 * An object the store holds as wanted, whose served copy is behind (a writer
 * killed between storing it and copying it out): a `repair`, not a skip.
 */
async function repairIfBehind(store: Store, row: PlanItem): Promise<PlanItem> {
  const lag = await store.served?.behind(row.object);
  return lag ? { ...row, action: 'repair', why: `${row.why}, but served ${lag.served} is behind ${lag.newest}` } : row;
}

async function compareObject(store: Store, obj: ReleaseObject, o: PlanOptions): Promise<PlanItem> {
  const info = await (o.heads?.get(obj.key) ?? store.head(obj.key));
  if (!info) return item(obj, 'put', signed('new', obj), ABSENT);
  let existingSha = info.sha256;
  let existing: Buffer | undefined;
  if (!existingSha || obj.signs || obj.kind === 'shared' || (obj.sameAs && existingSha !== obj.sha256)) {
    existing = (await store.get(obj.key))?.body;
    if (!existing) return item(obj, 'put', signed('new', obj), ABSENT);
    existingSha = sha256Hex(existing);
  }
  const observed = sha256Digest(existingSha);
  // Signatures carry their creation time, so a re-run signs different bytes (and a dry run may have none):
  // an existing signature by the same key over the same SHA256SUMS is kept, whatever its bytes.
  if (obj.signs) {
    if (existing && (await verifyDetached(o.sums, existing, [o.publicArmor])))
      return item(obj, 'skip', 'existing signature verifies with this key', observed);
  } else {
    if (existingSha === obj.sha256) return item(obj, 'skip', 'identical', observed);
    const same = existing && obj.sameAs?.(existing);
    if (same) return item(obj, 'skip', same, observed);
  }
  if (obj.kind === 'shared') {
    return item(
      obj,
      'conflict',
      `holds ${existing?.toString('utf8').trim()}, but registry-url gives ${(obj.body as Buffer).toString('utf8').trim()}`,
      observed,
    );
  }
  if (o.immutable) return item(obj, 'conflict', 'exists with different content (published versions are immutable)', observed);
  return item(obj, 'replace', signed('differs; replacing (immutable: false)', obj), observed);
}

/** The signature's reason says who will sign what: the plan an approver reads names the key. */
const signed = (why: string, obj: ReleaseObject): string =>
  obj.signs ? `${why}: signed by key ${obj.signs.fingerprint} over SHA256SUMS ${obj.signs.over}` : why;

/** The whole plan: every object, then the two indexes. Reads only. */
export async function planRelease(store: Store, rel: Release, o: Omit<PlanOptions, 'sums'>): Promise<Plan> {
  const objects = await mapLimit(rel.objects, DEFAULTS.storePlanParallel, (obj) => planObject(store, obj, { ...o, sums: rel.sums }));
  const indexes = await planIndexes(store, rel, o.immutable);
  const audit = await planAuditRepair(store, rel, indexes.versions);
  return { objects, ...indexes, ...(audit && { audit }) };
}

/**
 * A run killed after listing the version and before writing its audit record
 * leaves a listed version that no record names; the run that finds it so
 * records itself as the repair. Read only when the store already lists the
 * version (a re-run), as it reads every record.
 */
async function planAuditRepair(store: Store, rel: Pick<Release, 'coords'>, versions: PlanItem): Promise<PlanItem | undefined> {
  if (versions.action !== 'skip' && versions.action !== 'repair') return undefined;
  const { namespace, name, version } = rel.coords;
  const found = await auditedVersions(store);
  if (found.versions.get(`${namespace}/${name}`)?.has(version)) return undefined;
  return {
    object: AUDIT_PREFIX,
    action: 'repair',
    why: `${version} is listed but no audit record names it (a run stopped before recording); this run's record is the repair`,
  };
}

/** What listing the version does to the two indexes (a conflict in `versions` is a row, not an error). Reads only. */
export async function planIndexes(
  store: Store,
  rel: Pick<Release, 'coords' | 'entry' | 'mirrorHost'>,
  immutable: boolean,
): Promise<Omit<Plan, 'objects'>> {
  const vKey = L.versionsKey(rel.coords);
  const cur = await readIndex(store, vKey);
  const doc: VersionsDoc = cur ? parseVersionsDoc(`${store.url}/${vKey}`, cur.body) : { versions: [] };
  const vObserved = observedOf(cur);
  let versions: PlanItem;
  try {
    const merged = mergeVersion(doc, rel.entry, immutable, `${store.url}/${vKey}`);
    versions = merged
      ? {
          object: vKey,
          action: cur ? 'replace' : 'put',
          why: `add ${rel.coords.version}` + (cur ? ` to ${doc.versions.length} listed` : ''),
          digest: sha256Digest(sha256Hex(json(merged))),
          observed: vObserved,
        }
      : await repairIfBehind(store, {
          object: vKey,
          action: 'skip',
          why: `${rel.coords.version} already listed, identical`,
          digest: vObserved,
          observed: vObserved,
        });
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    versions = { object: vKey, action: 'conflict', why: err.message, observed: vObserved };
  }

  const mKey = L.mirrorIndexKey(rel.mirrorHost, rel.coords);
  const m = await readIndex(store, mKey);
  const mi = m ? parseMirrorIndex(`${store.url}/${mKey}`, m.body) : { versions: {} };
  const mObserved = observedOf(m);
  const nextMirror = addMirrorVersion(mi, rel.coords.version);
  const mirrorIndex: PlanItem = nextMirror
    ? {
        object: mKey,
        action: m ? 'replace' : 'put',
        why: `add ${rel.coords.version}`,
        digest: sha256Digest(sha256Hex(json(nextMirror))),
        observed: mObserved,
      }
    : await repairIfBehind(store, { object: mKey, action: 'skip', why: 'already listed', digest: mObserved, observed: mObserved });
  return { versions, mirrorIndex };
}

/**
 * What an index held when it was planned: executing merges into whatever it
 * holds then (by compare-and-swap), so an approved plan binds what it was
 * merged into.
 */
const observedOf = (cur: { body: Buffer } | undefined): string => (cur ? sha256Digest(sha256Hex(cur.body)) : ABSENT);

/**
 * An index document, read only when its size is one Relay handles: a huge one
 * (hostile, or broken) is refused here, in the plan, with bounded memory.
 */
async function readIndex(store: Store, key: string): Promise<{ body: Buffer } | undefined> {
  const info = await store.head(key);
  if (info && info.size > DEFAULTS.maxDocumentBytes) {
    throw new InputError(
      `${store.url}/${key} is ${info.size} bytes, more than the ${DEFAULTS.maxDocumentBytes} Relay reads; refusing to overwrite it (repair or remove it by hand)`,
    );
  }
  return info ? store.get(key) : undefined;
}

/** All conflicts as one error, before the first write. */
export function refuseConflicts(plan: Plan, storeUrl: string): void {
  const c = [...plan.objects, plan.versions].filter((i) => i.action === 'conflict');
  if (c.length === 0) return;
  const first = c[0]!;
  const more = c.length > 1 ? ` (and ${c.length - 1} more conflicting object${c.length > 2 ? 's' : ''})` : '';
  throw new ConflictError(`${storeUrl}/${first.object} ${first.why}${more}; nothing was written`);
}
