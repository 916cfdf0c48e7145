// publish-terraform-registry against Ceph RGW (real conditional writes), with
// GnuPG and unzip as outside clients checking what Relay wrote.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import {
  ConflictError,
  NullLogger,
  publishTerraformRegistry,
  storeReader,
  InputError,
  verifyRegistry,
} from '../../packages/core/src/index.js';
import { openStore } from '../../packages/core/src/store/open.js';
import { providerTarball, snapshot, tmpDir } from '../../packages/core/test/fixtures.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { GpgHome, verifyDetached } from '../support/gpg.js';
import { makeBucket, s3Client, s3sdk, s3Settings } from '../support/servers.js';

// Waits on servers, processes and the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(120_000);

const run = promisify(execFile);
const ROOT = path.resolve(new URL('../..', import.meta.url).pathname);
const CLI = path.join(ROOT, 'dist/cli.js');
const REGISTRY = 'https://registry.example.com/';
const PLATFORMS = [
  ['linux', 'amd64'],
  ['linux', 'arm64'],
  ['darwin', 'arm64'],
  ['windows', 'amd64'],
] as const;

let gpg: GpgHome;
let signingKey: string;
let publicKey: string;
let s3: ReturnType<typeof s3Settings>;

beforeAll(async () => {
  s3 = s3Settings();
  gpg = await GpgHome.create();
  // A key made by GnuPG, passphrase-protected, as a release team would export it.
  const k = await gpg.generateKey({ passphrase: 'correct horse battery' });
  signingKey = await gpg.exportSecretKey(k.fingerprint, k.passphrase);
  publicKey = await gpg.exportPublicKey(k.fingerprint);
}, 60_000);
afterAll(async () => {
  await gpg?.gpg(['--version']).catch(() => undefined);
  await run('gpgconf', ['--homedir', gpg.home, '--kill', 'all']).catch(() => undefined);
});

async function release(version: string, size = 64 * 1024): Promise<string[]> {
  const dir = await tmpDir();
  return Promise.all(PLATFORMS.map(([os, arch]) => providerTarball(dir, 'demo', version, os, arch, randomBytes(size).toString('base64'))));
}

const inputs = (store: string, version: string, tarballs: string[], over: Record<string, unknown> = {}) =>
  ({
    namespace: 'acme',
    name: 'demo',
    version,
    tarballs,
    source: undefined,
    store,
    'registry-url': REGISTRY,
    'signing-key': signingKey,
    'signing-key-passphrase': 'correct horse battery',
    protocols: ['6.0'],
    immutable: true,
    'dry-run': false,
    's3-endpoint': s3.endpoint,
    ...over,
  }) as Parameters<typeof publishTerraformRegistry.run>[0];

const ctx = () => ({ log: new NullLogger(), env: {}, cwd: '/' });
// The AWS SDK reads credentials from the process environment (the standard chain).
beforeAll(() => {
  process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
  process.env.AWS_REGION = 'us-east-1';
});

async function verifyStore(store: string, versions: string[] = []) {
  const st = openStore(store, 'store', { endpoint: s3.endpoint, cwd: '/' });
  return verifyRegistry(
    storeReader(st, new URL(REGISTRY)),
    { root: new URL(REGISTRY), namespace: 'acme', name: 'demo', versions, mirrorHost: 'registry.example.com' },
    new NullLogger(),
  );
}

async function getObject(bucket: string, key: string) {
  const c = s3Client();
  try {
    const r = await c.send(new s3sdk.GetObjectCommand({ Bucket: bucket, Key: key }));
    return { body: Buffer.from(await r.Body!.transformToByteArray()), contentType: r.ContentType, cacheControl: r.CacheControl };
  } finally {
    c.destroy();
  }
}

describe('publish to Ceph RGW', () => {
  test('the signature verifies with gpg, the zips pass unzip, objects carry the right headers; a re-run is a no-op', async () => {
    const bucket = await makeBucket('tf');
    const store = `s3://${bucket}/prod`;
    const res = await publishTerraformRegistry.run(inputs(store, '1.2.3', await release('1.2.3')), ctx());
    expect(res.outputs.platforms).toBe('darwin_arm64 linux_amd64 linux_arm64 windows_amd64');

    const dir = await tmpDir();
    const base = 'prod/store/acme/demo/1.2.3/terraform-provider-demo_1.2.3_SHA256SUMS';
    const sums = await getObject(bucket, base);
    const sig = await getObject(bucket, `${base}.sig`);
    await fs.writeFile(path.join(dir, 'SUMS'), sums.body);
    await fs.writeFile(path.join(dir, 'SUMS.sig'), sig.body);
    const v = await verifyDetached(path.join(dir, 'SUMS.sig'), path.join(dir, 'SUMS'), publicKey);
    expect(v.output).toMatch(/Good signature/);
    expect(v.ok).toBe(true);
    expect(sums.body.toString()).toMatch(/^([0-9a-f]{64} {2}terraform-provider-demo_1\.2\.3_\S+\n){5}$/);

    const zip = await getObject(bucket, 'prod/store/acme/demo/1.2.3/terraform-provider-demo_1.2.3_windows_amd64.zip');
    await fs.writeFile(path.join(dir, 'p.zip'), zip.body);
    const listing = (await run('unzip', ['-Z', path.join(dir, 'p.zip')])).stdout;
    expect(listing).toMatch(/^-rwxr-xr-x .* terraform-provider-demo_v1\.2\.3\.exe$/m);
    expect((await run('unzip', ['-tq', path.join(dir, 'p.zip')])).stdout).toMatch(/No errors detected/);
    expect(zip.contentType).toBe('application/zip');
    expect(zip.cacheControl).toMatch(/immutable/);

    const disco = await getObject(bucket, 'prod/.well-known/terraform.json');
    expect(disco.contentType).toBe('application/json');
    expect(JSON.parse(disco.body.toString())).toEqual({ 'providers.v1': `${REGISTRY}registry/` });
    const versions = await getObject(bucket, 'prod/registry/acme/demo/versions');
    expect(versions.contentType).toBe('application/json');
    expect(versions.cacheControl).not.toMatch(/immutable/);
  }, 60_000);

  test('a re-run with the same tarballs writes nothing; different bytes are an immutable conflict', async () => {
    const bucket = await makeBucket('tf');
    const store = `s3://${bucket}`;
    const tarballs = await release('2.0.0');
    await publishTerraformRegistry.run(inputs(store, '2.0.0', tarballs), ctx());
    const again = await publishTerraformRegistry.run(inputs(store, '2.0.0', tarballs), ctx());
    expect(again.report.sections[0]).toMatchObject({ text: expect.stringContaining('Wrote 0 objects') });
    const err = await publishTerraformRegistry.run(inputs(store, '2.0.0', await release('2.0.0')), ctx()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toMatch(/^s3:\/\/.*\.zip exists with different content .*nothing was written$/);
    await verifyStore(store, ['2.0.0']);
  }, 60_000);

  test('8 concurrent publishes of different versions all land in versions', async () => {
    const bucket = await makeBucket('tf');
    const store = `s3://${bucket}`;
    const versions = Array.from({ length: 8 }, (_, i) => `3.${i}.0`);
    const tarballs = await Promise.all(versions.map((v) => release(v, 1024)));
    await Promise.all(versions.map((v, i) => publishTerraformRegistry.run(inputs(store, v, tarballs[i]!), ctx())));
    const doc = JSON.parse((await getObject(bucket, 'registry/acme/demo/versions')).body.toString());
    expect(doc.versions.map((v: { version: string }) => v.version).sort()).toEqual(versions);
    const mirror = JSON.parse((await getObject(bucket, 'mirror/registry.example.com/acme/demo/index.json')).body.toString());
    expect(Object.keys(mirror.versions).sort()).toEqual(versions);
    expect(new Set((await verifyStore(store)).map((c) => c.version)).size).toBe(8);
  }, 120_000);

  test('fetches the archives from an s3:// staging prefix (source)', async () => {
    const bucket = await makeBucket('tf');
    const c = s3Client();
    for (const f of await release('4.0.0'))
      await c.send(new s3sdk.PutObjectCommand({ Bucket: bucket, Key: `builds/${path.basename(f)}`, Body: await fs.readFile(f) }));
    for (const f of await release('4.0.1'))
      await c.send(new s3sdk.PutObjectCommand({ Bucket: bucket, Key: `builds/${path.basename(f)}`, Body: await fs.readFile(f) }));
    c.destroy();
    const res = await publishTerraformRegistry.run(
      inputs(`s3://${bucket}/registry-root`, '4.0.0', [], { source: `s3://${bucket}/builds` }),
      ctx(),
    );
    expect(String(res.outputs.platforms).split(' ')).toHaveLength(4);
    await verifyStore(`s3://${bucket}/registry-root`, ['4.0.0']);
  }, 60_000);

  test('retries through 5xx, 429 and dropped connections between Relay and RGW', async () => {
    const bucket = await makeBucket('tf');
    const proxy = await startFaultProxy(s3.endpoint);
    try {
      proxy.inject({ fault: { kind: 'status', status: 503 }, method: 'PUT', times: 3 });
      proxy.inject({ fault: { kind: 'status', status: 429, retryAfter: 1 }, method: 'PUT', times: 1 });
      proxy.inject({ fault: { kind: 'reset-before' }, method: 'HEAD', times: 2 });
      proxy.inject({ fault: { kind: 'status', status: 500 }, method: 'GET', times: 2 });
      proxy.inject({ fault: { kind: 'reset-mid-body' }, method: 'GET', path: /SHA256SUMS$/, times: 1 });
      const res = await publishTerraformRegistry.run(
        inputs(`s3://${bucket}`, '5.0.0', await release('5.0.0'), { 's3-endpoint': proxy.url }),
        ctx(),
      );
      expect(res.outputs.version).toBe('5.0.0');
      expect(proxy.seen.filter((s) => s.fault).length).toBeGreaterThanOrEqual(8);
    } finally {
      await proxy.close();
    }
    await verifyStore(`s3://${bucket}`, ['5.0.0']);
  }, 120_000);
});

describe('crash safety', () => {
  test('killing the publisher at random points never leaves a broken registry; a re-run completes it', async () => {
    const bucket = await makeBucket('crash');
    const store = `s3://${bucket}`;
    const tarballs = await release('6.0.0', 2 * 1024 * 1024);
    const env = {
      ...process.env,
      RELAY_NAMESPACE: 'acme',
      RELAY_NAME: 'demo',
      RELAY_VERSION: '6.0.0',
      RELAY_TARBALLS: tarballs.join('\n'),
      RELAY_STORE: store,
      RELAY_REGISTRY_URL: REGISTRY,
      RELAY_SIGNING_KEY: signingKey,
      RELAY_SIGNING_KEY_PASSPHRASE: 'correct horse battery',
      RELAY_S3_ENDPOINT: s3.endpoint,
    };
    let stderr = '';
    const publish = (killAfterMs?: number) =>
      new Promise<number | null>((resolve) => {
        const p = spawn(process.execPath, [CLI, 'publish-terraform-registry'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
        stderr = '';
        p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
        const t = killAfterMs === undefined ? undefined : setTimeout(() => p.kill('SIGKILL'), killAfterMs);
        p.on('exit', (code) => {
          clearTimeout(t);
          resolve(code);
        });
      });
    const delays = [150, 400, 700, 1000, 1300, 1700].map((d) => d + Math.floor(Math.random() * 200));
    for (const d of delays) {
      await publish(d);
      const versions = await getObject(bucket, 'registry/acme/demo/versions').catch(() => undefined);
      // Every version the index lists must resolve completely, whenever we stopped.
      if (versions) await verifyStore(store);
    }
    expect(await publish()).toBe(0);
    // the committed bundle on this Node (20 in CI): no AWS SDK notice about Node versions, no warnings at all
    expect(stderr).not.toMatch(/warning/i);
    expect((await verifyStore(store)).map((c) => c.version)).toEqual(Array(4).fill('6.0.0'));
  }, 180_000);
});

describe('stores that cannot be trusted', () => {
  test('a store that ignores conditional writes is refused before any version is listed (s3rver)', async () => {
    const S3rver = (await import('s3rver')).default;
    const dir = await tmpDir();
    const server = new S3rver({
      port: 0,
      address: '127.0.0.1',
      silent: true,
      directory: dir,
      configureBuckets: [{ name: 'loose', configs: [] }],
    });
    const { port } = (await server.run()) as { port: number };
    const saved = [process.env.AWS_ACCESS_KEY_ID, process.env.AWS_SECRET_ACCESS_KEY];
    process.env.AWS_ACCESS_KEY_ID = process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
    try {
      const err = await publishTerraformRegistry
        .run(inputs('s3://loose', '7.0.0', await release('7.0.0', 1024), { 's3-endpoint': `http://127.0.0.1:${port}` }), ctx())
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toMatch(/^store s3:\/\/loose ignores conditional writes \(If-None-Match and If-Match\)/);
      expect(Object.keys(await snapshot(dir)).filter((k) => k.includes('versions'))).toEqual([]);
    } finally {
      [process.env.AWS_ACCESS_KEY_ID, process.env.AWS_SECRET_ACCESS_KEY] = saved;
      await server.close();
    }
  }, 60_000);
});
