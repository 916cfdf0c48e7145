import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, stat, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DEFAULTS } from '../../defaults.js';
import { InputError, IntegrityError } from '../../errors.js';
import { parseJsonObject } from '../../json.js';
import { digestHex, digestMismatch, isDigest, sha256Digest, verdict, verifyingBody } from '../ref/digest.js';
import { OCI_INDEX, manifestType, ownBytes } from '../ref/media.js';
import type { Descriptor, Manifest } from '../ref/media.js';
import type { Repo } from './repo.js';

const REF_NAME = 'org.opencontainers.image.ref.name';

interface LayoutIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

/**
 * An OCI image-layout directory (image-spec layout.md) as a repository:
 * blobs/sha256/<hex>, index.json naming tags by org.opencontainers.image.ref.name.
 * skopeo, crane and oras read what it writes. It has no referrers API, so
 * referrers live in the `sha256-<hex>` fallback index, as on such registries.
 */
export class LayoutRepo implements Repo {
  readonly name: string;
  readonly requiresTag = true;
  private indexWrite: Promise<unknown> = Promise.resolve();

  constructor(readonly dir: string) {
    this.name = `oci:${dir}`;
  }

  private blobPath(digest: string): string {
    if (!isDigest(digest)) throw new IntegrityError(`${this.name}: unsupported digest ${digest}`);
    return path.join(this.dir, 'blobs', 'sha256', digestHex(digest));
  }

  /**
   * A document (index.json, a manifest) read whole, up to the document limit;
   * undefined when absent. Read at its size in one buffer of its own (a stream
   * would allocate 64 KiB per read: 10,000 manifests churn gigabytes), which
   * is also what a caller may keep.
   */
  private async readDocument(file: string, what: string): Promise<Buffer | undefined> {
    let fh: FileHandle;
    try {
      fh = await open(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const tooBig = (): IntegrityError => new IntegrityError(`${what}: larger than ${DEFAULTS.maxDocumentBytes} bytes`);
      const { size } = await fh.stat();
      if (size > DEFAULTS.maxDocumentBytes) throw tooBig();
      const bytes = Buffer.allocUnsafeSlow(size);
      let n = 0;
      while (n < size) {
        const { bytesRead } = await fh.read(bytes, n, size - n, n);
        if (bytesRead === 0) break;
        n += bytesRead;
      }
      // What the stat saw: a manifest is checked against its digest, and index.json is replaced by rename.
      return n === size ? bytes : bytes.subarray(0, n);
    } finally {
      await fh.close();
    }
  }

  /**
   * index.json, read again only when the file changed (another inode, size or
   * time: Relay and other tools replace it by rename). A graph of 10,000
   * children looks up tags and fallback indexes tens of thousands of times.
   */
  async readIndex(): Promise<Readonly<LayoutIndex> | undefined> {
    const what = `${this.name}: index.json`;
    const file = path.join(this.dir, 'index.json');
    const st = await stat(file).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (!st) return undefined;
    const c = this.indexCache;
    if (!c || c.ino !== st.ino || c.dev !== st.dev || c.size !== st.size || c.mtimeMs !== st.mtimeMs || c.ctimeMs !== st.ctimeMs) {
      const bytes = await this.readDocument(file, what);
      if (!bytes) return undefined;
      const index = parseJsonObject(bytes, what);
      if (!Array.isArray(index.manifests)) throw new IntegrityError(`${what} is not an OCI image index`);
      const { dev, ino, size, mtimeMs, ctimeMs } = st;
      this.indexCache = { dev, ino, size, mtimeMs, ctimeMs, index: index as unknown as LayoutIndex };
    }
    // Shared, never changed: updateIndex writes a new object.
    return this.indexCache!.index;
  }
  private indexCache:
    { dev: number; ino: number; size: number; mtimeMs: number; ctimeMs: number; index: Readonly<LayoutIndex> } | undefined;

  /** The one image in a layout given without a tag, as skopeo allows; undefined for an empty layout. */
  async defaultReference(): Promise<string | undefined> {
    const ms = (await this.readIndex())?.manifests ?? [];
    if (ms.length > 1) throw new InputError(`${this.name}: the layout holds ${ms.length} images; name one as oci:<dir>:<tag>`);
    return ms[0]?.digest;
  }

  private async lookup(ref: string): Promise<Descriptor | undefined> {
    const ms = (await this.readIndex())?.manifests ?? [];
    return isDigest(ref) ? ms.find((d) => d.digest === ref) : ms.find((d) => d.annotations?.[REF_NAME] === ref);
  }

  async getManifest(ref: string): Promise<Manifest | undefined> {
    const m = await this.readManifest(ref);
    return m && { ...m, bytes: ownBytes(m.bytes) };
  }

  /** Read and checked against its digest; the bytes may share a pool (not to be kept). */
  private async readManifest(ref: string): Promise<Manifest | undefined> {
    const entry = await this.lookup(ref);
    const digest = isDigest(ref) ? ref : entry?.digest;
    if (!digest) return undefined;
    const what = `manifest ${this.name}@${digest}`;
    const bytes = await this.readDocument(this.blobPath(digest), what);
    if (!bytes) return undefined;
    const got = sha256Digest(bytes);
    if (got !== digest) throw digestMismatch(what, digest, got);
    return { digest, mediaType: manifestType(what, entry?.mediaType, bytes), bytes };
  }

  async headManifest(ref: string): Promise<Descriptor | undefined> {
    const m = await this.readManifest(ref);
    return m && { digest: m.digest, mediaType: m.mediaType, size: m.bytes.length };
  }

  async putManifest(m: Manifest, ref: string): Promise<{ subjectHandled: boolean }> {
    await this.init();
    const file = this.blobPath(m.digest);
    if (!(await this.has(file, m.bytes.length))) await this.atomicWrite(file, m.bytes);
    if (!isDigest(ref)) {
      await this.updateIndex((ms) => [
        ...ms.filter((d) => d.annotations?.[REF_NAME] !== ref),
        { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length, annotations: { [REF_NAME]: ref } },
      ]);
    }
    return { subjectHandled: false };
  }

  async hasBlob(d: Descriptor): Promise<boolean> {
    return this.has(this.blobPath(d.digest), d.size);
  }

  async blobSize(digest: string): Promise<number | undefined> {
    try {
      return (await stat(this.blobPath(digest))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  private async has(file: string, size: number): Promise<boolean> {
    try {
      return (await stat(file)).size === size;
    } catch {
      return false;
    }
  }

  async openBlob(d: Descriptor): Promise<Readable> {
    const file = this.blobPath(d.digest);
    if (!(await this.has(file, d.size))) throw new IntegrityError(`${this.name}: blob ${d.digest} is missing`);
    return createReadStream(file, { highWaterMark: 1024 * 1024 });
  }

  async writeBlob(d: Descriptor, body: Readable): Promise<void> {
    const file = this.blobPath(d.digest);
    await this.init();
    const checked = verifyingBody(body, d.digest, d.size, `blob ${d.digest} to ${this.name}`);
    const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      // The pipeline ends only after the check of digest and size has passed, so a bad blob never gets its name.
      await pipeline(checked, createWriteStream(tmp));
      await verdict(checked, `blob ${d.digest} to ${this.name}`);
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async referrers(): Promise<undefined> {
    return undefined;
  }

  private initialised: Promise<void> | undefined;
  private init(): Promise<void> {
    return (this.initialised ??= (async () => {
      await mkdir(path.join(this.dir, 'blobs', 'sha256'), { recursive: true });
      const marker = path.join(this.dir, 'oci-layout');
      const exists = await stat(marker).then(
        () => true,
        () => false,
      );
      if (!exists) await writeFile(marker, JSON.stringify({ imageLayoutVersion: '1.0.0' }));
      if (!(await this.readIndex()))
        await this.atomicWrite(
          path.join(this.dir, 'index.json'),
          Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] })),
        );
    })());
  }

  private updateIndex(change: (ms: Descriptor[]) => Descriptor[]): Promise<void> {
    // One writer at a time in this process; rename makes each write atomic for readers.
    const next = this.indexWrite.then(async () => {
      const current = (await this.readIndex()) ?? { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
      const index = { ...current, manifests: change(current.manifests) };
      await this.atomicWrite(path.join(this.dir, 'index.json'), Buffer.from(JSON.stringify(index, null, 2)));
    });
    this.indexWrite = next.catch(() => undefined);
    return next;
  }

  private async atomicWrite(file: string, bytes: Buffer): Promise<void> {
    const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(tmp, bytes);
    await rename(tmp, file);
  }
}
