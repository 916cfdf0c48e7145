import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { Readable } from 'node:stream';
import { ZLIB_CHUNK } from './zip-writer.js';

export interface ZipEntry {
  name: string;
  /** unix mode from the external attributes when made on unix, else 0 */
  mode: number;
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

/** Thrown for anything that is not a well-formed zip we can read. */
export class ZipFormatError extends Error {}

/** Reads the central directory (zips are read from the end). No zip64. */
export async function readZipDirectory(file: string): Promise<ZipEntry[]> {
  const fh = await fs.open(file, 'r');
  try {
    const { size } = await fh.stat();
    const tailLen = Math.min(size, 22 + 0xffff);
    const tail = Buffer.alloc(tailLen);
    await fh.read(tail, 0, tailLen, size - tailLen);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--)
      if (tail.readUInt32LE(i) === 0x06054b50) {
        eocd = i;
        break;
      }
    if (eocd < 0) throw new ZipFormatError('no end of central directory record');
    const count = tail.readUInt16LE(eocd + 10);
    const cdSize = tail.readUInt32LE(eocd + 12);
    const cdOffset = tail.readUInt32LE(eocd + 16);
    if (cdOffset === 0xffffffff || cdOffset + cdSize > size) throw new ZipFormatError('zip64 or truncated central directory');
    const cd = Buffer.alloc(cdSize);
    await fh.read(cd, 0, cdSize, cdOffset);
    const entries: ZipEntry[] = [];
    let p = 0;
    for (let n = 0; n < count; n++) {
      if (p + 46 > cd.length || cd.readUInt32LE(p) !== 0x02014b50) throw new ZipFormatError('corrupt central directory');
      const madeBy = cd.readUInt16LE(p + 4) >> 8;
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      entries.push({
        name: cd.toString('utf8', p + 46, p + 46 + nameLen),
        mode: madeBy === 3 ? cd.readUInt32LE(p + 38) >>> 16 : 0,
        method: cd.readUInt16LE(p + 10),
        crc32: cd.readUInt32LE(p + 16),
        compressedSize: cd.readUInt32LE(p + 20),
        size: cd.readUInt32LE(p + 24),
        localOffset: cd.readUInt32LE(p + 42),
      });
      p += 46 + nameLen + extraLen + commentLen;
    }
    return entries;
  } finally {
    await fh.close();
  }
}

/** Streams one entry's uncompressed content. */
export async function openZipEntry(file: string, e: ZipEntry): Promise<Readable> {
  if (e.method !== 0 && e.method !== 8) throw new ZipFormatError(`${e.name}: compression method ${e.method} is not supported`);
  const fh = await fs.open(file, 'r');
  const local = Buffer.alloc(30);
  try {
    await fh.read(local, 0, 30, e.localOffset);
  } finally {
    await fh.close();
  }
  if (local.readUInt32LE(0) !== 0x04034b50) throw new ZipFormatError(`${e.name}: corrupt local header`);
  const start = e.localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
  if (e.compressedSize === 0) return Readable.from([]);
  const raw = createReadStream(file, { start, end: start + e.compressedSize - 1, highWaterMark: ZLIB_CHUNK });
  if (e.method === 0) return raw;
  const inflate = process.getBuiltinModule('node:zlib').createInflateRaw({ chunkSize: ZLIB_CHUNK });
  raw.on('error', (err) => inflate.destroy(err));
  // a reader that stops early (a scan that found what it wanted) must not leave the file open
  inflate.once('close', () => raw.destroy());
  return raw.pipe(inflate);
}
