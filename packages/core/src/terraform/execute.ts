import { mapLimit } from '../concurrency.js';
import { TransferProgress } from '../log/progress.js';
import { DEFAULTS } from '../defaults.js';
import { ConflictError, throwIfCancelled } from '../errors.js';
import { sha256Hex } from '../hash.js';
import type { Logger } from '../log/logger.js';
import { withRetry } from '../retry.js';
import { PreconditionFailed, type Store } from '../store/store.js';
import { addMirrorVersion, json, mergeVersion, parseMirrorIndex, parseVersionsDoc } from './documents.js';
import * as L from './layout.js';
import { planObject, type Plan, type PlanItem } from './plan.js';
import type { Release } from './release.js';

export interface ExecuteOptions {
  immutable: boolean;
  /** The signing key's public armor: a signature found at execution time is judged by the plan's rule. */
  publicArmor: string;
  log: Logger;
  signal?: AbortSignal;
  /** Told of each object of the first phase (released bytes) once it is in the store: written, or planned as identical. */
  stored?: (item: PlanItem) => void;
  /** Awaited before the commit point (`versions`): a failure there leaves the version unlisted. */
  beforeCommit?: () => Promise<void>;
  /** Zips written ahead of the plan (terraform/upload-ahead.ts), by key: true when this run created it; false, write it now. */
  written?: ReadonlyMap<string, Promise<boolean>>;
}

/**
 * Writes in the order that keeps every reference resolvable at every moment:
 * store objects, then per-version documents, then discovery, then the mirror
 * index, then `versions` (the commit point). A crash anywhere leaves a
 * registry whose listed versions are complete, in the registry and in the
 * mirror alike; a re-run finishes the job. Cancellation stops between objects
 * and never between the two indexes.
 */
export async function executePlan(store: Store, rel: Release, plan: Plan, o: ExecuteOptions): Promise<void> {
  const { immutable, log, signal } = o;
  const phases = ['store', 'document', 'shared'] as const;
  const writes = plan.objects.filter((i) => i.action === 'put' || i.action === 'replace');
  const progress = new TransferProgress(
    log,
    'uploading',
    writes.length,
    writes.reduce((n, i) => n + (i.bytes ?? 0), 0),
  );
  for (const i of plan.objects) if (i.action === 'skip' && i.obj?.kind === 'store') o.stored?.(i);
  for (const kind of phases) {
    // Largest first, so the last upload to start is not the longest.
    const items = writes.filter((i) => i.obj?.kind === kind).sort((a, b) => (b.bytes ?? 0) - (a.bytes ?? 0));
    await mapLimit(
      items,
      DEFAULTS.storeWriteParallel,
      async (item) => {
        const ahead = await o.written?.get(item.object);
        if (!ahead) await writeObject(store, rel, item, o);
        progress.add(item.bytes ?? 0);
        progress.itemDone();
        if (!ahead) log.info(`${item.action === 'put' ? 'put' : 'replaced'} ${item.object}`);
        if (kind === 'store') o.stored?.(item);
      },
      signal,
    );
  }
  // Objects held as wanted whose served copies a killed run left behind: caught up before anything lists them.
  for (const i of plan.objects) if (i.action === 'repair') await repairServed(store, i, log);
  await o.beforeCommit?.();
  throwIfCancelled(signal);
  // The mirror index first: its version document and archives are already written, so listing the version
  // there early is harmless, and `versions` stays the one commit point: a kill between the two never leaves a
  // listed version that the mirror lacks.
  const mirrorWritten = await updateIndex(store, plan.mirrorIndex.object, log, (cur) => {
    const idx = cur ? parseMirrorIndex(`${store.url}/${plan.mirrorIndex.object}`, cur) : { versions: {} };
    const next = addMirrorVersion(idx, rel.coords.version);
    return next && json(next);
  });
  if (!mirrorWritten && plan.mirrorIndex.action === 'repair') await repairServed(store, plan.mirrorIndex, log);
  const versionsWritten = await updateIndex(store, plan.versions.object, log, (cur) => {
    const where = `${store.url}/${plan.versions.object}`;
    const doc = cur ? parseVersionsDoc(where, cur) : { versions: [] };
    const merged = mergeVersion(doc, rel.entry, immutable, where);
    return merged && json(merged);
  });
  if (!versionsWritten && plan.versions.action === 'repair') await repairServed(store, plan.versions, log);
}

/** A served copy behind what the store holds (planned as `repair`): copied out again. A write would have done it itself. */
async function repairServed(store: Store, item: PlanItem, log: Logger): Promise<void> {
  await store.served?.catchUp(item.object);
  log.info(`repaired ${item.object} (${item.why})`);
}

async function writeObject(store: Store, rel: Release, item: PlanItem, o: ExecuteOptions): Promise<void> {
  const obj = item.obj!;
  const body = obj.body;
  // Only a dry run plans a signature without the private key, and a dry run writes nothing.
  if (body === undefined) throw new Error(`${obj.key}: planned without the signing key, so there are no bytes to write`);
  const opts = { contentType: obj.contentType, cacheControl: obj.cacheControl, sha256: obj.sha256 };
  if (item.action === 'replace') {
    await store.put(obj.key, body, opts);
    return;
  }
  try {
    await store.put(obj.key, body, { ...opts, ifNoneMatch: '*' });
  } catch (err) {
    if (!(err instanceof PreconditionFailed)) throw err;
    // Someone wrote it since we planned (a concurrent publish of the same version, a workflow re-run racing
    // the original, or our own retried request): judge it by the same rule the plan applies, so identical
    // publishes all succeed (an existing signature by this key over these sums is kept).
    const now = await planObject(store, obj, { immutable: o.immutable, publicArmor: o.publicArmor, sums: rel.sums });
    if (now.action === 'skip') return;
    if (now.action === 'replace') return void (await store.put(obj.key, body, opts));
    throw new ConflictError(
      `${store.url}/${obj.key} was written with different content while publishing (${now.why}); stopping before the versions index`,
    );
  }
}

/**
 * Read-modify-write with compare-and-swap: If-Match the ETag we read, or
 * If-None-Match when there was nothing. A lost race re-reads and re-merges,
 * so concurrent publishes of different versions all land.
 */
export async function updateIndex(
  store: Store,
  key: string,
  log: Logger,
  mutate: (current: Buffer | undefined) => Buffer | undefined,
): Promise<boolean> {
  return withRetry(
    async () => {
      const cur = await store.get(key);
      const next = mutate(cur?.body);
      if (!next) return false;
      const opts = { contentType: L.contentTypeFor(key), cacheControl: L.CACHE_MUTABLE, sha256: sha256Hex(next) };
      await store.put(key, next, cur ? { ...opts, ifMatch: cur.info.etag } : { ...opts, ifNoneMatch: '*' });
      log.info(`updated ${key}`);
      return true;
    },
    (err) => err instanceof PreconditionFailed,
    DEFAULTS.casRetry,
    (_e, attempt) => log.debug(`${key} changed underneath us (attempt ${attempt}); re-reading`),
  );
}
