import { sha256Hex } from '../hash.js';
import { ConflictError, InputError } from '../errors.js';
import { mapLimit } from '../concurrency.js';
import { verifyDetached } from '../signing/key.js';
import type { Store } from '../store/store.js';
import { mergeVersion, parseVersionsDoc, type VersionsDoc } from './documents.js';
import * as L from './layout.js';
import type { Release, ReleaseObject } from './release.js';

export type Action = 'put' | 'skip' | 'replace' | 'conflict';

export interface PlanItem {
  key: string;
  action: Action;
  reason: string;
  obj?: ReleaseObject;
}

export interface Plan {
  objects: PlanItem[];
  /** The commit point: the `versions` index. */
  versions: PlanItem;
  mirrorIndex: PlanItem;
}

/** Compares one object with what the store holds. Reads only; never writes. */
export async function planObject(
  store: Store,
  obj: ReleaseObject,
  immutable: boolean,
  publicArmor: string,
  sums: Buffer,
): Promise<PlanItem> {
  const info = await store.head(obj.key);
  if (!info) return { key: obj.key, action: 'put', reason: 'new', obj };
  let existingSha = info.sha256;
  let existing: Buffer | undefined;
  if (!existingSha || obj.key.endsWith('.sig') || obj.kind === 'shared') {
    existing = (await store.get(obj.key))?.body;
    if (!existing) return { key: obj.key, action: 'put', reason: 'new', obj };
    existingSha = sha256Hex(existing);
  }
  if (existingSha === obj.sha256) return { key: obj.key, action: 'skip', reason: 'identical', obj };
  // Signatures carry their creation time, so a re-run signs different bytes;
  // an existing signature by the same key over the same SHA256SUMS is kept.
  if (obj.key.endsWith('.sig') && existing && (await verifyDetached(sums, existing, [publicArmor]))) {
    return { key: obj.key, action: 'skip', reason: 'existing signature verifies with this key', obj };
  }
  if (obj.kind === 'shared') {
    return {
      key: obj.key,
      action: 'conflict',
      reason: `holds ${existing?.toString('utf8').trim()}, but registry-url gives ${(obj.body as Buffer).toString('utf8').trim()}`,
      obj,
    };
  }
  if (immutable)
    return { key: obj.key, action: 'conflict', reason: 'exists with different content (published versions are immutable)', obj };
  return { key: obj.key, action: 'replace', reason: 'differs; replacing (immutable: false)', obj };
}

export function parseMirrorIndex(where: string, bytes: Buffer): { versions: Record<string, object> } {
  try {
    const d = JSON.parse(bytes.toString('utf8')) as { versions?: unknown };
    if (d && typeof d.versions === 'object' && d.versions !== null && !Array.isArray(d.versions))
      return d as { versions: Record<string, object> };
  } catch {
    // fall through
  }
  throw new InputError(`${where} is not a valid network mirror index; refusing to overwrite it (repair or remove it by hand)`);
}

/** The whole plan: every object, then the two indexes. Reads only. */
export async function planRelease(store: Store, rel: Release, immutable: boolean, publicArmor: string): Promise<Plan> {
  const objects = await mapLimit(rel.objects, 8, (o) => planObject(store, o, immutable, publicArmor, rel.sums));

  const vKey = L.versionsKey(rel.coords);
  const cur = await store.get(vKey);
  const doc: VersionsDoc = cur ? parseVersionsDoc(`${store.url}/${vKey}`, cur.body) : { versions: [] };
  let versions: PlanItem;
  try {
    const merged = mergeVersion(doc, rel.entry, immutable, `${store.url}/${vKey}`);
    versions = merged
      ? {
          key: vKey,
          action: cur ? 'replace' : 'put',
          reason: `add ${rel.coords.version}` + (cur ? ` to ${doc.versions.length} listed` : ''),
        }
      : { key: vKey, action: 'skip', reason: `${rel.coords.version} already listed, identical` };
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    versions = { key: vKey, action: 'conflict', reason: err.message };
  }

  const mKey = L.mirrorIndexKey(rel.mirrorHost, rel.coords);
  const m = await store.get(mKey);
  const mi = m ? parseMirrorIndex(`${store.url}/${mKey}`, m.body) : { versions: {} };
  const mirrorIndex: PlanItem =
    rel.coords.version in mi.versions
      ? { key: mKey, action: 'skip', reason: 'already listed' }
      : { key: mKey, action: m ? 'replace' : 'put', reason: `add ${rel.coords.version}` };
  return { objects, versions, mirrorIndex };
}

/** All conflicts as one error, before the first write. */
export function refuseConflicts(plan: Plan, storeUrl: string): void {
  const c = [...plan.objects, plan.versions].filter((i) => i.action === 'conflict');
  if (c.length === 0) return;
  const first = c[0]!;
  const more = c.length > 1 ? ` (and ${c.length - 1} more conflicting object${c.length > 2 ? 's' : ''})` : '';
  throw new ConflictError(`${storeUrl}/${first.key} ${first.reason}${more}; nothing was written`);
}
