import { describe, expect, jest, test } from '@jest/globals';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ConflictError, IntegrityError } from '../../src/errors.js';
import { NullLogger } from '../../src/log/logger.js';
import { ociCopy } from '../../src/oci/copy/copy.js';
import { parseReference } from '../../src/oci/ref/reference.js';
import { LayoutRepo } from '../../src/oci/repo/layout.js';
import { OciSession } from '../../src/oci/repo/session.js';
import { tmpDir } from '../fixtures.js';
import { makeFixture, readIndexJson } from './fixtures.js';

// Waits on the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(30_000);

const fast = { attempts: 2, baseMs: 1, maxMs: 5 };

async function run(
  src: string,
  dst: string,
  extra: { tags?: string[]; dryRun?: boolean; immutable?: boolean; signal?: AbortSignal; onLog?: (line: string) => void } = {},
) {
  const log = new NullLogger();
  const session = new OciSession({ env: {}, log });
  try {
    const r = await ociCopy(
      {
        source: parseReference(src),
        destination: parseReference(dst),
        tags: extra.tags ?? [],
        dryRun: extra.dryRun ?? false,
        immutable: extra.immutable ?? false,
        retry: fast,
      },
      session,
      log,
      extra.signal,
    );
    return { r, log };
  } finally {
    session.close();
  }
}

async function blobFiles(dir: string): Promise<string[]> {
  return (await readdir(path.join(dir, 'blobs', 'sha256')).catch(() => [])).filter((f) => !f.endsWith('.tmp')).sort();
}

describe('copy between OCI layouts', () => {
  test('copies index, children, blobs, cosign tag and referrer; keeps the digest; verifies', async () => {
    const f = await makeFixture();
    const out = await tmpDir();
    const { r } = await run(`oci:${f.dir}:v1`, `oci:${out}`);
    expect(r.digest).toBe(f.index.digest);
    expect(r.images).toEqual([`oci:${out}:v1@${f.index.digest}`, `oci:${out}@${f.index.digest}`]);
    // Same bytes for everything reachable: every source blob file exists in the target.
    const want = await blobFiles(f.dir);
    expect(await blobFiles(out)).toEqual(want);
    const tags = Object.fromEntries(
      (await readIndexJson(out)).manifests.map((d) => [d.annotations?.['org.opencontainers.image.ref.name'], d.digest]),
    );
    expect(tags).toEqual({
      v1: f.index.digest,
      [`sha256-${f.index.digest.slice(7)}.sig`]: f.sig.digest,
      [`sha256-${f.index.digest.slice(7)}`]: expect.stringMatching(/^sha256:/),
    });
    const fallback = JSON.parse(
      await readFile(path.join(out, 'blobs', 'sha256', (tags[`sha256-${f.index.digest.slice(7)}`] as string).slice(7)), 'utf8'),
    );
    expect(fallback.manifests.map((d: { digest: string }) => d.digest)).toEqual([f.sbom.digest]);
    expect(r.transferred?.blobsCopied).toBe(r.plan.blobs.length);
    expect(r.verified.map((v) => v.reference)).toContain(`oci:${out}:v1`);
  });

  test('a re-run is a no-op: nothing copied or written', async () => {
    const f = await makeFixture();
    const out = await tmpDir();
    await run(`oci:${f.dir}:v1`, `oci:${out}`);
    const before = await readFile(path.join(out, 'index.json'), 'utf8');
    const { r } = await run(`oci:${f.dir}:v1`, `oci:${out}`);
    expect(r.transferred).toEqual({ blobsCopied: 0, blobsMounted: 0, bytesCopied: 0, manifestsPut: 0, tagsPut: 0 });
    expect(r.plan.tags.every((t) => t.action === 'present')).toBe(true);
    expect(await readFile(path.join(out, 'index.json'), 'utf8')).toBe(before);
  });

  test('dry run plans and writes nothing', async () => {
    const f = await makeFixture();
    const out = await tmpDir();
    const { r, log } = await run(`oci:${f.dir}:v1`, `oci:${out}:release`, { dryRun: true });
    expect(r.plan.blobs.every((b) => b.action === 'copy')).toBe(true);
    expect(r.plan.tags.find((t) => t.tag === 'release')?.action).toBe('put');
    expect(await readdir(out)).toEqual([]);
    expect(log.lines).toContain('dry run: nothing written');
  });

  test('an immutable tag at another digest is a conflict before anything is written', async () => {
    const a = await makeFixture();
    const b = await makeFixture();
    const out = await tmpDir();
    await run(`oci:${a.dir}:v1`, `oci:${out}`);
    const blobsBefore = await blobFiles(out);
    await expect(run(`oci:${b.dir}:v1`, `oci:${out}`, { immutable: true })).rejects.toThrow(ConflictError);
    await expect(run(`oci:${b.dir}:v1`, `oci:${out}`, { immutable: true })).rejects.toThrow(
      `immutable tag conflict: oci:${out}:v1 is ${a.index.digest}, not ${b.index.digest}`,
    );
    expect(await blobFiles(out)).toEqual(blobsBefore);
    // Mutable: the tag moves.
    const { r } = await run(`oci:${b.dir}:v1`, `oci:${out}`);
    expect(r.plan.tags.find((t) => t.tag === 'v1')?.action).toBe('move');
    expect((await readIndexJson(out)).manifests.find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === 'v1')?.digest).toBe(
      b.index.digest,
    );
  });

  test('a corrupted source blob fails with its digest and leaves no tag', async () => {
    const f = await makeFixture();
    const layer = f.layers[1]!;
    const file = path.join(f.dir, 'blobs', 'sha256', layer.digest.slice(7));
    const bytes = await readFile(file);
    bytes[100] = bytes[100]! ^ 0xff;
    await writeFile(file, bytes);
    const out = await tmpDir();
    const err = await run(`oci:${f.dir}:v1`, `oci:${out}`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(
      new RegExp(`^blob ${layer.digest} from oci:.*: digest mismatch, expected ${layer.digest}, got sha256:`),
    );
    expect(await blobFiles(out)).not.toContain(layer.digest.slice(7));
    expect((await readIndexJson(out).catch(() => ({ manifests: [] }))).manifests).toEqual([]);
  });

  test('a missing source tag is one line naming it', async () => {
    const f = await makeFixture();
    await expect(run(`oci:${f.dir}:nope`, `oci:${await tmpDir()}`)).rejects.toThrow(`source oci:${f.dir}:nope: not found`);
  });

  test('a cancelled copy stops between objects, leaves no tag, and a re-run completes', async () => {
    const fx = await makeFixture({ layerSize: 24 << 20, seed: 'cancel' });
    const dst = path.join(await tmpDir(), 'dst');
    const controller = new AbortController();
    // cancel as soon as the first blob has been written to the target
    const watcher = setInterval(() => {
      void blobFiles(dst).then((f) => f.length > 0 && controller.abort());
    }, 1);
    const err = await run(`oci:${fx.dir}:v1`, `oci:${dst}:v1`, { signal: controller.signal }).catch((e: unknown) => e);
    clearInterval(watcher);
    expect(err).toMatchObject({ kind: 'cancelled' });
    const index = await readIndexJson(dst).catch(() => ({ manifests: [] }));
    expect(index.manifests.filter((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'v1')).toEqual([]);
    const again = await run(`oci:${fx.dir}:v1`, `oci:${dst}:v1`);
    expect(again.r.digest).toBe(fx.index.digest);
  });

  test('an already-cancelled signal refuses before anything is written', async () => {
    const fx = await makeFixture();
    const dst = path.join(await tmpDir(), 'dst');
    const controller = new AbortController();
    controller.abort();
    await expect(run(`oci:${fx.dir}:v1`, `oci:${dst}:v1`, { signal: controller.signal })).rejects.toMatchObject({ kind: 'cancelled' });
    expect(await blobFiles(dst)).toEqual([]);
  });
});

describe('LayoutRepo.writeBlob', () => {
  test('a plain stream of wrong bytes is checked by the layout itself: no file under the digest, no temp file left', async () => {
    const dir = await tmpDir();
    const repo = new LayoutRepo(dir);
    const good = Buffer.from('the real bytes');
    const d = {
      mediaType: 'application/octet-stream',
      digest: 'sha256:' + createHash('sha256').update(good).digest('hex'),
      size: good.length,
    };
    const bad = Buffer.from(good);
    bad[0] = bad[0]! ^ 1;
    await expect(repo.writeBlob(d, Readable.from([bad]))).rejects.toThrow(IntegrityError);
    await expect(repo.writeBlob(d, Readable.from([good, Buffer.from('!')]))).rejects.toThrow(`more than the ${good.length} bytes`);
    expect(await readdir(path.join(dir, 'blobs', 'sha256'))).toEqual([]);
    await repo.writeBlob(d, Readable.from([good]));
    expect(await readFile(path.join(dir, 'blobs', 'sha256', d.digest.slice(7)))).toEqual(good);
    expect(await repo.blobSize(d.digest)).toBe(good.length);
    expect(await repo.blobSize('sha256:' + '0'.repeat(64))).toBeUndefined();
  });
});
