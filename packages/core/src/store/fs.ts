import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InputError, RemoteError } from '../errors.js';
import { HashingStream, sha256Hex } from '../hash.js';
import type { Body, ObjectInfo, PutOptions, ServedCopies, Store } from './store.js';
import { PreconditionFailed } from './store.js';

/** Generations a key keeps besides its newest: enough for any writer still reading one, small enough to stay tidy. */
const KEEP_GENERATIONS = 8;
/** Re-reads after losing a generation to pruning: each loss means KEEP_GENERATIONS newer writes landed meanwhile, so this bounds only a store written without pause. */
const MAX_REREADS = 100;

/**
 * A directory that behaves like a store with conditional writes, with no
 * locks at all, so a writer paused for any length of time (a stopped
 * process, a suspended laptop, a slow NFS server) can never make another
 * writer lose an update, and a killed one leaves nothing to clean up:
 *
 * - exclusive create: link(2) of a finished temp file, which fails if the key exists;
 * - compare-and-swap: each version of a key is a numbered generation
 *   (`<key>.relay-gen/<n>`) created exclusively by link(2); the newest is the
 *   key's content. A writer that read generation n creates n+1 or loses (a
 *   PreconditionFailed, and its caller reads again); a paused writer resuming
 *   late simply loses its race.
 * - the plain file `<key>` always catches up with the newest generation, for
 *   whoever serves the directory as static files: every writer republishes
 *   the newest generation after its own, until it sees no newer one. A writer
 *   killed between the two leaves the plain file behind: `served.behind`
 *   names it, and a re-run plans it as a repair (`served.catchUp`).
 *
 * Readers never see a partial object. No metadata is kept: the ETag is the
 * content's sha256, and no Content-Type or Cache-Control is stored (whoever
 * serves the directory decides them).
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

  /**
   * The key's current content, opened: its newest generation, else the plain
   * file. Once open, the bytes stay readable even if the file is then removed.
   * A generation pruned between listing and opening means at least
   * KEEP_GENERATIONS newer ones landed meanwhile (this reader was paused): a
   * lost race, so it lists again and opens the newest, never failing on it.
   */
  private async openCurrent(f: string): Promise<Opened | undefined> {
    for (let attempt = 1; ; attempt++) {
      const gen = await newestGeneration(f);
      const opened = await openFile(gen === undefined ? f : generationFile(f, gen), gen ?? 0);
      if (opened || gen === undefined) return opened;
      if (attempt >= MAX_REREADS)
        throw new RemoteError(`${this.url}/${path.relative(this.root, f)}: changed faster than it could be read (${attempt} attempts)`, {
          retryable: true,
        });
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const cur = await this.openCurrent(this.file(key));
    if (!cur) return undefined;
    const sha256 = await sha256OfHandle(cur);
    return { key, size: cur.size, etag: sha256, sha256 };
  }

  async get(key: string): Promise<{ body: Buffer; info: ObjectInfo } | undefined> {
    const cur = await this.openCurrent(this.file(key));
    if (!cur) return undefined;
    const body = await readAll(cur);
    const sha256 = sha256Hex(body);
    return { body, info: { key, size: body.length, etag: sha256, sha256 } };
  }

  async getStream(key: string): Promise<Readable | undefined> {
    const cur = await this.openCurrent(this.file(key));
    return cur?.handle.createReadStream();
  }

  /**
   * What a static server on the directory shows: the plain files, which a
   * writer killed between linking a generation and copying it out leaves
   * behind the key's content until some writer catches them up.
   */
  readonly served: ServedCopies = {
    open: async (key) => {
      const got = await openFile(this.file(key), 0);
      return got && { size: got.size, body: got.handle.createReadStream() };
    },
    behind: async (key) => {
      const f = this.file(key);
      for (let attempt = 1; ; attempt++) {
        const gen = await newestGeneration(f);
        if (gen === undefined) return undefined;
        const newest = await openFile(generationFile(f, gen), gen);
        // pruned under us: a newer one exists
        if (!newest && attempt < MAX_REREADS) continue;
        if (!newest)
          throw new RemoteError(`${this.url}/${key}: changed faster than it could be read (${attempt} attempts)`, { retryable: true });
        const plain = await openFile(f, 0);
        const [want, have] = [await sha256OfHandle(newest), plain && (await sha256OfHandle(plain))];
        if (want === have) return undefined;
        return { served: key, newest: path.relative(this.root, generationFile(f, gen)).split(path.sep).join('/') };
      }
    },
    catchUp: (key) => this.publishNewest(this.file(key)),
  };

  async put(key: string, body: Body, opts: PutOptions): Promise<{ etag: string }> {
    const f = this.file(key);
    await fs.mkdir(path.dirname(f), { recursive: true });
    const tmp = tempName(f);
    let etag: string;
    try {
      if (Buffer.isBuffer(body)) {
        await fs.writeFile(tmp, body);
        etag = sha256Hex(body);
      } else etag = await copyHashing(body.path, tmp);
      if (opts.ifNoneMatch) {
        if ((await newestGeneration(f)) !== undefined || !(await linkExclusive(tmp, f)))
          throw new PreconditionFailed(key, 'already exists');
      } else if (opts.ifMatch !== undefined) {
        const cur = await this.openCurrent(f);
        if (!cur) throw new PreconditionFailed(key, 'does not exist');
        if ((await sha256OfHandle(cur)) !== opts.ifMatch) throw new PreconditionFailed(key, 'changed since it was read');
        await fs.mkdir(generationDir(f), { recursive: true });
        // The one decision: whoever creates generation n+1 first wins; everyone else read a stale version.
        if (!(await linkExclusive(tmp, generationFile(f, cur.gen + 1)))) throw new PreconditionFailed(key, 'changed since it was read');
        await this.publishNewest(f);
      } else if ((await newestGeneration(f)) === undefined) {
        await fs.rename(tmp, f);
      } else {
        // An unconditional write to a compare-and-swap key: the next generation, whatever it is.
        for (;;) {
          const next = ((await newestGeneration(f)) ?? 0) + 1;
          if (await linkExclusive(tmp, generationFile(f, next))) break;
        }
        await this.publishNewest(f);
      }
    } finally {
      await fs.rm(tmp, { force: true });
    }
    return { etag };
  }

  /** Copies the newest generation to the plain file until no newer one appears, then prunes old generations. */
  private async publishNewest(f: string): Promise<void> {
    for (;;) {
      const gen = await newestGeneration(f);
      if (gen === undefined) return;
      const tmp = tempName(f);
      try {
        await fs.copyFile(generationFile(f, gen), tmp);
        await fs.rename(tmp, f);
      } catch (e) {
        await fs.rm(tmp, { force: true });
        // pruned under us by a writer that had already moved on: look again
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        continue;
      }
      if ((await newestGeneration(f)) !== gen) continue;
      for (const g of await generations(f)) if (g < gen - KEEP_GENERATIONS) await fs.rm(generationFile(f, g), { force: true });
      return;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const e of entries) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) {
          if (!e.name.endsWith(GEN_SUFFIX)) await walk(p);
        } else if (e.isFile() && !/\.relay-(tmp|lock)/.test(e.name)) out.push(path.relative(this.root, p).split(path.sep).join('/'));
      }
    };
    await walk(this.root);
    return out.filter((k) => k.startsWith(prefix)).sort();
  }

  async delete(key: string): Promise<void> {
    const f = this.file(key);
    await fs.rm(generationDir(f), { recursive: true, force: true });
    await fs.rm(f, { force: true });
  }
}

const GEN_SUFFIX = '.relay-gen';
const generationDir = (f: string): string => f + GEN_SUFFIX;
const generationFile = (f: string, gen: number): string => path.join(generationDir(f), String(gen).padStart(12, '0'));
const tempName = (f: string): string => `${f}.relay-tmp-${process.pid}-${randomBytes(4).toString('hex')}`;

async function generations(f: string): Promise<number[]> {
  const names = await fs.readdir(generationDir(f)).catch(() => [] as string[]);
  return names.filter((n) => /^\d+$/.test(n)).map(Number);
}

async function newestGeneration(f: string): Promise<number | undefined> {
  const gens = await generations(f);
  return gens.length ? Math.max(...gens) : undefined;
}

/** link(2): creates `to` only if it does not exist. */
async function linkExclusive(from: string, to: string): Promise<boolean> {
  try {
    await fs.link(from, to);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

/** An open file and its generation (0: the plain file). */
interface Opened {
  handle: fs.FileHandle;
  gen: number;
  size: number;
}

/** Opens a regular file, or says there is none (removed, never written, or a directory). */
async function openFile(file: string, gen: number): Promise<Opened | undefined> {
  const handle = await fs.open(file, 'r').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT' || e.code === 'EISDIR') return undefined;
    throw e;
  });
  if (!handle) return undefined;
  const st = await handle.stat().catch(async (e: unknown) => {
    await handle.close();
    throw e;
  });
  if (!st.isFile()) {
    await handle.close();
    return undefined;
  }
  return { handle, gen, size: st.size };
}

/** Reads the whole file and closes it. */
async function readAll(o: Opened): Promise<Buffer> {
  try {
    return await o.handle.readFile();
  } finally {
    await o.handle.close();
  }
}

/** Hashes the whole file and closes it. */
async function sha256OfHandle(o: Opened): Promise<string> {
  const h = createHash('sha256');
  await pipeline(o.handle.createReadStream({ start: 0 }), h);
  return h.digest('hex');
}

/** Copies a file and returns the sha256 of the bytes copied: the ETag this store gives them. */
async function copyHashing(from: string, to: string): Promise<string> {
  const hashing = new HashingStream();
  await pipeline(createReadStream(from), hashing, createWriteStream(to));
  return hashing.sha256();
}
