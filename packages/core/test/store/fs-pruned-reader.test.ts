// A reader paused between listing a key's generations and opening the newest,
// while enough writes land for cleanup to remove that generation: a lost race,
// so it reads again and gets the newest content. Reproduced at the fs layer:
// node's own open(2) is wrapped (in this test only) so that, the first time the
// store opens a generation, ten other compare-and-swap writes land first.
import { describe, expect, jest, test } from '@jest/globals';
import * as path from 'node:path';
import { sha256Hex } from '../../src/hash.js';
import { tmpDir } from '../fixtures.js';

const real = await import('node:fs/promises');
let beforeOpeningGeneration: (() => Promise<void>) | undefined;
jest.unstable_mockModule('node:fs/promises', () => ({
  ...real,
  default: real,
  open: async (...args: Parameters<typeof real.open>) => {
    const pause = beforeOpeningGeneration;
    if (pause && String(args[0]).includes('.relay-gen')) {
      beforeOpeningGeneration = undefined;
      await pause();
    }
    return real.open(...args);
  },
}));
const { FsStore } = await import('../../src/store/fs.js');
const { PreconditionFailed } = await import('../../src/store/store.js');

const KEY = 'registry/acme/demo/versions';
type Store = InstanceType<typeof FsStore>;

/** Appends a line by compare-and-swap, as updateIndex does. */
async function append(store: Store, line: string): Promise<void> {
  for (;;) {
    const cur = await store.get(KEY);
    const next = Buffer.from((cur ? cur.body.toString() : '') + line + '\n');
    const opts = { contentType: 'text/plain', sha256: sha256Hex(next) };
    try {
      await store.put(KEY, next, cur ? { ...opts, ifMatch: cur.info.etag } : { ...opts, ifNoneMatch: '*' });
      return;
    } catch (e) {
      if (!(e instanceof PreconditionFailed)) throw e;
    }
  }
}

/** A store whose key has generations, and a second writer (its own store object, as another process would have). */
async function setup(): Promise<{ reader: Store; other: Store; root: string }> {
  const root = path.join(await tmpDir('relay-pruned-'), 'reg');
  const other = new FsStore(root);
  for (const l of ['a', 'b', 'c']) await append(other, l);
  return { reader: new FsStore(root), other, root };
}

/** Ten writes land while the reader sits between listing and opening: the generation it listed is pruned. */
function tenWritesWhilePaused(other: Store, root: string, pruned: string[]): void {
  beforeOpeningGeneration = async () => {
    const gens = await real.readdir(path.join(root, `${KEY}.relay-gen`));
    for (let i = 0; i < 10; i++) await append(other, `w${i}`);
    const after = new Set(await real.readdir(path.join(root, `${KEY}.relay-gen`)));
    pruned.push(...gens.filter((g) => !after.has(g)));
  };
}

const newest = 'a b c w0 w1 w2 w3 w4 w5 w6 w7 w8 w9'.split(' ');

describe('a reader losing its generation to cleanup re-reads, never fails', () => {
  test.each([
    ['get', async (s: Store) => (await s.get(KEY))!.body.toString()],
    ['head', async (s: Store) => (await s.head(KEY))!.sha256],
    [
      'getStream',
      async (s: Store) => {
        const chunks: Buffer[] = [];
        for await (const c of (await s.getStream(KEY))!) chunks.push(c as Buffer);
        return Buffer.concat(chunks).toString();
      },
    ],
  ])(
    '%s returns the newest content',
    async (_name, read) => {
      const { reader, other, root } = await setup();
      const pruned: string[] = [];
      tenWritesWhilePaused(other, root, pruned);
      const got = await read(reader);
      expect(pruned.length).toBeGreaterThan(0); // the race did happen: what it listed was removed before it opened it
      const text = newest.join('\n') + '\n';
      expect(got).toBe(_name === 'head' ? sha256Hex(text) : text);
    },
    30_000,
  );

  test('a compare-and-swap whose generation was pruned loses its race (PreconditionFailed), and its retry lands', async () => {
    const { reader, other, root } = await setup();
    const cur = (await reader.get(KEY))!;
    const pruned: string[] = [];
    tenWritesWhilePaused(other, root, pruned);
    const next = Buffer.from(cur.body.toString() + 'late\n');
    const err = await reader
      .put(KEY, next, { contentType: 'text/plain', sha256: sha256Hex(next), ifMatch: cur.info.etag })
      .catch((e: unknown) => e);
    expect(pruned.length).toBeGreaterThan(0);
    expect(err).toBeInstanceOf(PreconditionFailed);
    await append(reader, 'late');
    expect((await reader.get(KEY))!.body.toString()).toBe([...newest, 'late'].join('\n') + '\n');
    expect(await real.readFile(path.join(root, KEY), 'utf8')).toBe([...newest, 'late'].join('\n') + '\n');
  }, 30_000);
});
