import { describe, expect, jest, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { writeSingleEntryZip } from '../../src/archive/zip-writer.js';
import { openZipEntry, readZipDirectory } from '../../src/archive/zip-reader.js';
import { h1ForSingleFile } from '../../src/terraform/hashes.js';
import { tmpDir } from '../fixtures.js';

// Waits on the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(30_000);

describe('deterministic zip', () => {
  test('the same content gives byte-identical zips, whatever the clock or time zone', async () => {
    const dir = await tmpDir();
    const content = Buffer.from('x'.repeat(100_000) + 'provider');
    const a = await writeSingleEntryZip('terraform-provider-t_v1.0.0', Readable.from([content]), path.join(dir, 'a.zip'));
    process.env.TZ = 'Pacific/Kiritimati';
    const b = await writeSingleEntryZip(
      'terraform-provider-t_v1.0.0',
      Readable.from([content.subarray(0, 7), content.subarray(7)]),
      path.join(dir, 'b.zip'),
    );
    delete process.env.TZ;
    expect(b.sha256).toBe(a.sha256);
    expect(await fs.readFile(path.join(dir, 'b.zip'))).toEqual(await fs.readFile(path.join(dir, 'a.zip')));
    expect(a.sha256).toBe(
      createHash('sha256')
        .update(await fs.readFile(path.join(dir, 'a.zip')))
        .digest('hex'),
    );
  });

  test('one flat entry with mode 0755 that reads back to the same bytes', async () => {
    const dir = await tmpDir();
    const content = Buffer.from('hello\n');
    const z = await writeSingleEntryZip('terraform-provider-teleport_v9.1.3', Readable.from([content]), path.join(dir, 'p.zip'));
    const entries = await readZipDirectory(path.join(dir, 'p.zip'));
    expect(entries.map((e) => [e.name, e.mode.toString(8), e.size, e.crc32])).toEqual([
      ['terraform-provider-teleport_v9.1.3', '100755', 6, z.crc32],
    ]);
    const back: Buffer[] = [];
    for await (const c of await openZipEntry(path.join(dir, 'p.zip'), entries[0]!)) back.push(c as Buffer);
    expect(Buffer.concat(back)).toEqual(content);
  });

  test('the bytes are pinned: a change here changes every published zip, and lock files stop matching', async () => {
    const dir = await tmpDir();
    const z = await writeSingleEntryZip(
      'terraform-provider-teleport_v9.1.3',
      Readable.from([Buffer.from('hello\n'.repeat(1000))]),
      path.join(dir, 'p.zip'),
    );
    expect([z.sha256, z.size]).toEqual(['b2fe11966a406905360b33bd9eedb42f49d7de1473c86eb47c6c91728c1ac38d', 216]);
  });

  test('the bytes of a multi-megabyte executable are pinned too, however its stream is cut', async () => {
    // Deflate in 256 KiB chunks (ZLIB_CHUNK) must give the bytes Relay wrote with Node's 16 KiB default:
    // this vector was computed before the change, on half pseudo-random, half symbol-like text.
    const parts: Buffer[] = [];
    let seed = createHash('sha256').update('relay-zip-vector').digest();
    for (let i = 0; i < 96; i++) {
      if (i % 3 === 0) {
        const b: Buffer[] = [];
        for (let j = 0; j < 1024; j++) b.push((seed = createHash('sha256').update(seed).digest()));
        parts.push(Buffer.concat(b));
      } else
        parts.push(
          Buffer.from(`github.com/hashicorp/terraform-plugin-framework/internal/fwserver.(*Server).ReadResource block ${i}\n`.repeat(300)),
        );
    }
    const content = Buffer.concat(parts);
    const dir = await tmpDir();
    for (const cuts of [[1000, 300_000], [65_536, 1_000_000, 2_000_000], [7]]) {
      const pieces = [0, ...cuts, content.length].slice(1).map((end, i, a) => content.subarray(i === 0 ? 0 : a[i - 1], end));
      const z = await writeSingleEntryZip('terraform-provider-teleport_v9.1.3', Readable.from(pieces), path.join(dir, 'big.zip'));
      expect([content.length, z.sha256, z.size]).toEqual([
        2928376,
        '91ad5624608b3ea713ca4a7e97dc95346b9e8c6051f607db9f86b4f0d1019ea1',
        1066006,
      ]);
    }
  });

  test('h1 matches the value golang.org/x/mod dirhash computes (reference vector)', () => {
    const sha = createHash('sha256').update('hello\n').digest('hex');
    expect(h1ForSingleFile(sha, 'terraform-provider-teleport_v9.1.3')).toBe('h1:DGwCFc11wxhescdrE5QcpSYukWUhflipaE64Kn1rqZc=');
  });
});
