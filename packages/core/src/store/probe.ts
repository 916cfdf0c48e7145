import { randomBytes } from 'node:crypto';
import { InputError } from '../errors.js';
import { sha256Hex } from '../hash.js';
import { PreconditionFailed, type Store } from './store.js';

/**
 * Proves the store honours If-None-Match and If-Match before Relay relies on
 * them. A store that ignores them would let two publishes overwrite each
 * other's `versions` silently; we refuse instead.
 */
export async function checkConditionalWrites(store: Store): Promise<void> {
  const key = `.relay/probe-${Date.now()}-${randomBytes(6).toString('hex')}`;
  const body = Buffer.from('probe\n');
  const opts = { contentType: 'text/plain', sha256: sha256Hex(body) };
  const refused = async (fn: () => Promise<unknown>): Promise<boolean> =>
    fn().then(
      () => false,
      (e: unknown) => {
        if (e instanceof PreconditionFailed) return true;
        throw e;
      },
    );
  await store.put(key, body, { ...opts, ifNoneMatch: '*' });
  try {
    const noneMatch = await refused(() => store.put(key, body, { ...opts, ifNoneMatch: '*' }));
    const match = await refused(() => store.put(key, body, { ...opts, ifMatch: 'relay-probe-not-an-etag' }));
    if (!noneMatch || !match) {
      const which = [!noneMatch && 'If-None-Match', !match && 'If-Match'].filter(Boolean).join(' and ');
      throw new InputError(
        `store ${store.url} ignores conditional writes (${which}): concurrent publishes could lose versions or overwrite released files; use a store that supports them (AWS S3, Ceph RGW, MinIO)`,
      );
    }
  } finally {
    await store.delete(key).catch(() => undefined);
  }
}
