// The fan-out spool: one download, many readers at their own pace, the last
// byte held back until the digest is checked, and interrupted attempts
// surfaced to readers as retryable.
import { describe, expect, jest, test } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { RelayError } from '../../src/errors.js';
import { Spool } from '../../src/mirror/spool.js';

// Waits on the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(30_000);

const digest = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** A source that yields `data` in 64 KiB chunks, pausing `delayMs` between them; `corruptAt` flips one byte. */
function source(data: Buffer, delayMs = 0, corruptAt?: number): Readable {
  return Readable.from(
    (async function* () {
      for (let i = 0; i < data.length; i += 65536) {
        let chunk = data.subarray(i, i + 65536);
        if (corruptAt !== undefined && corruptAt >= i && corruptAt < i + chunk.length) {
          chunk = Buffer.from(chunk);
          chunk[corruptAt - i] = chunk[corruptAt - i]! ^ 0xff;
        }
        if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
        yield chunk;
      }
    })(),
  );
}

async function drain(r: Readable, delayMs = 0, count?: (n: number) => void): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of r) {
    out.push(c as Buffer);
    count?.((c as Buffer).length);
    if (delayMs) await new Promise((res) => setTimeout(res, delayMs));
  }
  return Buffer.concat(out);
}

describe('spool', () => {
  test('three readers at different paces get the same bytes from one download', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'relay-spool-'));
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const spool = new Spool({ mediaType: 'x', digest: digest(data), size: data.length }, dir, 'blob');
    let opened = 0;
    const filling = spool.fill(
      async () => {
        opened++;
        return source(data, 1);
      },
      async () => false,
    );
    // Progress, not durations: on a loaded machine the fast readers' times stretch, the slow one's pauses do not.
    let slowBytes = 0;
    const slowAt: number[] = [];
    const read = (delay: number, count?: (n: number) => void) =>
      drain(spool.reader(), delay, count).then((b) => {
        slowAt.push(slowBytes);
        return b;
      });
    const [fast, medium, slow] = await Promise.all([read(0), read(2), read(400, (n) => (slowBytes += n))]);
    await filling;
    expect(opened).toBe(1);
    expect(spool.bytesRead).toBe(data.length);
    for (const b of [fast, medium, slow]) expect(b.equals(data)).toBe(true);
    // The slow reader did not hold back the download or the others: the first to finish did so before the slow one
    // had read half.
    expect(slowAt[0]).toBeLessThan(data.length / 2);
    await spool.dispose();
    expect(await readdir(dir)).toEqual([]);
    await rm(dir, { recursive: true });
  });

  test('wrong bytes never all reach a reader; a retried download serves the next attempt', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'relay-spool-'));
    const data = randomBytes(512 * 1024);
    const spool = new Spool({ mediaType: 'x', digest: digest(data), size: data.length }, dir, 'blob');
    let attempt = 0;
    const reader1 = spool.reader();
    const first = drain(reader1).then(
      () => 'completed',
      (e: unknown) => e,
    );
    await spool.fill(
      async () => source(data, 1, ++attempt === 1 ? data.length - 1 : undefined),
      async () => true,
    );
    expect(attempt).toBe(2);
    const err = await first;
    // It read all but the held-back last byte of the bad attempt, then failed in a way worth retrying.
    expect(err).toBeInstanceOf(RelayError);
    expect((err as RelayError).retryable).toBe(true);
    expect((err as Error).message).toMatch(/^blob: the source download was interrupted: blob: digest mismatch/);
    expect((await drain(spool.reader())).equals(data)).toBe(true);
    await spool.dispose();
    await rm(dir, { recursive: true });
  });

  test('a download that gives up fails its readers, not retryable', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'relay-spool-'));
    const data = randomBytes(100_000);
    const spool = new Spool({ mediaType: 'x', digest: digest(data), size: data.length }, dir, 'blob');
    const r = drain(spool.reader()).catch((e: unknown) => e);
    await expect(
      spool.fill(
        async () => source(data.subarray(0, 1000)),
        async () => false,
      ),
    ).rejects.toThrow('blob: 1000 bytes, descriptor states 100000');
    const err = (await r) as RelayError;
    expect(err.message).toBe('blob: 1000 bytes, descriptor states 100000');
    expect(err.retryable).toBe(false);
    await spool.dispose();
    await rm(dir, { recursive: true });
  });
});
