// The file store's compare-and-swap with a writer paused inside its update
// (SIGSTOP: a stopped process, a suspended laptop) and a writer killed there.
// The writer is a real child process running the store's own code.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { build } from 'esbuild';
import { FsStore } from '../../src/store/fs.js';
import { PreconditionFailed } from '../../src/store/store.js';
import { tmpDir } from '../fixtures.js';

// Waits on processes and the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(60_000);

const KEY = 'registry/acme/demo/versions';
let bundle: string;
let work: string;

beforeAll(async () => {
  work = await tmpDir('relay-paused-');
  bundle = path.join(work, 'writer.mjs');
  // The writer: reads the key, tells the parent, waits to be told to go on, then compare-and-swaps its line in (retrying when it lost).
  await build({
    stdin: {
      contents: `
        import { FsStore } from './fs.ts';
        import { PreconditionFailed } from './store.ts';
        const [root, line] = process.argv.slice(2);
        const store = new FsStore(root);
        let first = true;
        for (;;) {
          const cur = await store.get('${KEY}');
          if (first) {
            first = false;
            process.send('read');
            await new Promise((r) => process.once('message', r));
          }
          const next = Buffer.from((cur ? cur.body.toString() : '') + line + '\\n');
          try {
            await store.put('${KEY}', next, { contentType: 'text/plain', sha256: 'x', ifMatch: cur.info.etag });
            break;
          } catch (e) {
            if (!(e instanceof PreconditionFailed)) throw e;
            process.send('lost');
          }
        }
        process.send('done');
      `,
      resolveDir: path.resolve(new URL('../../src/store', import.meta.url).pathname),
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: bundle,
    logLevel: 'silent',
  });
});

afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

function writer(root: string, line: string): { child: ChildProcess; said: (m: string) => Promise<void> } {
  const child = fork(bundle, [root, line], { stdio: 'ignore' });
  const heard: string[] = [];
  const waiters: [string, () => void][] = [];
  child.on('message', (m) => {
    heard.push(String(m));
    for (const [want, go] of waiters) if (want === m) go();
  });
  return { child, said: (m) => (heard.includes(m) ? Promise.resolve() : new Promise((r) => waiters.push([m, r]))) };
}

/** Appends a line by compare-and-swap, as updateIndex does: read, put with ifMatch, retry when it lost. */
async function append(store: FsStore, line: string): Promise<void> {
  for (;;) {
    const cur = await store.get(KEY);
    const next = Buffer.from((cur ? cur.body.toString() : '') + line + '\n');
    try {
      await store.put(KEY, next, { contentType: 'text/plain', sha256: 'x', ...(cur ? { ifMatch: cur.info.etag } : { ifNoneMatch: '*' }) });
      return;
    } catch (e) {
      if (!(e instanceof PreconditionFailed)) throw e;
    }
  }
}

describe('a writer paused inside its update', () => {
  test('SIGSTOP between its read and its write: the other writer finishes meanwhile; resumed, the paused one loses its race, reads again, and both updates survive', async () => {
    const root = path.join(work, 'paused');
    const store = new FsStore(root);
    await append(store, 'first');
    const a = writer(root, 'paused writer');
    await a.said('read');
    a.child.kill('SIGSTOP');
    // however long the pause, the other writer neither waits for it nor steals from it
    await append(store, 'other writer');
    await append(store, 'third writer');
    a.child.kill('SIGCONT');
    a.child.send('go');
    await a.said('done');
    expect(await a.said('lost').then(() => true)).toBe(true);
    expect((await store.get(KEY))!.body.toString().trim().split('\n')).toEqual(['first', 'other writer', 'third writer', 'paused writer']);
    expect(await fs.readFile(path.join(root, KEY), 'utf8')).toBe((await store.get(KEY))!.body.toString());
  }, 30_000);

  test('a writer killed between its read and its write leaves nothing behind that stops the others', async () => {
    const root = path.join(work, 'killed');
    const store = new FsStore(root);
    await append(store, 'first');
    const a = writer(root, 'killed writer');
    await a.said('read');
    a.child.kill('SIGKILL');
    await new Promise((r) => a.child.once('exit', r));
    await append(store, 'other writer');
    expect((await store.get(KEY))!.body.toString().trim().split('\n')).toEqual(['first', 'other writer']);
  }, 30_000);
});
