// The file store's conditional writes, on their own: the registry's
// write-once objects and compare-and-swap indexes rest on exactly these.
import { beforeEach, describe, expect, jest, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { InputError } from '../../src/errors.js';
import { sha256Hex } from '../../src/hash.js';
import { FsStore } from '../../src/store/fs.js';
import { PreconditionFailed, type PutOptions } from '../../src/store/store.js';
import { tmpDir } from '../fixtures.js';

// Waits on the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(30_000);

const KEY = 'registry/acme/demo/versions';
const opts = (body: Buffer, over: Partial<PutOptions> = {}): PutOptions => ({
  contentType: 'application/json',
  sha256: sha256Hex(body),
  ...over,
});
const b = (s: string): Buffer => Buffer.from(s);

/** Every file under the store's directory, so a test sees leftover temp and lock files too. */
async function files(dir: string): Promise<string[]> {
  return (await fs.readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

let dir: string;
let store: FsStore;
beforeEach(async () => {
  dir = await tmpDir();
  store = new FsStore(path.join(dir, 'reg'));
});

describe('FsStore conditional writes', () => {
  test('an exclusive create writes the object; its etag is the content sha256', async () => {
    const put = await store.put(KEY, b('v1'), opts(b('v1'), { ifNoneMatch: '*' }));
    const got = await store.get(KEY);
    expect(got?.body).toEqual(b('v1'));
    expect(got?.info).toEqual({ key: KEY, size: 2, etag: sha256Hex('v1'), sha256: sha256Hex('v1') });
    expect(put.etag).toBe(got?.info.etag);
    expect((await store.head(KEY))?.etag).toBe(put.etag);
  });

  test('the etag is what was written, not what the caller claimed', async () => {
    const put = await store.put(KEY, b('v1'), opts(b('v1'), { sha256: '0'.repeat(64) }));
    expect(put.etag).toBe(sha256Hex('v1'));
  });

  test('a file body is copied, and its etag computed from the copy', async () => {
    const src = path.join(dir, 'big.zip');
    const bytes = Buffer.alloc(300_000, 7);
    await fs.writeFile(src, bytes);
    const put = await store.put('store/f.zip', { path: src, size: bytes.length }, opts(bytes, { ifNoneMatch: '*' }));
    expect(put.etag).toBe(sha256Hex(bytes));
    expect(await fs.readFile(path.join(dir, 'reg/store/f.zip'))).toEqual(bytes);
  });

  // Each case starts from KEY holding v1 (written over v0, so v0's etag is stale).
  const refusals: [string, (etags: { v0: string; v1: string }) => [string, PutOptions], RegExp][] = [
    ["ifNoneMatch '*' on an existing key", () => [KEY, opts(b('v2'), { ifNoneMatch: '*' })], /already exists/],
    ['ifMatch with a stale etag', ({ v0 }) => [KEY, opts(b('v2'), { ifMatch: v0 })], /changed since it was read/],
    ['ifMatch with an etag the key never had', () => [KEY, opts(b('v2'), { ifMatch: 'relay-probe-not-an-etag' })], /changed since/],
    ['ifMatch on a key that does not exist', ({ v1 }) => ['registry/acme/demo/other', opts(b('v2'), { ifMatch: v1 })], /does not exist/],
  ];
  test.each(refusals)('%s: PreconditionFailed, and nothing changes', async (_name, put, message) => {
    const v0 = (await store.put(KEY, b('v0'), opts(b('v0'), { ifNoneMatch: '*' }))).etag;
    const v1 = (await store.put(KEY, b('v1'), opts(b('v1'), { ifMatch: v0 }))).etag;
    const before = await files(dir);
    const [key, o] = put({ v0, v1 });
    const err = await store.put(key, b('v2'), o).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PreconditionFailed);
    expect((err as PreconditionFailed).key).toBe(key);
    expect((err as Error).message).toMatch(message);
    expect((await store.get(KEY))?.body).toEqual(b('v1'));
    // no temp file, no lock file, no object under the other key
    expect(await files(dir)).toEqual(before);
  });

  test('ifMatch with the current etag replaces the content, and the etag moves on', async () => {
    const v0 = (await store.put(KEY, b('v0'), opts(b('v0'), { ifNoneMatch: '*' }))).etag;
    const v1 = (await store.put(KEY, b('v1'), opts(b('v1'), { ifMatch: v0 }))).etag;
    expect(v1).not.toBe(v0);
    expect((await store.get(KEY))?.body).toEqual(b('v1'));
    expect((await store.head(KEY))?.etag).toBe(v1);
  });

  test('an unconditional put replaces whatever is there', async () => {
    await store.put(KEY, b('v0'), opts(b('v0')));
    await store.put(KEY, b('v1'), opts(b('v1')));
    expect((await store.get(KEY))?.body).toEqual(b('v1'));
  });

  test('concurrent exclusive creates of one key: exactly one wins, and its bytes are what is stored', async () => {
    const bodies = Array.from({ length: 24 }, (_, i) => b(`writer ${i}`));
    const results = await Promise.allSettled(bodies.map((body) => store.put(KEY, body, opts(body, { ifNoneMatch: '*' }))));
    const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(PreconditionFailed);
    expect((await store.get(KEY))?.body).toEqual(bodies[won[0]!]);
    expect(await files(dir)).toEqual([path.join('reg', KEY)]);
  });

  test('concurrent compare-and-swap from the same read: exactly one wins', async () => {
    const v0 = (await store.put(KEY, b('v0'), opts(b('v0'), { ifNoneMatch: '*' }))).etag;
    const bodies = Array.from({ length: 12 }, (_, i) => b(`writer ${i}`));
    const results = await Promise.allSettled(bodies.map((body) => store.put(KEY, body, opts(body, { ifMatch: v0 }))));
    const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(PreconditionFailed);
    expect((await store.get(KEY))?.body).toEqual(bodies[won[0]!]);
  });

  test('read-modify-write loops that retry on PreconditionFailed all land (no update is lost)', async () => {
    await store.put(KEY, b(''), opts(b(''), { ifNoneMatch: '*' }));
    const append = async (line: string): Promise<void> => {
      for (;;) {
        const cur = (await store.get(KEY))!;
        const next = Buffer.concat([cur.body, b(line + '\n')]);
        try {
          await store.put(KEY, next, opts(next, { ifMatch: cur.info.etag }));
          return;
        } catch (e) {
          if (!(e instanceof PreconditionFailed)) throw e;
        }
      }
    };
    const lines = Array.from({ length: 10 }, (_, i) => `version ${i}`);
    await Promise.all(lines.map(append));
    const stored = (await store.get(KEY))!.body.toString().trim().split('\n');
    expect(stored.sort()).toEqual([...lines].sort());
  });

  test('compare-and-swap keeps numbered generations: the plain file follows the newest, old ones are pruned, none is listed', async () => {
    let etag = (await store.put(KEY, b('v0'), opts(b('v0'), { ifNoneMatch: '*' }))).etag;
    for (let i = 1; i <= 20; i++) etag = (await store.put(KEY, b(`v${i}`), opts(b(`v${i}`), { ifMatch: etag }))).etag;
    expect(await fs.readFile(path.join(dir, 'reg', KEY), 'utf8')).toBe('v20');
    expect((await store.get(KEY))?.body).toEqual(b('v20'));
    const gens = await fs.readdir(path.join(dir, 'reg', `${KEY}.relay-gen`));
    expect(gens.length).toBeLessThanOrEqual(9);
    expect(await store.list('')).toEqual([KEY]);
    await expect(store.put(KEY, b('x'), opts(b('x'), { ifNoneMatch: '*' }))).rejects.toBeInstanceOf(PreconditionFailed);
    await store.delete(KEY);
    expect(await store.get(KEY)).toBeUndefined();
    expect(await store.list('')).toEqual([]);
  });

  test('served copies: the plain file a static server shows; one left behind its newest generation is named, and caught up', async () => {
    const { etag } = await store.put(KEY, b('v0'), opts(b('v0'), { ifNoneMatch: '*' }));
    await store.put(KEY, b('v1'), opts(b('v1'), { ifMatch: etag }));
    expect(await store.served.behind(KEY)).toBeUndefined();
    expect(await store.served.behind('registry/acme/demo/1.0.0/download/linux/amd64')).toBeUndefined(); // no such key: nothing behind
    // What a writer killed between linking its generation and copying it out leaves: generation 2, the plain file still v1.
    await fs.writeFile(path.join(dir, 'reg', `${KEY}.relay-gen`, '000000000002'), 'v2');
    expect((await store.get(KEY))?.body).toEqual(b('v2'));
    expect(await store.served.behind(KEY)).toEqual({ served: KEY, newest: `${KEY}.relay-gen/000000000002` });
    const shown = await store.served.open(KEY);
    expect(shown?.size).toBe(2);
    const chunks: Buffer[] = [];
    for await (const c of shown!.body) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks)).toEqual(b('v1'));
    await store.served.catchUp(KEY);
    expect(await store.served.behind(KEY)).toBeUndefined();
    expect(await fs.readFile(path.join(dir, 'reg', KEY), 'utf8')).toBe('v2');
    expect(await store.served.open('no/such/key')).toBeUndefined();
  });

  test('list shows objects only, never temp or lock files', async () => {
    await store.put('a/x', b('1'), opts(b('1')));
    await store.put('b/y', b('2'), opts(b('2')));
    await fs.writeFile(path.join(dir, 'reg/a/x.relay-lock'), '');
    await fs.writeFile(path.join(dir, 'reg/a/x.relay-tmp-1-abcd'), '');
    expect(await store.list('')).toEqual(['a/x', 'b/y']);
    expect(await store.list('b/')).toEqual(['b/y']);
  });
});

describe('FsStore keys', () => {
  // reg2 shares reg's name as a prefix: a plain startsWith check would let it through
  // <dir> is the test's directory, which holds the store's root: an absolute path outside it
  const escaping = ['../outside', 'a/../../outside', '../reg2/f', '<dir>/outside', '', '.', 'a/..'];
  test.each(escaping)('%j is refused by every method, and nothing is written outside', async (k) => {
    const key = k.replace('<dir>', dir);
    const message = /^store key escapes the store: /;
    await expect(store.put(key, b('x'), opts(b('x')))).rejects.toThrow(InputError);
    await expect(store.put(key, b('x'), opts(b('x'), { ifNoneMatch: '*' }))).rejects.toThrow(message);
    await expect(store.get(key)).rejects.toThrow(message);
    await expect(store.head(key)).rejects.toThrow(message);
    await expect(store.getStream(key)).rejects.toThrow(message);
    await expect(store.delete(key)).rejects.toThrow(message);
    expect(await files(dir)).toEqual([]);
  });

  test('a missing key reads as absent, and deleting it is not an error', async () => {
    expect(await store.head('no/such')).toBeUndefined();
    expect(await store.get('no/such')).toBeUndefined();
    expect(await store.getStream('no/such')).toBeUndefined();
    await store.delete('no/such');
  });
});
