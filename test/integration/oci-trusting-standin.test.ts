// Registries that trust their clients, or forget what they acknowledged, cannot
// be made from the real ones here: these tests use a stand-in registry
// (test/support/trusting-registry.ts) that commits whatever the final PUT of an
// upload names without checking the bytes, or keeps nothing. Relay must never
// let wrong bytes be committed under a digest (it checks them itself before the
// PUT that commits and cancels the session otherwise), and its verification must
// notice a target that lost what it acknowledged. Every test name says "stand-in".
import { afterEach, beforeEach, describe, expect, jest, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { IntegrityError, type RelayError } from '../../packages/core/src/errors.js';
import { DEFAULTS } from '../../packages/core/src/defaults.js';
import { NullLogger } from '../../packages/core/src/log/logger.js';
import { ociCopy } from '../../packages/core/src/oci/copy/copy.js';
import { parseReference } from '../../packages/core/src/oci/ref/reference.js';
import { OciSession } from '../../packages/core/src/oci/repo/session.js';
import { makeFixture, T } from '../../packages/core/test/oci/fixtures.js';
import { TrustingRegistry } from '../support/trusting-registry.js';

// Waits on servers, processes and the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(120_000);

const fast = { attempts: 2, baseMs: 1, maxMs: 5 };
const sha = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex');

async function copy(src: string, dst: string) {
  const log = new NullLogger();
  const session = new OciSession({ env: {}, log, http: { retry: { attempts: 2, baseMs: 1, maxMs: 5 } } });
  try {
    return await ociCopy(
      { source: parseReference(src), destination: parseReference(dst), tags: [], dryRun: false, immutable: false, retry: fast },
      session,
      log,
    );
  } finally {
    session.close();
  }
}

/** An image (config + one layer) planted on a stand-in as a source; `lie` serves other bytes for the layer. */
function seedImage(reg: TrustingRegistry, repo: string, tag: string): { layer: Buffer; layerDigest: string; digest: string } {
  const layer = Buffer.from('layer '.repeat(500) + tag);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', tag }));
  const layerDigest = sha(layer);
  reg.plant(repo, layerDigest, layer);
  reg.plant(repo, sha(config), config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: T.manifest,
      config: { mediaType: T.config, digest: sha(config), size: config.length },
      layers: [{ mediaType: T.layer, digest: layerDigest, size: layer.length }],
    }),
  );
  return { layer, layerDigest, digest: reg.plantManifest(repo, manifest, T.manifest, tag) };
}

/** The same number of bytes as `b`, one of them flipped. */
function corrupt(b: Buffer): Buffer {
  const c = Buffer.from(b);
  c[c.length >> 1] = c[c.length >> 1]! ^ 0xff;
  return c;
}

let target: TrustingRegistry;
beforeEach(async () => {
  target = await new TrustingRegistry().start();
});
afterEach(() => target.close());

/** Every upload session the copy opened was committed or cancelled, none with `digest`'s commit. */
function expectNothingCommitted(reg: TrustingRegistry, repo: string, digest: string): void {
  expect(reg.blobs.has(`${repo}@${digest}`)).toBe(false);
  const commits = reg.seen.filter((r) => r.method === 'PUT' && r.path.includes('/blobs/uploads/'));
  expect(commits.map((r) => new URLSearchParams(r.query).get('digest'))).not.toContain(digest);
  expect(reg.uploads.size).toBe(0);
  // One session per attempt (two with the retry), each cancelled.
  expect(reg.calls(/^DELETE .*\/blobs\/uploads\/\*$/).length).toBeGreaterThanOrEqual(fast.attempts);
}

describe('blob uploads to a stand-in registry that commits whatever it is given without checking', () => {
  test('stand-in: a good copy streams each blob with one PATCH, then commits it with an empty PUT ?digest= at the Location the PATCH returned', async () => {
    const f = await makeFixture();
    const r = await copy(`oci:${f.dir}:v1`, `${target.host}/app`);
    expect(r.digest).toBe(f.index.digest);
    for (const b of r.plan.blobs) {
      // Stored bytes are what the source had.
      expect(sha(target.blobs.get(`app@${b.descriptor.digest}`)!)).toBe(b.descriptor.digest);
    }
    // Per session: POST, PATCH (all bytes), PUT (no bytes) at the moved Location; nothing cancelled.
    const uploads = target.seen.filter((s) => s.path.includes('/blobs/uploads/'));
    const sessions = new Map<string, typeof uploads>();
    for (const s of uploads.filter((u) => u.method !== 'POST')) sessions.set(s.path, [...(sessions.get(s.path) ?? []), s]);
    expect(uploads.filter((u) => u.method === 'POST').length).toBe(r.plan.blobs.length);
    expect(sessions.size).toBe(r.plan.blobs.length);
    for (const steps of sessions.values()) {
      expect(steps.map((s) => s.method)).toEqual(['PATCH', 'PUT']);
      const [patch, put] = steps as [(typeof steps)[0], (typeof steps)[0]];
      expect(patch.query).toBe('?_state=0');
      const digest = new URLSearchParams(put.query).get('digest')!;
      expect(put.query).toBe(`?_state=1&digest=${encodeURIComponent(digest)}`);
      expect(put.bytes).toBe(0);
      expect(patch.bytes).toBe(r.plan.blobs.find((b) => b.descriptor.digest === digest)!.descriptor.size);
    }
    expect(target.calls(/^DELETE/)).toEqual([]);
    expect(target.uploads.size).toBe(0);
  });

  test('stand-in: a layout blob whose bytes do not match its digest is never committed, and its upload sessions are cancelled', async () => {
    const f = await makeFixture();
    const layer = f.layers[1]!;
    const file = path.join(f.dir, 'blobs', 'sha256', layer.digest.slice(7));
    await writeFile(file, corrupt(await readFile(file)));
    const err = await copy(`oci:${f.dir}:v1`, `${target.host}/app`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(
      new RegExp(`^blob ${layer.digest} from oci:.*: digest mismatch, expected ${layer.digest}, got sha256:`),
    );
    // The bytes went out (one PATCH per attempt) but were never committed.
    expect(target.calls(/^PATCH/).length).toBeGreaterThanOrEqual(fast.attempts);
    expectNothingCommitted(target, 'app', layer.digest);
    expect([...target.manifests.keys()]).toEqual([]);
  });

  test('stand-in: a source registry that lies about a blob (same size, other bytes) gets nothing committed on the target', async () => {
    const source = await new TrustingRegistry().start();
    try {
      const img = seedImage(source, 'src', 'v1');
      source.lie('src', img.layerDigest, corrupt(img.layer));
      const err = await copy(`${source.host}/src:v1`, `${target.host}/app`).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as Error).message).toContain(`blob ${img.layerDigest} from ${source.host}/src: digest mismatch`);
      expectNothingCommitted(target, 'app', img.layerDigest);
      expect(target.manifests.size).toBe(0);
    } finally {
      await source.close();
    }
  });

  test('stand-in: a short blob (fewer bytes than its descriptor) is never committed', async () => {
    const source = await new TrustingRegistry().start();
    try {
      const img = seedImage(source, 'src', 'v1');
      source.lie('src', img.layerDigest, img.layer.subarray(0, img.layer.length - 10));
      const err = await copy(`${source.host}/src:v1`, `${target.host}/app`).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expectNothingCommitted(target, 'app', img.layerDigest);
    } finally {
      await source.close();
    }
  });

  test('stand-in: within one registry, the session a refused mount opened is cancelled when the bytes are wrong', async () => {
    const img = seedImage(target, 'src', 'v1');
    target.lie('src', img.layerDigest, corrupt(img.layer));
    const err = await copy(`${target.host}/src:v1`, `${target.host}/dst`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    // The mount POST (answered 202 with a session) served the first attempt.
    expect(target.seen.some((s) => s.method === 'POST' && s.query.includes('mount='))).toBe(true);
    expectNothingCommitted(target, 'dst', img.layerDigest);
  });

  test('stand-in: a mismatch on the wire is retried as a whole transfer; the first session is cancelled, the second commits', async () => {
    const source = await new TrustingRegistry().start();
    try {
      const img = seedImage(source, 'src', 'v1');
      source.lie('src', img.layerDigest, corrupt(img.layer), 1);
      const r = await copy(`${source.host}/src:v1`, `${target.host}/app`);
      expect(r.digest).toBe(img.digest);
      expect(target.blobs.get(`app@${img.layerDigest}`)).toEqual(img.layer);
      expect(target.calls(/^DELETE/).length).toBe(1);
      expect(target.uploads.size).toBe(0);
    } finally {
      await source.close();
    }
  });
});

describe('a stand-in registry without streamed uploads (PATCH answers 405 or 501)', () => {
  test.each([405, 501])(
    'stand-in: PATCH %i: every blob goes monolithic (POST, PUT with the whole body and ?digest=), stored bytes right',
    async (status) => {
      target.patchStatus = status;
      const f = await makeFixture();
      const r = await copy(`oci:${f.dir}:v1`, `${target.host}/app`);
      expect(r.digest).toBe(f.index.digest);
      for (const b of r.plan.blobs) expect(sha(target.blobs.get(`app@${b.descriptor.digest}`)!)).toBe(b.descriptor.digest);
      // Learnt once: at most the blobs in flight when the first 405 came tried a PATCH; every commit carried its bytes.
      const puts = target.seen.filter((s) => s.method === 'PUT' && s.path.includes('/blobs/uploads/'));
      expect(puts.length).toBe(r.plan.blobs.length);
      for (const p of puts) {
        const digest = new URLSearchParams(p.query).get('digest')!;
        expect(p.bytes).toBe(r.plan.blobs.find((b) => b.descriptor.digest === digest)!.descriptor.size);
      }
      expect(target.calls(/^PATCH/).length).toBeLessThanOrEqual(DEFAULTS.ociParallel);
      expect(target.uploads.size).toBe(0);
    },
  );

  test('stand-in: a blob whose bytes are wrong never has its last chunk sent, so the trusting registry commits nothing', async () => {
    target.patchStatus = 405;
    const source = await new TrustingRegistry().start();
    try {
      const img = seedImage(source, 'src', 'v1');
      source.lie('src', img.layerDigest, corrupt(img.layer));
      const err = await copy(`${source.host}/src:v1`, `${target.host}/app`).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as Error).message).toContain(`blob ${img.layerDigest} from ${source.host}/src: digest mismatch`);
      expect(target.blobs.has(`app@${img.layerDigest}`)).toBe(false);
      expect(target.manifests.size).toBe(0);
    } finally {
      await source.close();
    }
  });

  test('stand-in: RegistryRepo.writeBlob holds back the last chunk until the check passes: wrong bytes that arrive early are never whole', async () => {
    target.patchStatus = 405;
    const session = new OciSession({ env: {}, log: new NullLogger() });
    try {
      const good = Buffer.alloc(256 * 1024, 7);
      const d = { mediaType: T.layer, digest: sha(good), size: good.length };
      const repo = session.open(parseReference(`${target.host}/app`), 'push');
      // Every byte comes at once, the end (and so the verdict) 300 ms later: without the hold-back the
      // registry would have the whole body, and commit it, in the meantime.
      const late = (bytes: Buffer): Readable =>
        Readable.from(
          (async function* () {
            yield bytes.subarray(0, 100_000);
            yield bytes.subarray(100_000);
            await new Promise((r) => setTimeout(r, 300));
          })(),
        );
      // The first upload learns there is no PATCH (its bytes are spent): a retryable error, the caller sends again.
      const first = await repo.writeBlob(d, late(good)).catch((e: unknown) => e);
      expect((first as Error).message).toBe(
        `registry ${target.host}: blob ${d.digest} to ${target.host}/app: PATCH answered HTTP 405; sending it again in one PUT`,
      );
      expect((first as RelayError).retryable).toBe(true);
      await expect(repo.writeBlob(d, late(corrupt(good)))).rejects.toThrow(`blob ${d.digest} to ${target.host}/app: digest mismatch`);
      await new Promise((r) => setTimeout(r, 100));
      expect(target.blobs.size).toBe(0);
      const put = target.seen.find((x) => x.method === 'PUT');
      expect(put!.bytes).toBeLessThan(good.length);
      await repo.writeBlob(d, late(good));
      expect(target.blobs.get(`app@${d.digest}`)).toEqual(good);
    } finally {
      session.close();
    }
  });
});

describe('a store handed a plain stream checks the bytes itself before committing', () => {
  test('stand-in: RegistryRepo.writeBlob with wrong bytes cancels the session and commits nothing', async () => {
    const log = new NullLogger();
    const session = new OciSession({ env: {}, log });
    try {
      const good = Buffer.from('the real bytes');
      const d = { mediaType: T.layer, digest: sha(good), size: good.length };
      const repo = session.open(parseReference(`${target.host}/app`), 'push');
      await expect(repo.writeBlob(d, Readable.from([corrupt(good)]))).rejects.toThrow(
        `blob ${d.digest} to ${target.host}/app: digest mismatch, expected ${d.digest}, got ${sha(corrupt(good))}`,
      );
      // The PATCH may be cut off before it reaches the stand-in (the check failed at once); no PUT follows.
      expect(target.calls(/blobs/).filter((c) => !c.startsWith('PATCH'))).toEqual([
        'POST /v2/app/blobs/uploads/',
        'DELETE /v2/app/blobs/uploads/*',
      ]);
      expect(target.blobs.size).toBe(0);
      await repo.writeBlob(d, Readable.from([good]));
      expect(target.blobs.get(`app@${d.digest}`)).toEqual(good);
    } finally {
      session.close();
    }
  });
});

describe('verification against a stand-in registry that acknowledges writes and keeps nothing', () => {
  test('stand-in, forgetful: the copy fails naming a manifest that is missing', async () => {
    target.mode = 'forgetful';
    const f = await makeFixture();
    const err = await copy(`oci:${f.dir}:v1`, `${target.host}/app`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(
      new RegExp(`^verify: (image|child|referrer|cosign) manifest ${target.host}/app@sha256:[0-9a-f]{64} is missing from the target$`),
    );
  });

  test('stand-in, keeps manifests but not blobs: the copy fails naming a blob that is missing', async () => {
    target.mode = 'forgets-blobs';
    const f = await makeFixture();
    const err = await copy(`oci:${f.dir}:v1`, `${target.host}/app`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(new RegExp(`^verify: blob ${target.host}/app@sha256:[0-9a-f]{64} is missing from the target$`));
  });

  test('stand-in, truncates what it commits: the copy fails naming the blob and both sizes', async () => {
    target.onCommit = (b) => b.subarray(0, b.length - 1);
    const f = await makeFixture();
    const err = await copy(`oci:${f.dir}:v1`, `${target.host}/app`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(
      new RegExp(`^verify: blob ${target.host}/app@sha256:[0-9a-f]{64} is (\\d+) bytes on the target, not (\\d+)$`),
    );
  });

  test('stand-in: verification uses HEAD only for manifests by digest and blobs', async () => {
    const f = await makeFixture();
    const r = await copy(`oci:${f.dir}:v1`, `${target.host}/app`);
    // Verification is everything after the last write (the tags).
    const verifyStart = target.seen.map((s) => s.method).lastIndexOf('PUT') + 1;
    const verifying = target.seen.slice(verifyStart);
    const reads = verifying.filter((s) => s.method === 'GET');
    // GETs only for the tags (hashed by Relay), never for blobs or manifests by digest other than the image.
    for (const g of reads) expect(g.path).toMatch(new RegExp(`/manifests/(${r.plan.tags.map((t) => t.tag).join('|')}|${r.digest})$`));
    expect(verifying.filter((s) => s.method === 'HEAD' && s.path.includes('/blobs/')).length).toBe(r.plan.blobs.length);
    // Every manifest written, and the image by digest once more as a reference.
    expect(verifying.filter((s) => s.method === 'HEAD' && s.path.includes('/manifests/sha256:')).length).toBe(r.plan.manifests.length + 1);
  });
});

describe('a source stand-in registry with a referrers API that misbehaves', () => {
  test('stand-in: pages that link back to themselves are refused in one line, nothing written', async () => {
    const source = await new TrustingRegistry().start();
    try {
      seedImage(source, 'src', 'v1');
      source.referrersApi = (_subject, page) => ({ manifests: [], next: page.pathname + page.search });
      const err = await copy(`${source.host}/src:v1`, `${target.host}/app`).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as Error).message).toMatch(
        new RegExp(
          `^registry ${source.host}: referrers of ${source.host}/src@sha256:[0-9a-f]{64}: the pages link back to /v2/src/referrers/`,
        ),
      );
      expect(target.calls(/^(PUT|POST|PATCH)/)).toEqual([]);
    } finally {
      await source.close();
    }
  });

  test('stand-in: a referrers page that is not a list of descriptors is refused in one line', async () => {
    const source = await new TrustingRegistry().start();
    try {
      seedImage(source, 'src', 'v1');
      source.referrersApi = () => ({ manifests: 'everything' });
      await expect(copy(`${source.host}/src:v1`, `${target.host}/app`)).rejects.toThrow(
        /^registry .*: referrers of .*: not an image index of descriptors \(digest and size each\)$/,
      );
      source.referrersApi = () => ({ manifests: [{ digest: 42 }] });
      await expect(copy(`${source.host}/src:v1`, `${target.host}/app`)).rejects.toThrow(IntegrityError);
    } finally {
      await source.close();
    }
  });

  test('stand-in: endless pages are cut off at the graph limit', async () => {
    const source = await new TrustingRegistry().start();
    try {
      seedImage(source, 'src', 'v1');
      const page = Array.from({ length: 1000 }, (_, i) => ({
        mediaType: T.manifest,
        digest: `sha256:${String(i).padStart(64, '0')}`,
        size: 1,
      }));
      source.referrersApi = (_s, url) => ({ manifests: page, next: `${url.pathname}?n=${Number(url.searchParams.get('n') ?? 0) + 1}` });
      await expect(copy(`${source.host}/src:v1`, `${target.host}/app`)).rejects.toThrow(
        /: more than \d+ listed, more than Relay copies for one image$/,
      );
    } finally {
      await source.close();
    }
  });
});
