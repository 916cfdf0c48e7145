import { cjsExports } from '../concurrency.js';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { checkZipFits, writeSingleEntryZip, ZLIB_CHUNK } from '../archive/zip-writer.js';
import { openZipEntry, readZipDirectory, ZipFormatError } from '../archive/zip-reader.js';
import { DEFAULTS } from '../defaults.js';
import { InputError, RelayError } from '../errors.js';
import { parseJson, readLimited } from '../json.js';
import { h1ForSingleFile, zhHash } from './hashes.js';
import { binaryName, zipName, type Coordinates } from './layout.js';
import { BuildInfoScanner } from './protocols/buildinfo.js';
import type { Captured } from './protocols/detect.js';
import { checkExecutablePlatform, EXE_HEAD_BYTES, identifyExecutable } from './protocols/exe.js';
import type { Archive } from './sources.js';

/** A platform's zip as every publish needs it, whether repacked here or copied byte for byte from staging. */
export interface ZipPackage {
  os: string;
  arch: string;
  /** zip file name in the store and in SHA256SUMS */
  filename: string;
  /** local path of the deterministic zip */
  zipPath: string;
  sha256: string;
  size: number;
  /** dirhash h1 of the zip's content (one flat file), `h1:` prefixed */
  h1: string;
  /** the zip's sha256, `zh:` prefixed as lock files and mirrors list it */
  zh: string;
  /** Where it came from, for messages: the release archive's name, or the staging URL. */
  source: string;
}

/** A release archive unpacked and checked: its provider executable on disk, with what the archive said. */
export interface Unpacked {
  os: string;
  arch: string;
  /** The release archive's name, for messages. */
  source: string;
  /** The provider executable, written out (mode 0600, never run from here): the zip is made from it. */
  exePath: string;
  /** Its size in bytes. */
  exeSize: number;
  /** protocol_versions from a terraform-registry-manifest.json inside, if any */
  manifestProtocols?: string[];
  /** sha256 hex of the release archive itself, for the build record. */
  sourceSha256: string;
  /** Other executables in the archive, which the zip does not carry (each named in a warning). */
  leftOut: LeftOut[];
  /** The executable as protocol detection needs it, read on its way out of the archive (when asked for). */
  captured?: Captured;
}

/** A zip made from a release archive, with what the archive said. */
export interface Package extends ZipPackage, Omit<Unpacked, 'exePath' | 'exeSize' | 'captured'> {}

/** An executable in a release archive besides the provider: never dropped silently. */
export interface LeftOut {
  /** Its path in the archive. */
  entry: string;
  /** What makes it an executable: "ELF for arm64", "a #! script with exec bits". */
  what: string;
}

export interface UnpackOptions {
  /** Told of compressed bytes read from a tarball, for progress. */
  onBytes?: (n: number) => void;
  /** Largest provider executable accepted; an archive's whole content may be twice that. */
  maxBinaryBytes?: number;
  /**
   * Read the provider executable for protocol detection on its way out (no
   * second pass): its Go build information is scanned, and with `exeFile`
   * (the host's platform, for the handshake) a copy to run is also written
   * there, mode 0700.
   */
  capture?: { exeFile?: string };
}

const DOC = /\.(md|txt|json|html|sig|asc|sha256|pem|sbom|spdx|cdx)$/i;
const MANIFEST = 'terraform-registry-manifest.json';

function checkEntryPath(archive: string, name: string): void {
  const parts = name.replace(/\\/g, '/').split('/');
  if (name.startsWith('/') || /^[a-zA-Z]:/.test(name) || parts.includes('..')) {
    throw new InputError(`tarball '${archive}': entry '${name}' escapes the archive (absolute path or '..'); refusing it`);
  }
}

function isExecutableName(base: string, name: string): boolean {
  return new RegExp(`^terraform-provider-${name.replace(/-/g, '\\-')}([_.-].*)?$`).test(base) && !DOC.test(base);
}

/**
 * Reads one release archive through, streaming, and runs every check that can
 * refuse it: links, devices, traversal, sizes (declared and inflated), exactly
 * one provider executable, whose header must fit the platform the archive is
 * named for, a readable registry manifest, and the zip's size limits. The
 * provider executable is written to `outDir`; nothing else is kept. Publishing
 * unpacks every archive before it compresses any, so a refusal comes before
 * the first write whatever the order of the archives.
 */
export async function unpack(
  archive: Archive,
  coords: Omit<Coordinates, 'namespace'>,
  outDir: string,
  opts: UnpackOptions = {},
): Promise<Unpacked> {
  const { file } = archive;
  const { name, version } = coords;
  const base = path.basename(file);
  const exePath = path.join(outDir, `${archive.os}_${archive.arch}`, binaryName(name, version, archive.os));
  const found: string[] = [];
  let exeSize: number | undefined;
  let manifestProtocols: string[] | undefined;
  const leftOut: LeftOut[] = [];
  const maxBinaryBytes = opts.maxBinaryBytes ?? DEFAULTS.maxBinaryBytes;
  const scanner = opts.capture ? new BuildInfoScanner() : undefined;
  const exeFile = opts.capture?.exeFile;
  let copyOut: OwnedWriteStream | undefined;

  const take = async (entryName: string, body: Readable, mode: number, crc32?: number): Promise<void> => {
    const b = path.posix.basename(entryName.replace(/\\/g, '/'));
    if (b === MANIFEST) {
      const what = `tarball '${base}': ${MANIFEST}`;
      manifestProtocols = parseRegistryManifest(what, await readLimited(body, DEFAULTS.registryManifestBytes, what, 'input'));
    } else if (isExecutableName(b, name)) {
      found.push(entryName);
      if (found.length > 1)
        throw new InputError(`tarball '${base}': expected exactly one provider executable, found ${found.join(' and ')}`);
      const head = new ExecutableHead(maxBinaryBytes, `tarball '${base}': ${entryName}`);
      // pipe() does not carry errors: a corrupt entry must fail the pipeline, not leave it waiting.
      body.on('error', (e) => head.destroy(e));
      // Nothing may wait between here and the pipeline: the entry's stream is already flowing.
      // The copy to run is written beside the pipeline, so it is owned here: its error handler is attached
      // before its first write (an error, or a write still pending when it is destroyed, is kept, never
      // unhandled), and it is closed before unpack returns or throws.
      const out = exeFile ? (copyOut = ownedWriteStream(exeFile, 0o700)) : undefined;
      let crc = 0;
      const zlib = crc32 === undefined ? undefined : process.getBuiltinModule('node:zlib');
      const tap = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          if (zlib) crc = zlib.crc32(chunk, crc);
          scanner?.push(chunk);
          if (out?.error) return cb(out.error);
          if (out && !out.stream.write(chunk)) {
            // Drained, or closed by an error: either way this chunk is done waiting.
            const go = (): void => {
              out.stream.off('drain', go).off('close', go);
              cb(out.error ?? null, chunk);
            };
            out.stream.on('drain', go).on('close', go);
          } else cb(null, chunk);
        },
      });
      await pipeline(body.pipe(head), tap, createWriteStream(exePath, { mode: 0o600, highWaterMark: ZLIB_CHUNK }));
      if (out) await out.close();
      checkExecutablePlatform(head.bytes(), archive, `tarball '${base}'`);
      if (crc32 !== undefined && crc >>> 0 !== crc32)
        throw new InputError(`tarball '${base}': ${entryName} fails its CRC-32 check (corrupt zip)`);
      exeSize = head.total;
      checkZipFits(binaryName(name, version, archive.os), exeSize, `tarball '${base}'`);
    } else {
      const what = await drainNamingExecutable(body, mode);
      if (what) leftOut.push({ entry: entryName, what });
    }
  };

  await fs.mkdir(path.dirname(exePath), { recursive: true });
  if (exeFile) await fs.mkdir(path.dirname(exeFile), { recursive: true });
  let sourceSha256: string;
  try {
    if (archive.format === 'zip') {
      [sourceSha256] = await Promise.all([fileSha256(file), readZipArchive(file, base, take, maxBinaryBytes)]);
    } else sourceSha256 = await readTarball(file, base, take, maxBinaryBytes, opts.onBytes);
  } catch (err) {
    await copyOut?.abort();
    if (err instanceof RelayError) throw err;
    throw new InputError(`tarball '${base}': ${describeArchiveError(err, archive.format)}`);
  }
  if (exeSize === undefined)
    throw new InputError(`tarball '${base}': expected exactly one provider executable named terraform-provider-${name}*, found none`);
  return {
    os: archive.os,
    arch: archive.arch,
    source: base,
    exePath,
    exeSize,
    manifestProtocols,
    sourceSha256,
    leftOut,
    ...(scanner ? { captured: { scanner, ...(exeFile ? { file: exeFile } : {}) } } : {}),
  };
}

/**
 * Compresses an unpacked executable into the registry's deterministic zip, in
 * `outDir`. The archive was checked whole by unpack(); nothing here refuses it.
 */
export async function packZip(u: Unpacked, coords: Omit<Coordinates, 'namespace'>, outDir: string): Promise<Package> {
  const { name, version } = coords;
  const filename = zipName(name, version, u.os, u.arch);
  const inner = binaryName(name, version, u.os);
  const zipPath = path.join(outDir, filename);
  const z = await writeSingleEntryZip(inner, createReadStream(u.exePath, { highWaterMark: ZLIB_CHUNK }), zipPath, `tarball '${u.source}'`);
  const { exePath: _exe, exeSize: _size, captured: _captured, ...said } = u;
  return {
    ...said,
    filename,
    zipPath,
    sha256: z.sha256,
    size: z.size,
    h1: h1ForSingleFile(z.contentSha256, inner),
    zh: zhHash(z.sha256),
  };
}

/**
 * Reads an entry the zip does not carry to its end, and says what kind of
 * executable it is, if it is one: a native executable (ELF, Mach-O, PE, by
 * its header) or a `#!` script with exec bits. Documents, licences and
 * checksums are not.
 */
async function drainNamingExecutable(body: Readable, mode: number): Promise<string | undefined> {
  let head = Buffer.alloc(0);
  for await (const chunk of body) {
    if (head.length < EXE_HEAD_BYTES) head = Buffer.concat([head, (chunk as Buffer).subarray(0, EXE_HEAD_BYTES - head.length)]);
  }
  const exe = identifyExecutable(head);
  if (exe) return `${exe.format === 'macho' ? 'Mach-O' : exe.format.toUpperCase()} executable${exe.arch ? ` for ${exe.arch}` : ''}`;
  if ((mode & 0o111) !== 0 && head.subarray(0, 2).toString('latin1') === '#!') return 'a #! script with exec bits';
  return undefined;
}

async function fileSha256(file: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(file, { highWaterMark: ZLIB_CHUNK }), h);
  return h.digest('hex');
}

function describeArchiveError(err: unknown, format: string): string {
  const e = err as { code?: string; message?: string };
  if (e.code?.startsWith('Z_') || /unexpected end of file|incorrect header check|invalid/i.test(e.message ?? '')) {
    return format === 'zip' ? `not a valid zip file (${e.message})` : `not a valid gzip-compressed tar file (${e.message})`;
  }
  if (err instanceof ZipFormatError) return `not a valid zip file (${err.message})`;
  return e.message ?? String(err);
}

/** Walks a gzip-compressed tar, handing each regular file to `take`; returns the sha256 of the tarball's bytes. */
async function readTarball(
  file: string,
  base: string,
  take: (name: string, body: Readable, mode: number) => Promise<void>,
  maxBinaryBytes: number,
  onBytes?: (n: number) => void,
): Promise<string> {
  // Loaded on first use: archive code is not part of every command's start-up.
  const { extract } = cjsExports(await import('tar-stream'));
  const ex = extract();
  const src = createReadStream(file, { highWaterMark: ZLIB_CHUNK });
  const gunzip = process.getBuiltinModule('node:zlib').createGunzip({ chunkSize: ZLIB_CHUNK });
  // A gzip bomb (one member or many concatenated) stops as soon as it passes the limit, not after inflating it all.
  const limit = 2 * maxBinaryBytes;
  let inflated = 0;
  gunzip.on('data', (c: Buffer) => {
    inflated += c.length;
    if (inflated > limit)
      gunzip.destroy(new InputError(`tarball '${base}': inflates to more than ${limit} bytes (twice the binary size limit); refusing it`));
  });
  const hash = createHash('sha256');
  let hashed = 0;
  src.on('error', (e) => gunzip.destroy(e));
  src.on('data', (c) => {
    hash.update(c as Buffer);
    hashed += c.length;
    onBytes?.(c.length);
  });
  gunzip.on('error', (e) => ex.destroy(e));
  src.pipe(gunzip).pipe(ex);
  try {
    return await walkTar(ex, file, src, hash, () => hashed, base, take, maxBinaryBytes);
  } finally {
    // A refusal leaves the loop early: the file and the inflater stop too (their errors have handlers above),
    // rather than holding the file open with a half-read gzip stream.
    src.destroy();
    gunzip.destroy();
  }
}

async function walkTar(
  ex: AsyncIterable<{ header: { name: string; size?: number; type?: string | null; mode?: number }; resume(): void }>,
  file: string,
  src: { readableEnded: boolean },
  hash: ReturnType<typeof createHash>,
  hashed: () => number,
  base: string,
  take: (name: string, body: Readable, mode: number) => Promise<void>,
  maxBinaryBytes: number,
): Promise<string> {
  for await (const entry of ex) {
    const h = entry.header;
    checkEntryPath(base, h.name);
    if ((h.size ?? 0) > maxBinaryBytes) {
      throw new InputError(
        `tarball '${base}': entry '${h.name}' declares ${h.size} bytes, over the ${maxBinaryBytes}-byte limit (max-binary-size)`,
      );
    }
    if (h.type === 'directory') {
      entry.resume();
      continue;
    }
    if (h.type !== 'file' && h.type !== 'contiguous-file') {
      throw new InputError(`tarball '${base}': entry '${h.name}' is a ${h.type}; only regular files and directories are allowed`);
    }
    // tar-stream entries are streamx streams; wrap for node's pipeline
    await take(h.name, Readable.from(entry as unknown as AsyncIterable<Buffer>), h.mode ?? 0);
  }
  // The tar ends before the file does when padding or trailing bytes follow it: hash the file itself then.
  const { size } = await fs.stat(file);
  return hashed() === size && src.readableEnded ? hash.digest('hex') : fileSha256(file);
}

/** A write stream with an owner from its creation: its first error is kept (never unhandled), and it is always closed. */
interface OwnedWriteStream {
  stream: WriteStream;
  /** Its first error, once it has one. */
  readonly error: Error | undefined;
  /** Ends it and waits until its bytes are on disk; throws its error. */
  close(): Promise<void>;
  /** Destroys it and waits until it has closed (a pending write settles first); never throws. */
  abort(): Promise<void>;
}

function ownedWriteStream(file: string, mode: number): OwnedWriteStream {
  const stream = createWriteStream(file, { mode });
  let error: Error | undefined;
  stream.on('error', (e) => (error ??= e));
  const closed = new Promise<void>((resolve) => stream.once('close', resolve));
  return {
    stream,
    get error() {
      return error;
    },
    async close() {
      stream.end();
      await finished(stream).catch((e: unknown) => {
        error ??= e as Error;
      });
      if (error) {
        stream.destroy();
        await closed;
        throw error;
      }
    },
    async abort() {
      stream.destroy();
      await closed;
    },
  };
}

async function readZipArchive(
  file: string,
  base: string,
  take: (name: string, body: Readable, mode: number, crc32: number) => Promise<void>,
  maxBinaryBytes: number,
): Promise<void> {
  for (const e of await readZipDirectory(file)) {
    checkEntryPath(base, e.name);
    if (e.size > maxBinaryBytes) {
      throw new InputError(
        `tarball '${base}': entry '${e.name}' declares ${e.size} bytes, over the ${maxBinaryBytes}-byte limit (max-binary-size)`,
      );
    }
    if (e.name.endsWith('/')) continue;
    const type = e.mode & 0o170000;
    if (type !== 0 && type !== 0o100000)
      throw new InputError(`tarball '${base}': entry '${e.name}' is not a regular file (mode ${e.mode.toString(8)})`);
    // The entry's stream flows from here: `take` must attach to it before it awaits anything.
    await take(e.name, await openZipEntry(file, e), e.mode, e.crc32);
  }
}

/**
 * terraform-registry-manifest.json: {"version":1,"metadata":{"protocol_versions":["6.0"]}}.
 * `what` names it (the archive and the file) in the refusal.
 */
export function parseRegistryManifest(what: string, bytes: Buffer): string[] {
  const d = parseJson(bytes, what, 'input') as { version?: unknown; metadata?: { protocol_versions?: unknown } } | null;
  const pv = d?.metadata?.protocol_versions;
  if (d?.version !== 1 || !Array.isArray(pv) || pv.length === 0 || !pv.every((p) => typeof p === 'string')) {
    throw new InputError(`${what}: expected {"version":1,"metadata":{"protocol_versions":["5.0"|"6.0"]}}`);
  }
  return pv as string[];
}

/**
 * Passes a provider executable through, keeping its first bytes (for the
 * platform check) and refusing it the moment it grows past the limit, whatever
 * its header declared.
 */
class ExecutableHead extends Transform {
  private readonly head: Buffer[] = [];
  private headLen = 0;
  total = 0;
  constructor(
    private readonly limit: number,
    private readonly what: string,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.total += chunk.length;
    if (this.total > this.limit) return cb(new InputError(`${this.what}: more than ${this.limit} bytes (max-binary-size)`));
    if (this.headLen < EXE_HEAD_BYTES) {
      this.head.push(chunk.subarray(0, EXE_HEAD_BYTES - this.headLen));
      this.headLen += Math.min(chunk.length, EXE_HEAD_BYTES - this.headLen);
    }
    cb(null, chunk);
  }
  bytes(): Buffer {
    return Buffer.concat(this.head);
  }
}
