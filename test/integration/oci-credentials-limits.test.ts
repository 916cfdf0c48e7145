// Credentials stay on their origin, every time limit is a total, and a
// registry without streamed uploads still gets verified blobs: copy-image
// against the real distribution registries, through loopback fault proxies
// (test/support/fault-proxy.ts) that move an upload Location or a blob to
// another port, trickle a body, or answer 405 to PATCH.
import { beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULTS } from '../../packages/core/src/defaults.js';
import { NullLogger, RelayError } from '../../packages/core/src/index.js';
import type { Context } from '../../packages/core/src/index.js';
import { copyImage } from '../../packages/core/src/operations/index.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { makeOciImage, pushImage, remoteDigest } from '../support/oci-images.js';
import type { OciImage } from '../support/oci-images.js';
import { registries } from '../support/servers.js';
import type { RegistrySettings } from '../support/servers.js';

type Inputs = Parameters<typeof copyImage.run>[0];
const run = (inp: Inputs, c: Context): ReturnType<typeof copyImage.run> =>
  copyImage.run(inp, { ...c, clients: { http: { retry: { baseMs: 20, maxMs: 200 } } } });

let reg: RegistrySettings;
let creds: string;
let image: OciImage;
let src: string;
const repoName = (what: string): string => `relay-it/${what}-${randomBytes(4).toString('hex')}`;

function ctx(): Context & { log: NullLogger } {
  return { log: new NullLogger(), env: {}, cwd: process.cwd() };
}

function inputs(source: string, destination: string, more: Partial<Inputs> = {}): Inputs {
  return {
    source,
    destination,
    'require-signature': false,
    tags: [],
    'immutable-tags': false,
    'dry-run': false,
    'insecure-registries': [],
    'source-username': undefined,
    'source-password': undefined,
    'destination-username': undefined,
    'destination-password': undefined,
    ...more,
  };
}

beforeAll(async () => {
  reg = registries();
  creds = `${reg.user}:${reg.pass}`;
  image = await makeOciImage({
    platforms: ['linux/amd64'],
    layers: 2,
    layerSize: 300_000,
    seed: randomBytes(4).toString('hex'),
    tag: 'v1',
  });
  src = repoName('origin');
  // The same image under the same name on both: the anonymous registry plays a storage backend below.
  await pushImage(image, `${reg.basic}/${src}:v1`, creds);
  await pushImage(image, `${reg.anon}/${src}:v1`);
}, 120_000);

describe('credentials go only to the origin they belong to', () => {
  test("an upload Location naming another port gets no Authorization; the refusal says why, the registry's tag never moves", async () => {
    const registry = await startFaultProxy(`http://${reg.basic}`);
    const elsewhere = await startFaultProxy(`http://${reg.basic}`);
    try {
      registry.inject({ fault: { kind: 'location', origin: elsewhere.url }, method: 'POST', path: /\/blobs\/uploads\/$/, times: 1000 });
      const dst = repoName('moved-location');
      const err = await run(
        inputs(`${reg.anon}/${src}:v1`, `${registry.host}/${dst}:v1`, {
          'destination-username': reg.user,
          'destination-password': reg.pass,
        }),
        ctx(),
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RelayError);
      expect((err as RelayError).kind).toBe('auth');
      expect((err as Error).message).toMatch(
        new RegExp(
          `^registry ${registry.host}: PATCH /v2/${dst}/blobs/uploads/\\S+ on ${elsewhere.url} refused without credentials \\(HTTP 401 UNAUTHORIZED\\); Relay sends the registry's credentials only to ${registry.url}$`,
        ),
      );
      expect(elsewhere.seen.length).toBeGreaterThan(0);
      for (const s of elsewhere.seen) expect(s.authorization).toBeUndefined();
      expect(registry.seen.some((s) => s.authorization?.startsWith('Basic '))).toBe(true);
      await expect(remoteDigest(`${reg.basic}/${dst}:v1`, creds)).rejects.toThrow();
    } finally {
      await registry.close();
      await elsewhere.close();
    }
  }, 60_000);

  test('a blob redirected to a storage backend on another origin is fetched there without Authorization, as the README says', async () => {
    const registry = await startFaultProxy(`http://${reg.basic}`);
    const storage = await startFaultProxy(`http://${reg.anon}`);
    try {
      registry.inject({ fault: { kind: 'redirect', origin: storage.url }, method: 'GET', path: /\/blobs\/sha256:/, times: 1000 });
      const dst = repoName('storage-redirect');
      const out = await run(
        inputs(`${registry.host}/${src}:v1`, `${reg.anon}/${dst}:v1`, { 'source-username': reg.user, 'source-password': reg.pass }),
        ctx(),
      );
      expect(out.outputs.digest).toBe(image.top.digest);
      expect(await remoteDigest(`${reg.anon}/${dst}:v1`)).toBe(image.top.digest);
      const redirected = registry.seen.filter((s) => s.fault === 'redirect');
      expect(redirected.length).toBeGreaterThan(0);
      for (const s of redirected) expect(s.authorization).toMatch(/^Basic /);
      expect(storage.seen.map((s) => s.path).sort()).toEqual(redirected.map((s) => s.path).sort());
      for (const s of storage.seen) expect(s.authorization).toBeUndefined();
    } finally {
      await registry.close();
      await storage.close();
    }
  }, 60_000);
});

describe('every time limit is a total', () => {
  test('a registry trickling a blob a byte at a time ends the copy at request-timeout plus the blob at the slowest rate, one line naming the input', async () => {
    const proxy = await startFaultProxy(`http://${reg.anon}`);
    try {
      proxy.inject({ fault: { kind: 'trickle', intervalMs: 100 }, method: 'GET', path: /\/blobs\/sha256:/, times: 1000 });
      const out = await mkdtemp(path.join(tmpdir(), 'relay-trickle-'));
      const t0 = Date.now();
      const err = await run(inputs(`${proxy.host}/${src}:v1`, `oci:${out}:v1`), { ...ctx(), limits: { requestMs: 3000 } }).catch(
        (e: unknown) => e,
      );
      const ms = Date.now() - t0;
      expect(err).toBeInstanceOf(RelayError);
      expect((err as RelayError).kind).toBe('remote');
      expect((err as Error).message).toMatch(
        new RegExp(
          `^GET ${proxy.host}/v2/${src}/blobs/sha256:[0-9a-f]{64}: not done within [34](\\.\\d)? s \\(the body came too slowly; raise request-timeout to wait longer\\)$`,
        ),
      );
      // 3 s, plus the blob (a config of bytes, a 300 KB layer) at 256 KiB/s; no whole-transfer retry multiplies it.
      expect(ms).toBeLessThan(15_000);
      expect(proxy.seen.filter((s) => s.fault === 'trickle').length).toBeLessThanOrEqual(DEFAULTS.ociParallel);
    } finally {
      await proxy.close();
    }
  }, 60_000);
});

describe('a registry without streamed uploads', () => {
  test.each([405, 501])(
    'PATCH answered %i by a proxy in front of a real registry: blobs go monolithic, skopeo reads back the same digest',
    async (status) => {
      const proxy = await startFaultProxy(`http://${reg.basic}`);
      try {
        proxy.inject({ fault: { kind: 'status', status }, method: 'PATCH', times: 1000 });
        const dst = repoName(`no-patch-${status}`);
        const c = ctx();
        const out = await run(
          inputs(`${reg.anon}/${src}:v1`, `${proxy.host}/${dst}:v1`, {
            'destination-username': reg.user,
            'destination-password': reg.pass,
          }),
          c,
        );
        expect(out.outputs.digest).toBe(image.top.digest);
        expect(await remoteDigest(`${reg.basic}/${dst}:v1`, creds)).toBe(image.top.digest);
        const patches = proxy.seen.filter((s) => s.method === 'PATCH');
        expect(patches.length).toBeGreaterThan(0);
        expect(patches.length).toBeLessThanOrEqual(DEFAULTS.ociParallel); // learnt once, per registry
        const puts = proxy.seen.filter((s) => s.method === 'PUT' && /\/blobs\/uploads\/.*digest=/.test(s.path));
        expect(puts.every((s) => s.status === 201)).toBe(true);
        expect(
          c.log.lines.some((l) => l.includes(`registry ${proxy.host} takes no streamed uploads (PATCH answered HTTP ${status})`)),
        ).toBe(true);
      } finally {
        await proxy.close();
      }
    },
    60_000,
  );
});
