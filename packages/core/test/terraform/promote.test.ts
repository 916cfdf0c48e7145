// promote-terraform-provider on file stores: staging verified and its build
// record checked before anything is written; production gets staging's bytes
// (re-signed), so h1: and zh: stay the same.
import { beforeAll, describe, expect, jest, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ConflictError, InputError, IntegrityError } from '../../src/errors.js';
import { NullLogger } from '../../src/log/logger.js';
import { promoteTerraformProvider, publishTerraformRegistry } from '../../src/operations/index.js';
import { loadSigningKey, verifyDetached } from '../../src/signing/key.js';
import { providerTarball, rsaKey, snapshot, tmpDir } from '../fixtures.js';

// Waits on the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(30_000);

let stagingKey: string;
let prodKey: string;
let prodArmor: string;
let stagingArmor: string;
beforeAll(async () => {
  [stagingKey, prodKey] = await Promise.all([rsaKey(), rsaKey()]);
  prodArmor = (await loadSigningKey(prodKey, undefined, new NullLogger())).publicArmor;
  stagingArmor = (await loadSigningKey(stagingKey, undefined, new NullLogger())).publicArmor;
});

const TAG = 'refs/tags/terraform-provider-demo-v1.0.0';
const env = (ref = TAG) => ({
  GITHUB_REF: ref,
  GITHUB_REPOSITORY: 'acme/terraform-provider-demo',
  GITHUB_RUN_ID: '77',
  GITHUB_RUN_ATTEMPT: '1',
});
const ctx = (e: Record<string, string> = {}) => ({ log: new NullLogger(), env: e, cwd: '/' });

async function tarballs(dir: string, tag = 'a'): Promise<string[]> {
  return Promise.all(
    (
      [
        ['linux', 'amd64'],
        ['darwin', 'arm64'],
        ['windows', 'amd64'],
      ] as const
    ).map(([os, arch]) => providerTarball(dir, 'demo', '1.0.0', os, arch, `${os} ${arch} build ${tag}\n`)),
  );
}

const stage = (store: string, files: string[], ref = TAG) =>
  publishTerraformRegistry.run(
    {
      namespace: 'acme',
      name: 'demo',
      version: '1.0.0',
      tarballs: files,
      source: undefined,
      store,
      'registry-url': 'https://staging.example.com/',
      'signing-key': stagingKey,
      'signing-key-passphrase': undefined,
      protocols: ['6.0'],
      'detect-protocols': 'off',
      immutable: false,
      'dry-run': false,
      's3-endpoint': undefined,
    } as Parameters<typeof publishTerraformRegistry.run>[0],
    ctx(env(ref)),
  );

const promote = (from: string, store: string, over: Record<string, unknown> = {}) =>
  promoteTerraformProvider.run(
    {
      from,
      store,
      'registry-url': 'https://terraform.example.com/',
      namespace: 'acme',
      name: 'demo',
      version: '1.0.0',
      'signing-key': prodKey,
      'signing-key-passphrase': undefined,
      'expect-ref': undefined,
      immutable: true,
      'dry-run': false,
      's3-endpoint': undefined,
      ...over,
    } as Parameters<typeof promoteTerraformProvider.run>[0],
    ctx(),
  );

const DIR = 'store/acme/demo/1.0.0/';
const SUMS = `${DIR}terraform-provider-demo_1.0.0_SHA256SUMS`;

describe('promote-terraform-provider', () => {
  test("copies staging's bytes, signs with production's key, and a re-run is a no-op", async () => {
    const dir = await tmpDir();
    const staging = path.join(dir, 'staging');
    const prod = path.join(dir, 'prod');
    const staged = await stage(staging, await tarballs(dir));
    const res = await promote(staging, prod);
    expect(res.outputs['lock-hashes']).toEqual(staged.outputs['lock-hashes']);
    expect(res.outputs.hashes).toEqual(staged.outputs.hashes);
    expect(res.outputs.provider).toBe('terraform.example.com/acme/demo');
    expect(res.outputs['build-ref']).toBe(TAG);
    const summary = res.report.sections[0]!;
    expect('text' in summary && summary.text).toMatch(
      /^Promoted 1\.0\.0 from file:\/\/.*staging, built from refs\/tags\/terraform-provider-demo-v1\.0\.0\. h1: and zh: in production equal staging's for all 3 platforms/,
    );
    const record = res.report.sections.find((s) => s.heading.startsWith('Build record'));
    expect(record && 'table' in record && record.table.rows[0]).toEqual(['ref', TAG]);

    // byte for byte: zips, SHA256SUMS, manifest, build record; the signature is production's
    const s = await snapshot(staging);
    const p = await snapshot(prod);
    for (const k of Object.keys(s).filter((k) => k.startsWith(DIR) && !k.endsWith('.sig'))) expect([k, p[k]]).toEqual([k, s[k]]);
    const sums = await fs.readFile(path.join(prod, SUMS));
    const sig = await fs.readFile(path.join(prod, `${SUMS}.sig`));
    expect(await verifyDetached(sums, sig, [prodArmor])).toBeTruthy();
    expect(await verifyDetached(sums, sig, [stagingArmor])).toBe(false);
    const doc = JSON.parse(
      p['registry/acme/demo/1.0.0/download/linux/amd64']! &&
        Buffer.from(p['registry/acme/demo/1.0.0/download/linux/amd64']!, 'base64').toString(),
    );
    expect(doc.signing_keys.gpg_public_keys[0].ascii_armor).toBe(prodArmor);
    expect(doc.protocols).toEqual(['6.0']);

    const again = await promote(staging, prod);
    expect(again.report.status).toBe('no-op');
    expect(await snapshot(prod)).toEqual(p);
  });

  test('a staging version rewritten after its build record is refused, naming the file; production untouched', async () => {
    const dir = await tmpDir();
    const staging = path.join(dir, 'staging');
    const prod = path.join(dir, 'prod');
    await stage(staging, await tarballs(dir));
    const oldRecord = await fs.readFile(path.join(staging, DIR, 'relay-build.json'));
    const other = await tmpDir();
    await stage(staging, await tarballs(other, 'b')); // a rebuild replaces the files (and its own record)
    await fs.writeFile(path.join(staging, DIR, 'relay-build.json'), oldRecord); // ... but the record is the first build's
    const err = await promote(staging, prod).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toMatch(
      /^file:\/\/.*\/staging\/store\/acme\/demo\/1\.0\.0: terraform-provider-demo_1\.0\.0_\w+_\w+\.zip has sha256 [0-9a-f]{64}, but the build record says [0-9a-f]{64}; the staging version was rewritten after its build$/,
    );
    await expect(fs.stat(prod)).rejects.toThrow();
  });

  test('a zip changed in staging behind its SHA256SUMS is refused by the verification', async () => {
    const dir = await tmpDir();
    const staging = path.join(dir, 'staging');
    await stage(staging, await tarballs(dir));
    const zip = path.join(staging, DIR, 'terraform-provider-demo_1.0.0_darwin_arm64.zip');
    const b = await fs.readFile(zip);
    b[b.length - 40] = b[b.length - 40]! ^ 1;
    await fs.writeFile(zip, b);
    const err = await promote(staging, path.join(dir, 'prod')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(/darwin_arm64\.zip: archive has incorrect checksum zh:/);
    await expect(fs.stat(path.join(dir, 'prod'))).rejects.toThrow();
  });

  test('a version last written to staging by a release candidate is refused unless expect-ref names it', async () => {
    const dir = await tmpDir();
    const staging = path.join(dir, 'staging');
    const prod = path.join(dir, 'prod');
    await stage(staging, await tarballs(dir));
    await stage(staging, await tarballs(dir, 'rc'), 'refs/tags/terraform-provider-demo-v1.0.0-rc.2');
    const err = await promote(staging, prod).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toBe(
      `file://${staging}/store/acme/demo/1.0.0: the staging version was last published from refs/tags/terraform-provider-demo-v1.0.0-rc.2, not ${TAG} (input 'expect-ref'); publish ${TAG} to staging again, or promote what was built from refs/tags/terraform-provider-demo-v1.0.0-rc.2 by naming it in expect-ref`,
    );
    await expect(fs.stat(prod)).rejects.toThrow();
    const ok = await promote(staging, prod, { 'expect-ref': 'terraform-provider-demo-v1.0.0-rc.2' });
    expect(ok.outputs['build-ref']).toBe('refs/tags/terraform-provider-demo-v1.0.0-rc.2');
  });

  test("a version staged outside Actions names no ref: refused by default, promoted with expect-ref '*'", async () => {
    const dir = await tmpDir();
    const staging = path.join(dir, 'staging');
    const prod = path.join(dir, 'prod');
    await publishTerraformRegistry.run(
      {
        namespace: 'acme',
        name: 'demo',
        version: '1.0.0',
        tarballs: await tarballs(dir),
        source: undefined,
        store: staging,
        'registry-url': 'https://staging.example.com/',
        'signing-key': stagingKey,
        'signing-key-passphrase': undefined,
        protocols: ['6.0'],
        'detect-protocols': 'off',
        'max-binary-size': 1024,
        immutable: false,
        'dry-run': false,
        's3-endpoint': undefined,
      },
      ctx(),
    );
    await expect(promote(staging, prod)).rejects.toThrow(
      /the staging version was last published outside GitHub Actions \(its build record names no ref\), not from refs\/tags\/terraform-provider-demo-v1\.0\.0 \(input 'expect-ref'\); .* or set expect-ref to '\*' to promote it anyway$/,
    );
    const res = await promote(staging, prod, { 'expect-ref': '*' });
    expect(res.outputs['build-ref']).toBe('');
    const rec = res.report.sections.find((s) => s.heading.startsWith('Build record'));
    expect(rec && 'table' in rec && rec.table.rows[0]).toEqual(['ref', '(none: published outside GitHub Actions)']);
  });

  test('an existing different production version is a conflict, as for publishing', async () => {
    const dir = await tmpDir();
    const staging = path.join(dir, 'staging');
    const prod = path.join(dir, 'prod');
    await stage(staging, await tarballs(dir));
    await promote(staging, prod);
    const before = await snapshot(prod);
    await stage(staging, await tarballs(dir, 'c'));
    const err = await promote(staging, prod).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toMatch(/exists with different content \(published versions are immutable\).*nothing was written$/);
    expect(await snapshot(prod)).toEqual(before);
  });

  test("bound to the approved plan: the dry run's plan-hash applies; the apply leaves an audit record in production", async () => {
    const dir = await tmpDir();
    const staging = path.join(dir, 'staging');
    const prod = path.join(dir, 'prod');
    await stage(staging, await tarballs(dir));
    const plan = await promote(staging, prod, { 'dry-run': true });
    const hash = plan.outputs['plan-hash'] as string;
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    const res = await promote(staging, prod, { 'expect-plan': hash });
    expect(res.outputs['plan-hash']).toBe(hash);
    const audit = res.report.sections.find((s) => s.heading === 'Audit record');
    expect(audit && 'text' in audit && audit.text).toMatch(/^file:\/\/.*\/prod\/audit\/\d{4}\/\d{2}\/.*\.json$/);
    const [rec] = Object.entries(await snapshot(prod)).filter(([k]) => k.startsWith('audit/'));
    const record = JSON.parse(Buffer.from(rec![1], 'base64').toString());
    expect(record).toMatchObject({ operation: 'promote-terraform-provider', subject: { version: '1.0.0', 'build-ref': TAG } });
    // a store changed since the approval: refused before anything is written
    await stage(staging, await tarballs(dir, 'later'));
    const before = await snapshot(prod);
    await expect(promote(staging, path.join(dir, 'prod2'), { 'expect-plan': hash })).rejects.toThrow(/^plan changed since it was approved/);
    expect(await snapshot(prod)).toEqual(before);
  });

  test('dry run verifies and plans, writes nothing', async () => {
    const dir = await tmpDir();
    const staging = path.join(dir, 'staging');
    await stage(staging, await tarballs(dir));
    const res = await promote(staging, path.join(dir, 'prod'), { 'dry-run': true });
    expect(res.report.status).toBe('dry-run');
    expect(res.plan.filter((r) => r.action === 'put').map((r) => r.object)).toContain(`${DIR}relay-build.json`);
    await expect(fs.stat(path.join(dir, 'prod'))).rejects.toThrow();
  });

  test('refusals before anything is read: the same store, no build record, a version staging lacks', async () => {
    const dir = await tmpDir();
    const staging = path.join(dir, 'staging');
    await stage(staging, await tarballs(dir));
    await expect(promote(staging, staging)).rejects.toThrow(/^input 'from': expected the staging store, another than 'store'/);
    await expect(promote(staging, path.join(dir, 'p'), { version: '9.9.9' })).rejects.toThrow(
      /^input 'version': 9\.9\.9 is not listed in staging/,
    );
    await fs.rm(path.join(staging, DIR, 'relay-build.json'));
    const err = await promote(staging, path.join(dir, 'p')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/relay-build\.json: no build record/);
  });

  test("production's key planned without its private key: the same plan the key applies; another key or a pinned fingerprint refuses", async () => {
    const dir = await tmpDir();
    const staging = path.join(dir, 'staging');
    const prod = path.join(dir, 'prod');
    await stage(staging, await tarballs(dir));
    const prodSigner = await loadSigningKey(prodKey, undefined, new NullLogger());
    const planOnly = {
      'signing-key': undefined,
      'signing-public-key': prodArmor,
      'signing-key-fingerprint': prodSigner.fingerprint,
      'dry-run': true,
    };
    const dryPublic = await promote(`file://${staging}`, `file://${prod}`, planOnly);
    const dryPrivate = await promote(`file://${staging}`, `file://${prod}`, { 'dry-run': true });
    const dryStagingKey = await promote(`file://${staging}`, `file://${prod}`, { 'signing-key': stagingKey, 'dry-run': true });
    expect(dryPrivate.outputs['plan-hash']).toBe(dryPublic.outputs['plan-hash']);
    expect(dryStagingKey.outputs['plan-hash']).not.toBe(dryPublic.outputs['plan-hash']);
    await expect(fs.stat(prod)).rejects.toThrow(/ENOENT/);
    const wrong = await promote(`file://${staging}`, `file://${prod}`, {
      'signing-key': stagingKey,
      'signing-key-fingerprint': prodSigner.fingerprint,
    }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(InputError);
    expect((wrong as Error).message).toMatch(
      new RegExp(
        `^input 'signing-key': key [0-9A-F]{40} is not the planned key ${prodSigner.fingerprint} \\(input 'signing-key-fingerprint'\\)$`,
      ),
    );
    await expect(fs.stat(prod)).rejects.toThrow(/ENOENT/);
    const done = await promote(`file://${staging}`, `file://${prod}`, { 'expect-plan': dryPublic.outputs['plan-hash'] });
    expect(done.report.status).toBe('done');
  }, 60_000);

  test('the signing inputs: a private key is refused as the public one, fingerprints must be 40 hex, the two keys must be one', async () => {
    const dir = await tmpDir();
    const run = (over: Record<string, unknown>) =>
      promote(`file://${dir}/staging`, `file://${dir}/prod`, { 'dry-run': true, ...over }).catch((e: unknown) => e);
    const leaked = await run({ 'signing-key': undefined, 'signing-public-key': prodKey });
    expect(leaked).toBeInstanceOf(InputError);
    expect((leaked as Error).message).toBe(
      "input 'signing-public-key': holds a private key; give only the public key (gpg --armor --export <fingerprint>)",
    );
    const short = await run({ 'signing-key-fingerprint': 'ABCD1234' });
    expect((short as Error).message).toBe(
      `input 'signing-key-fingerprint': expected an OpenPGP key fingerprint (40 hex digits, as \`gpg --fingerprint\` prints it), got "ABCD1234"`,
    );
    const stagingArmorOnly = (await loadSigningKey(stagingKey, undefined, new NullLogger())).publicArmor;
    const mismatch = await run({ 'signing-public-key': stagingArmorOnly });
    expect((mismatch as Error).message).toMatch(
      /^input 'signing-public-key': key [0-9A-F]{40} is not the public half of signing-key \([0-9A-F]{40}\)$/,
    );
    const none = await run({ 'signing-key': undefined });
    expect((none as Error).message).toMatch(
      /^input 'signing-public-key': expected the public signing key \(or signing-key\) for a dry run/,
    );
  }, 60_000);
});
