import { auditedVersions } from '../audit/read.js';
import { AUDIT_PREFIX } from '../audit/write.js';
import { mapLimit } from '../concurrency.js';
import { DEFAULTS } from '../defaults.js';
import { ConflictError, InputError } from '../errors.js';
import { sha256Hex } from '../hash.js';
import type { PlanAction, PlanRow } from '../report/plan.js';
import { verifyDetached } from '../signing/key.js';
import type { ObjectInfo, Store } from '../store/store.js';
import { addMirrorVersion, mergeVersion, parseMirrorIndex, parseVersionsDoc, type VersionsDoc } from './documents.js';
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

const item = (obj: ReleaseObject, action: PlanItem['action'], why: string): PlanItem => ({
  object: obj.key,
  action,
  why,
  // A signature's length varies by a byte from one signing to the next (leading zeros of its numbers are dropped), and the plan hash
  // must not: the plan binds the SHA256SUMS it signs, whose size is listed.
  // The build record and the provenance statements name the run (its id and attempt; a promotion, its plan hash), so
  // their length may differ between the dry run an approver saw and the apply (a re-run job): every such object has
  // `sameAs`. What they record is bound through the files they list, which the plan sizes.
  ...(!obj.key.endsWith('.sig') && !obj.sameAs && { bytes: Buffer.isBuffer(obj.body) ? obj.body.length : obj.body.size }),
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
  if (!info) return item(obj, 'put', 'new');
  let existingSha = info.sha256;
  let existing: Buffer | undefined;
  if (!existingSha || obj.key.endsWith('.sig') || obj.kind === 'shared' || (obj.sameAs && existingSha !== obj.sha256)) {
    existing = (await store.get(obj.key))?.body;
    if (!existing) return item(obj, 'put', 'new');
    existingSha = sha256Hex(existing);
  }
  if (existingSha === obj.sha256) return item(obj, 'skip', 'identical');
  const same = existing && obj.sameAs?.(existing);
  if (same) return item(obj, 'skip', same);
  // Signatures carry their creation time, so a re-run signs different bytes;
  // an existing signature by the same key over the same SHA256SUMS is kept.
  if (obj.key.endsWith('.sig') && existing && (await verifyDetached(o.sums, existing, [o.publicArmor]))) {
    return item(obj, 'skip', 'existing signature verifies with this key');
  }
  if (obj.kind === 'shared') {
    return item(
      obj,
      'conflict',
      `holds ${existing?.toString('utf8').trim()}, but registry-url gives ${(obj.body as Buffer).toString('utf8').trim()}`,
    );
  }
  if (o.immutable) return item(obj, 'conflict', 'exists with different content (published versions are immutable)');
  return item(obj, 'replace', 'differs; replacing (immutable: false)');
}

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
  let versions: PlanItem;
  try {
    const merged = mergeVersion(doc, rel.entry, immutable, `${store.url}/${vKey}`);
    versions = merged
      ? {
          object: vKey,
          action: cur ? 'replace' : 'put',
          why: `add ${rel.coords.version}` + (cur ? ` to ${doc.versions.length} listed` : ''),
        }
      : await repairIfBehind(store, { object: vKey, action: 'skip', why: `${rel.coords.version} already listed, identical` });
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    versions = { object: vKey, action: 'conflict', why: err.message };
  }

  const mKey = L.mirrorIndexKey(rel.mirrorHost, rel.coords);
  const m = await readIndex(store, mKey);
  const mi = m ? parseMirrorIndex(`${store.url}/${mKey}`, m.body) : { versions: {} };
  const mirrorIndex: PlanItem = addMirrorVersion(mi, rel.coords.version)
    ? { object: mKey, action: m ? 'replace' : 'put', why: `add ${rel.coords.version}` }
    : await repairIfBehind(store, { object: mKey, action: 'skip', why: 'already listed' });
  return { versions, mirrorIndex };
}

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
