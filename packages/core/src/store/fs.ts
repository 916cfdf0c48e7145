import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { sleep } from '../concurrency.js';
import { DEFAULTS } from '../defaults.js';
import { InputError, RemoteError } from '../errors.js';
import { sha256Hex } from '../hash.js';
import type { Body, ObjectInfo, PutOptions, Store } from './store.js';
import { PreconditionFailed } from './store.js';

/**
 * A directory that behaves like a store with conditional writes: exclusive
 * create by link(2) of a finished temp file, compare-and-swap by rename(2)
 * under a lock file. Readers never see a partial object. It keeps no
 * metadata: the ETag is the content's sha256, and no Content-Type or
 * Cache-Control is stored (whoever serves the directory decides them).
 */
export class FsStore implements Store {
  readonly url: string;
  constructor(readonly root: string) {
    this.url = 'file://' + root;
  }

  private file(key: string): string {
    const p = path.resolve(this.root, key);
    if (!p.startsWith(path.resolve(this.root) + path.sep)) throw new InputError(`store key escapes the store: ${key}`);
    return p;
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const f = this.file(key);
    const st = await fs.stat(f).catch(() => undefined);
    if (!st?.isFile()) return undefined;
    const h = createHash('sha256');
    await pipeline(createReadStream(f), h);
    const sha256 = h.digest('hex');
    return { key, size: st.size, etag: sha256, sha256 };
  }

  async get(key: string): Promise<{ body: Buffer; info: ObjectInfo } | undefined> {
    const body = await fs.readFile(this.file(key)).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'EISDIR') return undefined;
      throw e;
    });
    if (!body) return undefined;
    const sha256 = sha256Hex(body);
    return { body, info: { key, size: body.length, etag: sha256, sha256 } };
  }

  async getStream(key: string): Promise<Readable | undefined> {
    const f = this.file(key);
    const st = await fs.stat(f).catch(() => undefined);
    return st?.isFile() ? createReadStream(f) : undefined;
  }

  async put(key: string, body: Body, opts: PutOptions): Promise<{ etag: string }> {
    const f = this.file(key);
    await fs.mkdir(path.dirname(f), { recursive: true });
    const tmp = `${f}.relay-tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    let etag: string;
    try {
      if (Buffer.isBuffer(body)) {
        await fs.writeFile(tmp, body);
        etag = sha256Hex(body);
      } else etag = await copyHashing(body.path, tmp);
      if (opts.ifNoneMatch) {
        await fs.link(tmp, f).catch((e: NodeJS.ErrnoException) => {
          if (e.code === 'EEXIST') throw new PreconditionFailed(key, 'already exists');
          throw e;
        });
      } else if (opts.ifMatch !== undefined) {
        await this.withLock(f, async () => {
          const cur = await this.head(key);
          if (!cur) throw new PreconditionFailed(key, 'does not exist');
          if (cur.etag !== opts.ifMatch) throw new PreconditionFailed(key, 'changed since it was read');
          await fs.rename(tmp, f);
        });
      } else {
        await this.withLock(f, () => fs.rename(tmp, f));
      }
    } finally {
      await fs.rm(tmp, { force: true });
    }
    return { etag };
  }

  /** A lock file per key; a holder that died (crash) is detected by age. */
  private async withLock<T>(f: string, fn: () => Promise<T>): Promise<T> {
    const lock = `${f}.relay-lock`;
    const deadline = Date.now() + DEFAULTS.fsLockWaitMs;
    for (;;) {
      try {
        const h = await fs.open(lock, 'wx');
        await h.close();
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const st = await fs.stat(lock).catch(() => undefined);
        if (st && Date.now() - st.mtimeMs > DEFAULTS.fsLockStaleMs) await fs.rm(lock, { force: true });
        if (Date.now() > deadline)
          throw new RemoteError(
            `store ${this.url}: ${path.relative(this.root, f)} stayed locked by another writer for ${DEFAULTS.fsLockWaitMs} ms`,
          );
        await sleep(5 + Math.random() * 20);
      }
    }
    try {
      return await fn();
    } finally {
      await fs.rm(lock, { force: true });
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const e of entries) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.isFile() && !/\.relay-(tmp|lock)/.test(e.name)) out.push(path.relative(this.root, p).split(path.sep).join('/'));
      }
    };
    await walk(this.root);
    return out.filter((k) => k.startsWith(prefix)).sort();
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.file(key), { force: true });
  }
}

/** Copies a file and returns the sha256 of the bytes copied: the ETag this store gives them. */
async function copyHashing(from: string, to: string): Promise<string> {
  const h = createHash('sha256');
  const hashing = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      cb(null, chunk);
    },
  });
  await pipeline(createReadStream(from), hashing, createWriteStream(to));
  return h.digest('hex');
}
