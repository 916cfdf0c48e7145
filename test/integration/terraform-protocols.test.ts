// Protocols read from the provider, publishing to Ceph RGW: stand-in providers
// built in the test with Debian's Go (offline; the plugin libraries are local
// fakes reached through replace directives, so the build information names
// the real module paths), performing go-plugin's handshake.
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { InputError, NullLogger, publishTerraformRegistry, storeReader, verifyRegistry } from '../../packages/core/src/index.js';
import { openStore } from '../../packages/core/src/store/open.js';
import { rsaKey, tarball, tmpDir } from '../../packages/core/test/fixtures.js';
import { buildStandin, describeWithGo, goHost, markerRuns } from '../../packages/core/test/terraform/go-standins.js';
import { makeBucket, s3Client, s3sdk, s3Settings } from '../support/servers.js';

// Waits on servers, processes and the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(120_000);

const REGISTRY = 'https://registry.example.com/';
const describeGo = describeWithGo();

describeGo('protocols from the provider, published to Ceph RGW', () => {
  let s3: ReturnType<typeof s3Settings>;
  let key: string;
  let dir: string;
  let host: { os: string; arch: string };
  const bin: Record<string, string> = {};
  const marker: Record<string, string> = {};

  beforeAll(async () => {
    s3 = s3Settings();
    process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
    process.env.AWS_REGION = 'us-east-1';
    dir = await tmpDir('relay-int-protocols-');
    host = await goHost();
    key = await rsaKey();
    for (const [k, cmd, goos, goarch] of [
      ['framework', 'framework', undefined, undefined],
      ['frameworkDarwin', 'framework', 'darwin', 'arm64'],
      ['sdk', 'sdk', undefined, undefined],
      ['sdkDarwin', 'sdk', 'darwin', 'arm64'],
    ] as const) {
      marker[k] = path.join(dir, `${k}.marker`);
      bin[k] = await buildStandin({ cmd, goos, goarch, marker: marker[k] }, dir);
    }
  }, 600_000);
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  async function release(version: string, hostExe: string, darwinExe: string): Promise<string[]> {
    const where = await fs.mkdtemp(path.join(dir, 'rel-'));
    return Promise.all(
      [
        [host.os, host.arch, hostExe],
        ['darwin', 'arm64', darwinExe],
      ].map(async ([os, arch, exe]) =>
        tarball(where, `terraform-provider-demo-v${version}-${os}-${arch}-bin.tar.gz`, [
          { name: 'terraform-provider-demo', body: await fs.readFile(exe!) },
        ]),
      ),
    );
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
      'signing-key': key,
      'signing-key-passphrase': undefined,
      protocols: [],
      'detect-protocols': 'handshake',
      immutable: true,
      'dry-run': false,
      's3-endpoint': s3.endpoint,
      'max-binary-size': 1024,
      ...over,
    }) as Parameters<typeof publishTerraformRegistry.run>[0];
  const ctx = () => ({ log: new NullLogger(), env: {}, cwd: '/' });

  async function objects(bucket: string): Promise<Record<string, string>> {
    const c = s3Client();
    try {
      const r = await c.send(new s3sdk.ListObjectsV2Command({ Bucket: bucket }));
      return Object.fromEntries((r.Contents ?? []).map((o) => [o.Key!, o.ETag!]));
    } finally {
      c.destroy();
    }
  }
  async function versionsDoc(bucket: string): Promise<{ versions: { version: string; protocols: string[] }[] }> {
    const c = s3Client();
    try {
      const r = await c.send(new s3sdk.GetObjectCommand({ Bucket: bucket, Key: 'reg/registry/acme/demo/versions' }));
      return JSON.parse(Buffer.from(await r.Body!.transformToByteArray()).toString('utf8'));
    } finally {
      c.destroy();
    }
  }

  test('a framework provider with no manifest is published as 6.0 by its handshake; the registry verifies; no credential reached it', async () => {
    const bucket = await makeBucket('tf-proto');
    const store = `s3://${bucket}/reg`;
    const res = await publishTerraformRegistry.run(
      inputs(store, '1.0.0', await release('1.0.0', bin.framework!, bin.frameworkDarwin!)),
      ctx(),
    );
    expect((await versionsDoc(bucket)).versions).toEqual([expect.objectContaining({ version: '1.0.0', protocols: ['6.0'] })]);
    const note = res.report.sections.find((s) => s.heading === 'Protocols');
    expect(note && 'text' in note && note.text).toMatch(/^6\.0 from the go-plugin handshake/);
    await verifyRegistry(
      storeReader(openStore(store, 'store', { endpoint: s3.endpoint, cwd: '/' }), new URL(REGISTRY)),
      { root: new URL(REGISTRY), namespace: 'acme', name: 'demo', versions: ['1.0.0'], mirrorHost: 'registry.example.com' },
      new NullLogger(),
    );
    const runs = await markerRuns(marker.framework!);
    expect(runs).toHaveLength(2);
    for (const r of runs) expect(r.env.join('\n')).not.toContain(s3.secretAccessKey);
    expect(existsSync(marker.frameworkDarwin!)).toBe(false);
  });

  test('static: an SDKv2 provider is 5.0 from its build information, nothing runs', async () => {
    const bucket = await makeBucket('tf-proto');
    await publishTerraformRegistry.run(
      inputs(`s3://${bucket}/reg`, '1.0.0', await release('1.0.0', bin.sdk!, bin.sdkDarwin!), { 'detect-protocols': 'static' }),
      ctx(),
    );
    expect((await versionsDoc(bucket)).versions[0]!.protocols).toEqual(['5.0']);
    expect(existsSync(marker.sdk!)).toBe(false);
  });

  test('protocols 5.0 given for a framework provider is refused in one line, and the bucket is unchanged', async () => {
    const bucket = await makeBucket('tf-proto');
    const store = `s3://${bucket}/reg`;
    await publishTerraformRegistry.run(inputs(store, '1.0.0', await release('1.0.0', bin.framework!, bin.frameworkDarwin!)), ctx());
    const before = await objects(bucket);
    const err = await publishTerraformRegistry
      .run(inputs(store, '1.1.0', await release('1.1.0', bin.framework!, bin.frameworkDarwin!), { protocols: ['5.0'] }), ctx())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/^input 'protocols' says 5\.0, but the provider serves protocol 6, by the go-plugin handshake/);
    expect((err as Error).message).not.toContain('\n');
    expect(await objects(bucket)).toEqual(before);
    // static mode refuses too, by the build information alone
    const err2 = await publishTerraformRegistry
      .run(
        inputs(store, '1.1.0', await release('1.1.0', bin.framework!, bin.frameworkDarwin!), {
          protocols: ['5.0'],
          'detect-protocols': 'static',
        }),
        ctx(),
      )
      .catch((e: unknown) => e);
    expect((err2 as Error).message).toMatch(
      /^input 'protocols' says 5\.0, but the provider can serve only protocol 6, by its Go build information \(terraform-plugin-framework v1\.4\.2/,
    );
    expect(await objects(bucket)).toEqual(before);
  });
});
