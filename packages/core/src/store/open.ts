import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { badInput, InputError } from '../errors.js';
import { FsStore } from './fs.js';
import { S3Store } from './s3.js';
import type { Store } from './store.js';
import { PreconditionFailed } from './store.js';

/** `s3://bucket/prefix` or `file://dir` (or a plain path) -> a Store. */
export function openStore(url: string, input: string, opts: { endpoint?: string; region?: string; cwd: string }): Store {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (m) return new S3Store(m[1]!, (m[2] ?? '').replace(/\/+$/, ''), opts);
  if (url.startsWith('s3://')) badInput(input, 's3://<bucket>/<prefix> with a valid bucket name', url);
  if (url.startsWith('file://')) return new FsStore(path.resolve(opts.cwd, decodeURIComponent(url.slice('file://'.length))));
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) badInput(input, 's3://<bucket>/<prefix> or file://<dir>', url);
  return new FsStore(path.resolve(opts.cwd, url));
}

/**
 * Proves the store honours If-None-Match and If-Match before Relay relies on
 * them. A store that ignores them would let two publishes overwrite each
 * other's `versions` silently; we refuse instead.
 */
export async function checkConditionalWrites(store: Store): Promise<void> {
  const key = `.relay/probe-${Date.now()}-${randomBytes(6).toString('hex')}`;
  const body = Buffer.from('probe\n');
  const opts = { contentType: 'text/plain', sha256: '0'.repeat(64) };
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
