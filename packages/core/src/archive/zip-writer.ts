import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InputError } from '../errors.js';

/** Fixed for every entry: 1980-01-01 00:00, the DOS epoch, independent of time zone. */
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;
const FLAGS = 0x0008; // sizes and CRC follow the data, so the input can stream
const DEFLATE = 8;
const LEVEL = 6;
const MAX = 0xffffffff;
/**
 * zlib's output chunk. 16 KiB (Node's default) costs a thread-pool round trip
 * and a hash update per 16 KiB: a quarter of the deflate's CPU on a 40 MB
 * provider. Deflate's output does not depend on how its input or output is
 * cut (no flush until the end), so the bytes are the same for any size.
 */
export const ZLIB_CHUNK = 256 * 1024;

export interface ZipResult {
  /** sha256 hex and size of the zip file. */
  sha256: string;
  size: number;
  /** sha256 hex of the single entry's uncompressed content. */
  contentSha256: string;
  /** CRC-32 of the content, as stored in the zip. */
  crc32: number;
}

/**
 * Refuses content too large for a zip without zip64, before anything is
 * compressed: deflate's worst case (zlib's deflateBound for raw deflate) plus
 * the headers must fit the 32-bit sizes and offsets.
 */
export function checkZipFits(entryName: string, rawSize: number, source?: string): void {
  const name = Buffer.byteLength(entryName, 'utf8');
  const deflated = rawSize + Math.floor(rawSize / 2 ** 12) + Math.floor(rawSize / 2 ** 14) + Math.floor(rawSize / 2 ** 25) + 7;
  if (rawSize > MAX || deflated + 30 + 16 + 46 + 22 + 2 * name > MAX) {
    throw new InputError(`${source ? `${source}: ` : ''}${entryName} is larger than 4 GiB, which needs zip64 (not supported)`);
  }
}

/**
 * Writes a zip with one flat entry, byte-identical for identical content:
 * fixed timestamp, fixed deflate level, unix mode 0755, no extra fields, no
 * directory entries. Terraform's lock file records the zip's sha256, so a
 * re-run must reproduce it exactly, whatever library versions a later Relay
 * has: archiver 7's zip of the same content differs in two central-directory
 * bytes (docs/architecture.md, Dependencies), so these bytes are written here.
 * `source` names where the content came from (the input archive), for the
 * refusal of content too large for a zip without zip64.
 */
export async function writeSingleEntryZip(entryName: string, content: Readable, outPath: string, source?: string): Promise<ZipResult> {
  // Node's zlib loads with the first archive, not with the CLI.
  const zlib = process.getBuiltinModule('node:zlib');
  const name = Buffer.from(entryName, 'utf8');
  const zipHash = createHash('sha256');
  const rawHash = createHash('sha256');
  let crc = 0;
  let rawSize = 0;
  let compSize = 0;
  let zipSize = 0;
  const out = createWriteStream(outPath, { highWaterMark: ZLIB_CHUNK });
  const emit = (b: Buffer): void => {
    zipHash.update(b);
    zipSize += b.length;
    out.write(b);
  };

  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(FLAGS, 6);
  local.writeUInt16LE(DEFLATE, 8);
  local.writeUInt16LE(DOS_TIME, 10);
  local.writeUInt16LE(DOS_DATE, 12);
  // crc and sizes stay 0 here: bit 3 puts them in the data descriptor
  local.writeUInt16LE(name.length, 26);
  emit(local);
  emit(name);

  const measureRaw = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      rawHash.update(chunk);
      crc = zlib.crc32(chunk, crc);
      rawSize += chunk.length;
      cb(null, chunk);
    },
  });
  const measureComp = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      zipHash.update(chunk);
      compSize += chunk.length;
      zipSize += chunk.length;
      cb(null, chunk);
    },
  });
  await pipeline(
    content,
    measureRaw,
    zlib.createDeflateRaw({ level: LEVEL, strategy: zlib.constants.Z_DEFAULT_STRATEGY, chunkSize: ZLIB_CHUNK }),
    measureComp,
    out,
    {
      end: false,
    },
  );
  // Every size and offset must fit 32 bits, the central directory's offset included.
  if (rawSize > MAX || compSize > MAX || zipSize + 16 > MAX) {
    out.destroy();
    checkZipFits(entryName, Infinity, source);
  }

  const desc = Buffer.alloc(16);
  desc.writeUInt32LE(0x08074b50, 0);
  desc.writeUInt32LE(crc >>> 0, 4);
  desc.writeUInt32LE(compSize, 8);
  desc.writeUInt32LE(rawSize, 12);
  emit(desc);

  const cdOffset = zipSize;
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE((3 << 8) | 20, 4); // made by: unix, so external attrs carry the mode
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(FLAGS, 8);
  central.writeUInt16LE(DEFLATE, 10);
  central.writeUInt16LE(DOS_TIME, 12);
  central.writeUInt16LE(DOS_DATE, 14);
  central.writeUInt32LE(crc >>> 0, 16);
  central.writeUInt32LE(compSize, 20);
  central.writeUInt32LE(rawSize, 24);
  central.writeUInt16LE(name.length, 28);
  central.writeUInt32LE((0o100755 << 16) >>> 0, 38); // regular file, rwxr-xr-x
  central.writeUInt32LE(0, 42);
  emit(central);
  emit(name);
  const cdSize = zipSize - cdOffset;

  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(cdSize, 12);
  end.writeUInt32LE(cdOffset, 16);
  emit(end);
  await new Promise<void>((resolve, reject) => {
    out.once('error', reject);
    out.end(resolve);
  });
  return { sha256: zipHash.digest('hex'), size: zipSize, contentSha256: rawHash.digest('hex'), crc32: crc >>> 0 };
}
