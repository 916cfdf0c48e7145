// The conditional-write probe that runs before a publish relies on them.
import { describe, expect, jest, test } from '@jest/globals';
import * as path from 'node:path';
import { InputError } from '../../src/errors.js';
import { FsStore } from '../../src/store/fs.js';
import { checkConditionalWrites } from '../../src/store/probe.js';
import type { Body, PutOptions, Store } from '../../src/store/store.js';
import { tmpDir } from '../fixtures.js';

// Waits on the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(30_000);

/** A file store that drops the conditions it is asked for, as s3rver or an old MinIO does. */
function ignoring(inner: FsStore, drop: 'ifNoneMatch' | 'ifMatch' | 'both'): Store {
  return Object.assign(Object.create(inner) as FsStore, {
    put: (key: string, body: Body, opts: PutOptions) => {
      const o = { ...opts };
      if (drop !== 'ifMatch') delete o.ifNoneMatch;
      if (drop !== 'ifNoneMatch') delete o.ifMatch;
      return inner.put(key, body, o);
    },
  });
}

describe('checkConditionalWrites', () => {
  test('the file store passes, and the probe object is removed', async () => {
    const store = new FsStore(path.join(await tmpDir(), 'reg'));
    await checkConditionalWrites(store);
    expect(await store.list('')).toEqual([]);
  });

  test.each([
    ['ifNoneMatch', 'If-None-Match'],
    ['ifMatch', 'If-Match'],
    ['both', 'If-None-Match and If-Match'],
  ] as const)('a store ignoring %s is refused, naming what it ignores; the probe is removed', async (drop, named) => {
    const inner = new FsStore(path.join(await tmpDir(), 'reg'));
    const err = await checkConditionalWrites(ignoring(inner, drop)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toBe(
      `store ${inner.url} ignores conditional writes (${named}): concurrent publishes could lose versions or overwrite released files; use a store that supports them (AWS S3, Ceph RGW, MinIO)`,
    );
    expect(await inner.list('')).toEqual([]);
  });
});
