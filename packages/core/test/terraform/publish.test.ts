import { beforeAll, describe, expect, jest, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ConflictError, IntegrityError, InputError } from '../../src/errors.js';
import { NullLogger } from '../../src/log/logger.js';
import { outputText } from '../../src/context.js';
import { publishTerraformRegistry, verifyTerraformRegistry } from '../../src/operations/index.js';
import { FsStore } from '../../src/store/fs.js';
import { storeReader, verifyRegistry } from '../../src/terraform/verify.js';
import { Readable } from 'node:stream';
import { writeSingleEntryZip } from '../../src/archive/zip-writer.js';
import { providerTarball, rsaKey, snapshot, tarball, tmpDir } from '../fixtures.js';

// Waits on the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(30_000);

let key: string;
let key2: string;
beforeAll(async () => {
  [key, key2] = await Promise.all([rsaKey(), rsaKey()]);
});

const PLATFORMS = [
  ['linux', 'amd64'],
  ['darwin', 'arm64'],
  ['windows', 'amd64'],
] as const;

async function release(dir: string, version: string, content = (os: string) => `bin ${os} ${version}\n`): Promise<string[]> {
  return Promise.all(PLATFORMS.map(([os, arch]) => providerTarball(dir, 'demo', version, os, arch, content(os))));
}

function inputs(over: Record<string, unknown>) {
  return {
    namespace: 'acme',
    name: 'demo',
    version: '1.0.0',
    tarballs: [] as string[],
    source: undefined,
    store: '',
    'registry-url': 'https://registry.example.com/',
    'signing-key': key,
    'signing-key-passphrase': undefined,
    protocols: [] as string[],
    immutable: true,
    'dry-run': false,
    's3-endpoint': undefined,
    ...over,
  } as Parameters<typeof publishTerraformRegistry.run>[0];
}

const ctx = (env: Record<string, string> = {}) => ({ log: new NullLogger(), env, cwd: '/' });

describe('publish-terraform-registry on a file store', () => {
  test('publishes, verifies, and a re-run changes nothing', async () => {
    const dir = await tmpDir();
    const store = path.join(dir, 'reg');
    const tarballs = await release(dir, '1.0.0');
    const res = await publishTerraformRegistry.run(inputs({ tarballs, store: `file://${store}` }), ctx());
    expect(res.outputs.platforms).toBe('darwin_arm64 linux_amd64 windows_amd64');
    // h1 for each platform, zh for each line of SHA256SUMS: the 3 zips and the manifest (what `terraform providers lock` records)
    expect(outputText(res.outputs['lock-hashes']!).split('\n')).toHaveLength(7);
    const versions = JSON.parse(await fs.readFile(path.join(store, 'registry/acme/demo/versions'), 'utf8'));
    expect(versions.versions).toEqual([
      {
        version: '1.0.0',
        protocols: ['5.0'],
        platforms: [
          { os: 'darwin', arch: 'arm64' },
          { os: 'linux', arch: 'amd64' },
          { os: 'windows', arch: 'amd64' },
        ],
      },
    ]);
    const disco = JSON.parse(await fs.readFile(path.join(store, '.well-known/terraform.json'), 'utf8'));
    expect(disco).toEqual({ 'providers.v1': 'https://registry.example.com/registry/' });

    expect(res.plan).toHaveLength(15);
    expect(res.plan.map((r) => r.result)).toEqual(res.plan.map(() => 'written'));
    const before = await snapshot(store);
    const again = await publishTerraformRegistry.run(inputs({ tarballs, store: `file://${store}` }), ctx());
    expect(again.report.status).toBe('no-op');
    expect(again.plan.filter((r) => r.action !== 'skip' || r.result !== 'unchanged')).toEqual([]);
    expect(again.report.sections[0]).toMatchObject({
      text: expect.stringContaining('Wrote 0 objects, 13 already identical; versions index: skip'),
    });
    expect(await snapshot(store)).toEqual(before);
  });

  test('version from the tag, GoReleaser names, protocols from the manifest inside', async () => {
    const dir = await tmpDir();
    const manifest = { name: 'terraform-registry-manifest.json', body: '{"version":1,"metadata":{"protocol_versions":["6.0"]}}' };
    const t = await tarball(dir, 'terraform-provider-demo_2.1.0_linux_arm64.tar.gz', [
      { name: 'terraform-provider-demo_v2.1.0', body: 'x' },
      manifest,
      { name: 'README.md', body: '#' },
    ]);
    const res = await publishTerraformRegistry.run(
      inputs({ version: undefined, tarballs: [t], store: path.join(dir, 'reg') }),
      ctx({ GITHUB_REF: 'refs/tags/terraform-provider-demo-v2.1.0' }),
    );
    expect(res.outputs.version).toBe('2.1.0');
    const doc = JSON.parse(await fs.readFile(path.join(dir, 'reg/registry/acme/demo/2.1.0/download/linux/arm64'), 'utf8'));
    expect(doc.protocols).toEqual(['6.0']);
    expect(doc.download_url).toBe('../../../../../../store/acme/demo/2.1.0/terraform-provider-demo_2.1.0_linux_arm64.zip');
    expect(doc.signing_keys.gpg_public_keys[0].trust_signature).toBe('');
    expect(Object.keys(doc.packages)).toEqual(['linux_arm64']);
  });

  test('GoReleaser zip archives are repacked; a corrupt one is refused', async () => {
    const dir = await tmpDir();
    const zipIn = path.join(dir, 'terraform-provider-demo_3.0.0_linux_amd64.zip');
    const content = Buffer.from('binary '.repeat(5000));
    await writeSingleEntryZip('terraform-provider-demo_v3.0.0', Readable.from([content]), zipIn);
    const res = await publishTerraformRegistry.run(inputs({ version: '3.0.0', tarballs: [zipIn], store: path.join(dir, 'reg') }), ctx());
    expect(res.outputs.platforms).toBe('linux_amd64');
    const bytes = await fs.readFile(zipIn);
    bytes[60] = bytes[60]! ^ 0xff; // inside the deflate stream
    await fs.writeFile(zipIn, bytes);
    const err = await publishTerraformRegistry
      .run(inputs({ version: '3.0.0', tarballs: [zipIn], store: path.join(dir, 'reg2') }), ctx())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(
      /^tarball 'terraform-provider-demo_3.0.0_linux_amd64.zip': (not a valid zip file|.*fails its CRC-32 check)/,
    );
  });

  test('dry run writes nothing and still reports the plan', async () => {
    const dir = await tmpDir();
    const res = await publishTerraformRegistry.run(
      inputs({ tarballs: await release(dir, '1.0.0'), store: path.join(dir, 'reg'), 'dry-run': true }),
      ctx(),
    );
    expect(res.report.title).toBe('Dry run: registry.example.com/acme/demo 1.0.0');
    expect(res.report.status).toBe('dry-run');
    await expect(fs.stat(path.join(dir, 'reg'))).rejects.toThrow();
    // Every object a real run would write, in write order, each a put of a new object with its size;
    // then the versions index (the commit point) and the mirror index.
    const dirKey = 'store/acme/demo/1.0.0/';
    const platforms = ['darwin_arm64', 'linux_amd64', 'windows_amd64'];
    expect(res.plan.map((r) => [r.object, r.action, r.why])).toEqual([
      ...platforms.map((p) => [`${dirKey}terraform-provider-demo_1.0.0_${p}.zip`, 'put', 'new']),
      [`${dirKey}terraform-provider-demo_1.0.0_manifest.json`, 'put', 'new'],
      [`${dirKey}terraform-provider-demo_1.0.0_SHA256SUMS`, 'put', 'new'],
      [
        `${dirKey}terraform-provider-demo_1.0.0_SHA256SUMS.sig`,
        'put',
        expect.stringMatching(/^new: signed by key [0-9A-F]{40} over SHA256SUMS sha256:[0-9a-f]{64}$/),
      ],
      [`${dirKey}relay-build.json`, 'put', 'new'],
      [`${dirKey}relay-provenance.intoto.json`, 'put', 'new'],
      ...platforms.map((p) => [`registry/acme/demo/1.0.0/download/${p.replace('_', '/')}`, 'put', 'new']),
      ['mirror/registry.example.com/acme/demo/1.0.0.json', 'put', 'new'],
      ['.well-known/terraform.json', 'put', 'new'],
      ['registry/acme/demo/versions', 'put', 'add 1.0.0'],
      ['mirror/registry.example.com/acme/demo/index.json', 'put', 'add 1.0.0'],
    ]);
    // Every object but the signature, whose size varies by a byte between signings, and the build record, which
    // names the run (the plan hash must not vary with either).
    const unsized = (o: string) => o.endsWith('.sig') || o.endsWith('/relay-build.json') || o.endsWith('.intoto.json');
    for (const r of res.plan.slice(0, -2)) expect(unsized(r.object) ? r.bytes === undefined : r.bytes! > 0).toBe(true);
    expect(res.plan.every((r) => r.result === undefined)).toBe(true);
    expect(res.report.sections[0]).toMatchObject({
      text: expect.stringContaining('Would write 13 objects, 0 already identical; versions index: put.'),
    });
    const planSection = res.report.sections.find((x) => x.heading === 'Plan');
    expect(planSection && 'table' in planSection && planSection.table.rows).toEqual(res.plan.map((r) => [r.object, r.action, r.why]));
  });

  test('a second key signs a new version; old versions keep verifying with theirs', async () => {
    const dir = await tmpDir();
    const store = path.join(dir, 'reg');
    await publishTerraformRegistry.run(inputs({ tarballs: await release(dir, '1.0.0'), store }), ctx());
    await publishTerraformRegistry.run(
      inputs({ version: '1.1.0', tarballs: await release(dir, '1.1.0'), store, 'signing-key': key2 }),
      ctx(),
    );
    const checks = await verifyRegistry(
      storeReader(new FsStore(store), new URL('https://registry.example.com/')),
      { root: new URL('https://registry.example.com/'), namespace: 'acme', name: 'demo', versions: [], mirrorHost: 'registry.example.com' },
      new NullLogger(),
    );
    expect(new Set(checks.map((c) => c.version))).toEqual(new Set(['1.0.0', '1.1.0']));
    expect(new Set(checks.map((c) => c.keyId)).size).toBe(2);
  });

  test('immutable: different content for a published version is a conflict and nothing changes', async () => {
    const dir = await tmpDir();
    const store = path.join(dir, 'reg');
    await publishTerraformRegistry.run(inputs({ tarballs: await release(dir, '1.0.0'), store }), ctx());
    const before = await snapshot(store);
    const other = await tmpDir();
    const changed = await release(other, '1.0.0', (os) => `rebuilt ${os}\n`);
    await expect(publishTerraformRegistry.run(inputs({ tarballs: changed, store }), ctx())).rejects.toThrow(ConflictError);
    await expect(publishTerraformRegistry.run(inputs({ tarballs: changed, store }), ctx())).rejects.toThrow(
      /exists with different content \(published versions are immutable\).*nothing was written/,
    );
    expect(await snapshot(store)).toEqual(before);
    // staging: immutable false replaces it, and the result verifies
    await publishTerraformRegistry.run(inputs({ tarballs: changed, store, immutable: false }), ctx());
    await verifyTerraformRegistry.run(
      {
        'registry-url': 'https://registry.example.com',
        namespace: 'acme',
        name: 'demo',
        version: '1.0.0',
        store,
        mirror: true,
        's3-endpoint': undefined,
      },
      ctx(),
    );
  });
});

// What a publisher killed between linking an index's new generation and copying it to the plain file leaves
// (the kill itself, from outside a real process, is in test/integration/terraform-kill.test.ts): the store lists
// the version, a static server does not, and no audit record names it.
describe('a re-run repairs what a killed publish left behind', () => {
  test('versions and the mirror index behind their newest generations, no audit record: repair rows, caught up, recorded as a repair', async () => {
    const dir = await tmpDir();
    const store = path.join(dir, 'reg');
    await publishTerraformRegistry.run(inputs({ tarballs: await release(dir, '1.0.0'), store: `file://${store}` }), ctx());
    const versions = path.join(store, 'registry/acme/demo/versions');
    const mirrorIndex = path.join(store, 'mirror/registry.example.com/acme/demo/index.json');
    const before = await Promise.all([fs.readFile(versions), fs.readFile(mirrorIndex)]);
    const tarballs = await release(dir, '1.1.0');
    await publishTerraformRegistry.run(inputs({ version: '1.1.0', tarballs, store: `file://${store}` }), ctx());
    await fs.writeFile(versions, before[0]);
    await fs.writeFile(mirrorIndex, before[1]);
    const records = await fs.readdir(path.join(store, 'audit'), { recursive: true });
    for (const r of records.filter((f) => f.endsWith('.json'))) {
      const rec = JSON.parse(await fs.readFile(path.join(store, 'audit', r), 'utf8'));
      if (rec.subject.version === '1.1.0') await fs.rm(path.join(store, 'audit', r));
    }
    const verify = () =>
      verifyTerraformRegistry.run(
        { 'registry-url': 'https://registry.example.com/', namespace: 'acme', name: 'demo', store: `file://${store}`, mirror: true },
        ctx(),
      );
    await expect(verify()).rejects.toThrow(
      `file://${store}/registry/acme/demo/versions is behind its newest generation file://${store}/registry/acme/demo/versions.relay-gen/000000000001`,
    );

    const dry = await publishTerraformRegistry.run(
      inputs({ version: '1.1.0', tarballs, store: `file://${store}`, 'dry-run': true }),
      ctx(),
    );
    expect(dry.report.counts).toBe('3 to repair, 13 identical'); // the provenance statement is one of them
    const again = await publishTerraformRegistry.run(inputs({ version: '1.1.0', tarballs, store: `file://${store}` }), ctx());
    const repairs = again.plan.filter((r) => r.action === 'repair');
    expect(repairs.map((r) => [r.object, r.result])).toEqual([
      ['registry/acme/demo/versions', 'written'],
      ['mirror/registry.example.com/acme/demo/index.json', 'written'],
      ['audit/', 'written'],
    ]);
    expect(repairs[0]!.why).toBe(
      '1.1.0 already listed, identical, but served registry/acme/demo/versions is behind registry/acme/demo/versions.relay-gen/000000000001',
    );
    expect(again.report.status).toBe('done');
    expect(again.report.counts).toBe('3 repaired, 13 identical');
    const section = again.report.sections.find((s) => s.heading.startsWith('Plan'));
    expect(section && 'table' in section && section.table.rows.map((r) => r[1])).toEqual(['repair', 'repair', 'repair']);
    expect(JSON.parse(await fs.readFile(versions, 'utf8')).versions.map((v: { version: string }) => v.version)).toEqual(['1.0.0', '1.1.0']);
    expect(await fs.readFile(mirrorIndex, 'utf8')).toContain('"1.1.0"');
    const audit = again.report.sections.find((s) => s.heading === 'Audit record');
    const record = audit && 'text' in audit ? audit.text : '';
    const rec = JSON.parse(await fs.readFile(record.replace('file://', ''), 'utf8'));
    expect(rec.subject.version).toBe('1.1.0');
    expect(rec.plan.counts.repair).toBe(3);
    expect((await verify()).report.status).toBe('done');
    // Repaired: the next re-run is a no-op again.
    expect(
      (await publishTerraformRegistry.run(inputs({ version: '1.1.0', tarballs, store: `file://${store}` }), ctx())).report.status,
    ).toBe('no-op');
  }, 60_000);
});

describe('zips go to the store while the rest compress, only when nothing can refuse them', () => {
  const AHEAD = / \(while the rest compress\)$/;
  const zipKey = (p: string, v = '1.0.0') => `store/acme/demo/${v}/terraform-provider-demo_${v}_${p}.zip`;
  const platforms = ['darwin_arm64', 'linux_amd64', 'windows_amd64'];

  test('a fresh version: each zip is put as it is made, planned as new, written once, and the registry verifies', async () => {
    const dir = await tmpDir();
    const store = path.join(dir, 'reg');
    const log = new NullLogger();
    const res = await publishTerraformRegistry.run(inputs({ tarballs: await release(dir, '1.0.0'), store }), { ...ctx(), log });
    const ahead = log.lines.filter((l) => AHEAD.test(l)).map((l) => l.replace(AHEAD, ''));
    expect(ahead.sort()).toEqual(platforms.map((p) => `put ${zipKey(p)}`));
    // the plan's execution does not write them again
    expect(log.lines.filter((l) => l.startsWith('put store/') && l.endsWith('.zip'))).toEqual([]);
    expect(res.plan.filter((r) => r.object.endsWith('.zip')).map((r) => [r.object, r.action, r.why, r.result])).toEqual(
      platforms.map((p) => [zipKey(p), 'put', 'new', 'written']),
    );
    const checks = await verifyRegistry(
      storeReader(new FsStore(store), new URL('https://registry.example.com/')),
      {
        root: new URL('https://registry.example.com/'),
        namespace: 'acme',
        name: 'demo',
        versions: ['1.0.0'],
        mirrorHost: 'registry.example.com',
      },
      new NullLogger(),
    );
    expect(checks).toHaveLength(3);
  });

  test('nothing goes ahead in a dry run, under an approved plan, or when the store holds part of the version', async () => {
    const dir = await tmpDir();
    const store = path.join(dir, 'reg');
    const tarballs = await release(dir, '1.0.0');
    const run = async (over: Record<string, unknown>) => {
      const log = new NullLogger();
      const res = await publishTerraformRegistry.run(inputs({ tarballs, store, ...over }), { ...ctx(), log });
      expect(log.lines.filter((l) => AHEAD.test(l))).toEqual([]);
      return res;
    };
    const dry = await run({ 'dry-run': true });
    await expect(fs.stat(store)).rejects.toThrow();
    // bound to the approved plan: the zips' bytes are part of what was approved, so they wait for approve()
    const bound = await run({ 'expect-plan': dry.outputs['plan-hash'] });
    expect(bound.plan.filter((r) => r.result === 'written')).toHaveLength(15);

    // A run that wrote one zip and died: the next finds part of the version, so every zip waits for the plan.
    const v2 = await release(dir, '2.0.0');
    const first = await tmpDir();
    await publishTerraformRegistry.run(inputs({ tarballs: v2, store: first, version: '2.0.0' }), ctx());
    const partial = zipKey('linux_amd64', '2.0.0');
    await fs.mkdir(path.dirname(path.join(store, partial)), { recursive: true });
    await fs.copyFile(path.join(first, partial), path.join(store, partial));
    const resumed = await run({ tarballs: v2, version: '2.0.0' });
    expect(resumed.plan.filter((r) => r.object.endsWith('.zip')).map((r) => [r.object, r.why, r.result])).toEqual(
      platforms.map((p) => (p === 'linux_amd64' ? [zipKey(p, '2.0.0'), 'identical', 'unchanged'] : [zipKey(p, '2.0.0'), 'new', 'written'])),
    );
  });
});

describe('bad input: one line naming the input, and the store untouched', () => {
  let dir: string;
  let store: string;
  let good: string[];
  let before: Record<string, string>;
  beforeAll(async () => {
    dir = await tmpDir();
    store = path.join(dir, 'reg');
    good = await release(dir, '1.0.0');
    await publishTerraformRegistry.run(inputs({ tarballs: good, store }), ctx());
    before = await snapshot(store);
  });

  const refuse = async (over: Record<string, unknown>, message: RegExp, env: Record<string, string> = {}): Promise<void> => {
    const err = await publishTerraformRegistry.run(inputs({ store, version: '2.0.0', ...over }), ctx(env)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain('\n');
    expect(await snapshot(store)).toEqual(before);
  };
  const t = (file: string, entries: Parameters<typeof tarball>[2]) => tarball(dir, file, entries);
  const name200 = 'terraform-provider-demo-v2.0.0-linux-amd64-bin.tar.gz';

  test('unparseable archive name', async () =>
    refuse(
      { tarballs: [await t('demo-linux.tar.gz', [{ name: 'terraform-provider-demo' }])] },
      /^input 'tarballs': 'demo-linux.tar.gz' is not named terraform-provider-demo-v<version>/,
    ));
  test('version mismatch', async () =>
    refuse({ tarballs: good }, /^input 'tarballs': '.*' is version 1.0.0, but input 'version' is 2.0.0$/));
  test('v-prefixed version', async () =>
    refuse({ version: 'v2.0.0', tarballs: good }, /^input 'version': expected a version without a "v" prefix/));
  test('no version and no tag', async () =>
    refuse(
      { version: undefined, tarballs: good },
      /^input 'version': expected a version, or a terraform-provider-demo-v<version> tag in GITHUB_REF/,
      { GITHUB_REF: 'refs/heads/main' },
    ));
  test('glob matching nothing', async () =>
    refuse(
      { tarballs: [path.join(dir, 'nothing-*.tar.gz')] },
      /^input 'tarballs': expected a path or pattern that matches at least one file, got ".*nothing-\*.tar.gz"$/,
    ));
  test('zero executables', async () =>
    refuse(
      { tarballs: [await t(name200, [{ name: 'README.md', body: 'x' }])] },
      /expected exactly one provider executable named terraform-provider-demo\*, found none/,
    ));
  test('two executables', async () =>
    refuse(
      {
        tarballs: [
          await t(name200, [
            { name: 'terraform-provider-demo', body: 'a' },
            { name: 'bin/terraform-provider-demo_v2', body: 'b' },
          ]),
        ],
      },
      /expected exactly one provider executable, found terraform-provider-demo and bin\/terraform-provider-demo_v2/,
    ));
  test('two archives for one platform', async () => {
    const a = await t('terraform-provider-demo_2.0.0_linux_amd64.zip', []);
    const b = await t(name200, [{ name: 'terraform-provider-demo', body: 'a' }]);
    await refuse(
      { tarballs: [b, a] },
      /^input 'tarballs': two archives for linux_amd64: terraform-provider-demo-v2\.0\.0-linux-amd64-bin\.tar\.gz and terraform-provider-demo_2\.0\.0_linux_amd64\.zip$/,
    );
  });
  test.each([
    ['not JSON', '{"version":1,', /: terraform-registry-manifest\.json: not valid JSON$/],
    [
      'the wrong shape',
      '{"version":2,"metadata":{"protocol_versions":["6.0"]}}',
      /: terraform-registry-manifest\.json: expected \{"version":1,/,
    ],
    ['no protocols', '{"version":1,"metadata":{"protocol_versions":[]}}', /: terraform-registry-manifest\.json: expected \{"version":1,/],
    ['null', 'null', /: terraform-registry-manifest\.json: expected \{"version":1,/],
    ['too large', ' '.repeat(65 * 1024), /: terraform-registry-manifest\.json: larger than 65536 bytes$/],
  ])('a terraform-registry-manifest.json that is %s', async (_name, body, message) =>
    refuse(
      {
        tarballs: [
          await t(name200, [
            { name: 'terraform-registry-manifest.json', body },
            { name: 'terraform-provider-demo', body: 'a' },
          ]),
        ],
      },
      new RegExp(`^tarball '${name200.replace(/\./g, '\\.')}'${message.source}`),
    ),
  );
  test('path traversal', async () =>
    refuse(
      { tarballs: [await t(name200, [{ name: '../terraform-provider-demo', body: 'a' }])] },
      /entry '..\/terraform-provider-demo' escapes the archive/,
    ));
  test('symlink', async () =>
    refuse(
      { tarballs: [await t(name200, [{ name: 'terraform-provider-demo', type: 'symlink', linkname: '/etc/passwd' }])] },
      /entry 'terraform-provider-demo' is a symlink; only regular files and directories are allowed/,
    ));
  test('device', async () =>
    refuse(
      { tarballs: [await t(name200, [{ name: 'terraform-provider-demo', type: 'character-device', devmajor: 1, devminor: 3 }])] },
      /is a character-device/,
    ));
  test('corrupt gzip among good archives: refused, and no partial zips left in the temp dir', async () => {
    const f = path.join(dir, name200.replace('linux', 'darwin'));
    await fs.writeFile(f, Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.alloc(64, 7)]));
    const others = await Promise.all(['linux', 'windows', 'freebsd'].map((os) => providerTarball(dir, 'demo', '2.0.0', os, 'amd64')));
    const tmp = await tmpDir();
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    try {
      await refuse({ tarballs: [others[0]!, f, ...others.slice(1)] }, /^tarball '.*darwin.*': not a valid gzip-compressed tar file/);
    } finally {
      process.env.TMPDIR = saved;
    }
    expect(await fs.readdir(tmp)).toEqual([]);
  });
  test('wrong passphrase', async () =>
    refuse(
      {
        tarballs: good,
        version: '1.0.0',
        'signing-key': await rsaKey({ passphrase: 'right-pass' }),
        'signing-key-passphrase': 'wrong-pass',
      },
      /^input 'signing-key-passphrase': does not decrypt the signing key [0-9A-F]{16}$/,
    ));
  test('missing passphrase', async () =>
    refuse(
      { tarballs: good, version: '1.0.0', 'signing-key': await rsaKey({ passphrase: 'right-pass' }) },
      /^input 'signing-key-passphrase': expected the passphrase/,
    ));
  test('expired key', async () =>
    refuse(
      {
        tarballs: good,
        version: '1.0.0',
        'signing-key': await rsaKey({ date: new Date(Date.now() - 86400_000 * 10), keyExpirationTime: 86400 }),
      },
      /^input 'signing-key': key [0-9A-F]{16} expired on \d{4}-\d\d-\d\d/,
    ));
  test('not a key', async () =>
    refuse({ tarballs: good, version: '1.0.0', 'signing-key': 'hunter2' }, /^input 'signing-key': expected an OpenPGP private key/));
  test('protocols outside 5.x/6.x', async () =>
    refuse({ tarballs: good, version: '1.0.0', protocols: ['7.0'] }, /^input 'protocols': expected protocol versions 5.x or 6.x/));
  test('protocols input disagreeing with the manifest', async () => {
    const m = await t('terraform-provider-demo-v2.0.0-freebsd-amd64-bin.tar.gz', [
      { name: 'terraform-provider-demo', body: 'a' },
      { name: 'terraform-registry-manifest.json', body: '{"version":1,"metadata":{"protocol_versions":["6.0"]}}' },
    ]);
    await refuse(
      { tarballs: [m], protocols: ['5.0'] },
      /^input 'protocols': 5.0 differs from terraform-registry-manifest.json in the tarballs \(6.0\)/,
    );
  });
  test('both tarballs and source', async () =>
    refuse({ tarballs: good, source: 's3://bucket/x' }, /^input 'tarballs': expected either 'tarballs' or 'source'/));
  test('bad store URL', async () =>
    refuse({ tarballs: good, store: 'gs://bucket/x' }, /^input 'store': expected s3:\/\/<bucket>\/<prefix> or file:\/\/<dir>/));
  test('bad registry URL', async () =>
    refuse({ tarballs: good, 'registry-url': 'ftp://x' }, /^input 'registry-url': expected an http\(s\) URL/));
  test('a corrupt versions document in the store is refused, not overwritten', async () => {
    const v = path.join(store, 'registry/acme/demo/versions');
    const orig = await fs.readFile(v);
    await fs.writeFile(v, '{"versions": [');
    const b = await snapshot(store);
    const err = await publishTerraformRegistry
      .run(inputs({ store, version: '2.0.0', tarballs: await release(await tmpDir(), '2.0.0') }), ctx())
      .catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/registry\/acme\/demo\/versions is not valid JSON; refusing to overwrite it/);
    expect(await snapshot(store)).toEqual(b);
    await fs.writeFile(v, orig);
  });
});

describe('verify catches what Terraform would reject', () => {
  let store: string;
  beforeAll(async () => {
    const dir = await tmpDir();
    store = path.join(dir, 'reg');
    await publishTerraformRegistry.run(inputs({ tarballs: await release(dir, '1.0.0'), store }), ctx());
  });
  const verify = () =>
    verifyTerraformRegistry.run(
      {
        'registry-url': 'https://registry.example.com',
        namespace: 'acme',
        name: 'demo',
        version: undefined,
        store,
        mirror: true,
        's3-endpoint': undefined,
      },
      ctx(),
    );
  const tamper = async (rel: string, edit: (s: string) => string, message: RegExp): Promise<void> => {
    const f = path.join(store, rel);
    const orig = await fs.readFile(f, 'utf8');
    await fs.writeFile(f, edit(orig));
    try {
      const err = await verify().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as Error).message).toMatch(message);
    } finally {
      await fs.writeFile(f, orig);
    }
  };
  test('the untouched registry verifies', async () =>
    expect((await verify()).outputs).toEqual({
      versions: '1.0.0',
      platforms: '3',
      unattested: '',
      'audit-chain': expect.stringMatching(/^intact: 1 record, head audit\/.*\.json \(sha256 [0-9a-f]{64}\)$/),
    }));
  test('providers.v1 without a trailing slash', () =>
    tamper('.well-known/terraform.json', (s) => s.replace('registry/"', 'registry"'), /must end in '\/'/));
  test('a v-prefixed version in versions', () =>
    tamper('registry/acme/demo/versions', (s) => s.replace('"1.0.0"', '"v1.0.0"'), /invalid version string "v1.0.0"/));
  test('os/arch not echoed', () =>
    tamper(
      'registry/acme/demo/1.0.0/download/linux/amd64',
      (s) => s.replace('"os": "linux"', '"os": "darwin"'),
      /Terraform requires it to echo linux_amd64/,
    ));
  test('filename missing from SHA256SUMS', () =>
    tamper(
      'store/acme/demo/1.0.0/terraform-provider-demo_1.0.0_SHA256SUMS',
      (s) => s.replace(/darwin_arm64/, 'darwin_arm65'),
      /no SHA-256 hash for "terraform-provider-demo_1.0.0_darwin_arm64.zip"/,
    ));
  test('a blank line in SHA256SUMS', () =>
    tamper(
      'store/acme/demo/1.0.0/terraform-provider-demo_1.0.0_SHA256SUMS',
      (s) => s.replace('\n', '\n\n'),
      /^SHA256SUMS \S+\/store\/acme\/demo\/1\.0\.0\/terraform-provider-demo_1\.0\.0_SHA256SUMS: has a blank line \(Terraform panics on it\)$/,
    ));
  test('a shasum that does not match the zip', () =>
    tamper(
      'registry/acme/demo/1.0.0/download/linux/amd64',
      (s) => s.replace(/"shasum": "[0-9a-f]{64}"/, `"shasum": "${'0'.repeat(64)}"`),
      /hash for .* is [0-9a-f]{64}, download document says 0{64}/,
    ));
  test('a signature by another key', async () => {
    const doc = path.join(store, 'registry/acme/demo/1.0.0/download/linux/amd64');
    const orig = await fs.readFile(doc, 'utf8');
    const other = (await import('openpgp')).readPrivateKey({ armoredKey: key2 });
    const d = JSON.parse(orig);
    d.signing_keys.gpg_public_keys[0].ascii_armor = (await other).toPublic().armor();
    await fs.writeFile(doc, JSON.stringify(d));
    try {
      await expect(verify()).rejects.toThrow(/authentication signature from unknown issuer/);
    } finally {
      await fs.writeFile(doc, orig);
    }
  });
});
