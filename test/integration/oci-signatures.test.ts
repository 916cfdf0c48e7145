// Signatures verified, not only present: images signed in the test as cosign
// signs them (legacy `.sig` tags and cosign 3 Sigstore bundle referrers), key-based
// with a generated ECDSA P-256 key and keyless with a stand-in for Sigstore's
// public services (a throwaway Fulcio-like CA and Rekor key, given as the
// trusted root), copied by copy-image between real distribution registries.
import { beforeAll, describe, expect, jest, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GateError, InputError, NullLogger, exitCodeOfStatus, statusOf } from '../../packages/core/src/index.js';
import type { Context } from '../../packages/core/src/index.js';
import { copyImage, mirrorArtifact } from '../../packages/core/src/operations/index.js';
import { ecKeyPair, FakeSigstore, signBundle, signLegacy, type KeyPair, type Subject } from '../support/cosign-sign.js';
import { makeOciImage, pushImage } from '../support/oci-images.js';
import { registries, type RegistrySettings } from '../support/servers.js';

jest.setTimeout(120_000);

let reg: RegistrySettings;
let creds: string;
let dir: string;
let key: KeyPair;
let otherKey: KeyPair;
let sigstore: FakeSigstore;
let rootFile: string;
let rootOnlyFile: string;
const ID = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
const ISSUER = 'https://token.actions.githubusercontent.com';

beforeAll(async () => {
  reg = registries();
  creds = `${reg.user}:${reg.pass}`;
  dir = await mkdtemp(path.join(tmpdir(), 'relay-sigs-'));
  key = ecKeyPair();
  otherKey = ecKeyPair();
  sigstore = await FakeSigstore.create();
  rootFile = path.join(dir, 'trusted-root.json');
  rootOnlyFile = path.join(dir, 'trusted-root-root-only.json');
  await writeFile(rootFile, sigstore.trustedRoot());
  await writeFile(rootOnlyFile, sigstore.trustedRoot({ rootOnly: true }));
}, 60_000);

const ctx = (): Context => ({ log: new NullLogger(), env: {}, cwd: dir });
type Inputs = Parameters<typeof copyImage.run>[0];
type MirrorInputs = Parameters<typeof mirrorArtifact.run>[0];

/** A fresh image in its own repository on the basic-auth registry, and where it is copied to. */
async function image(what: string): Promise<{ repo: string; subject: Subject; src: string; dst: string }> {
  const repo = `relay-it/sig-${what}-${randomBytes(4).toString('hex')}`;
  const img = await makeOciImage({ layers: 1, layerSize: 2_000, seed: randomBytes(4).toString('hex'), tag: 'v1' });
  await pushImage(img, `${reg.basic}/${repo}:v1`, creds);
  return {
    repo,
    subject: { digest: img.top.digest, size: img.top.size, mediaType: img.top.mediaType },
    src: `${reg.basic}/${repo}:v1`,
    dst: `${reg.basic}/${repo}-copy:v1`,
  };
}

function inputs(src: string, dst: string, more: Partial<Inputs>): Inputs {
  return {
    source: src,
    destination: dst,
    tags: [],
    'immutable-tags': false,
    'require-signature': true,
    'dry-run': false,
    'insecure-registries': [],
    'source-username': reg.user,
    'source-password': reg.pass,
    'destination-username': reg.user,
    'destination-password': reg.pass,
    ...more,
  };
}

const keyInputs = (k: KeyPair = key): Partial<Inputs> => ({ 'signature-key': k.publicPem });
const keyless = (more: Partial<Inputs> = {}): Partial<Inputs> => ({
  'signature-identity': ID,
  'signature-issuer': ISSUER,
  'trusted-root': rootFile,
  ...more,
});

async function exists(ref: string): Promise<boolean> {
  const [host, ...rest] = ref.split('/');
  const [repo, tag] = rest.join('/').split(':');
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { authorization: `Basic ${Buffer.from(creds).toString('base64')}`, accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  return res.status === 200;
}

/** Runs the copy expecting a gate refusal; checks nothing was written and the message's shape. */
async function refused(i: { src: string; dst: string; repo: string; subject: Subject }, more: Partial<Inputs>): Promise<string> {
  const err = await copyImage.run(inputs(i.src, i.dst, more), ctx()).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(GateError);
  const msg = (err as Error).message;
  expect(msg.split('\n')).toHaveLength(1);
  expect(msg).toContain(`require-signature: ${reg.basic}/${i.repo}@${i.subject.digest}: expected `);
  expect(await exists(i.dst)).toBe(false);
  return msg;
}

describe('key-based (signature-key)', () => {
  test('a legacy .sig signature by the key verifies on the source and again on the target', async () => {
    const i = await image('key-ok');
    await signLegacy(reg.basic, i.repo, i.subject, { key }, creds);
    const r = await copyImage.run(inputs(i.src, i.dst, keyInputs()), ctx());
    expect(r.outputs.digest).toBe(i.subject.digest);
    const text = JSON.stringify(r.report);
    expect(text).toContain(`source: ${reg.basic}/${i.repo}:sha256-${i.subject.digest.slice(7)}.sig layer 1 by signature-key`);
    expect(text).toContain(`target: ${reg.basic}/${i.repo}-copy:sha256-${i.subject.digest.slice(7)}.sig layer 1 by signature-key`);
    expect(await exists(i.dst)).toBe(true);
  });

  test('the key given as a file path, and a Rekor bundle checked against trusted-root', async () => {
    const i = await image('key-file');
    await signLegacy(reg.basic, i.repo, i.subject, { key, log: sigstore }, creds);
    const file = path.join(dir, `cosign-${randomBytes(3).toString('hex')}.pub`);
    await writeFile(file, key.publicPem);
    const r = await copyImage.run(inputs(i.src, i.dst, { 'signature-key': file, 'trusted-root': rootFile }), ctx());
    expect(r.outputs.digest).toBe(i.subject.digest);
  });

  test('another key: refused as wrong key, nothing written', async () => {
    const i = await image('key-wrong');
    await signLegacy(reg.basic, i.repo, i.subject, { key: otherKey }, creds);
    const msg = await refused(i, keyInputs());
    expect(msg).toMatch(/layer 1: wrong key: it does not verify with signature-key \(sha256:[0-9a-f]{16}\)/);
  });

  test("another image's signature under this digest's tag: refused as other digest", async () => {
    const i = await image('key-other');
    const other = 'sha256:' + 'ab'.repeat(32);
    await signLegacy(reg.basic, i.repo, i.subject, { key, signs: other }, creds);
    const msg = await refused(i, keyInputs());
    expect(msg).toContain(`other digest: it signs ${other}, not ${i.subject.digest}`);
  });

  test('a tampered payload whose Rekor entry logs the original: refused as tampered', async () => {
    const i = await image('key-tampered');
    await signLegacy(reg.basic, i.repo, i.subject, { key, log: sigstore, tamper: true }, creds);
    const msg = await refused(i, keyInputs());
    expect(msg).toContain('tampered payload: its payload is not the one signed and logged in Rekor');
  });

  test('no signature at all: refused, naming the tag looked for', async () => {
    const i = await image('key-none');
    const msg = await refused(i, keyInputs());
    expect(msg).toContain(`found no cosign signature (sha256-${i.subject.digest.slice(7)}.sig) or Sigstore bundle referrer`);
  });

  test('a cosign 3 bundle referrer (DSSE statement) by the key verifies; by another key it is refused', async () => {
    const i = await image('bundle-key');
    await signBundle(reg.basic, i.repo, i.subject, { key }, creds);
    const r = await copyImage.run(inputs(i.src, i.dst, keyInputs()), ctx());
    expect(JSON.stringify(r.report)).toContain('(Sigstore bundle referrer) by signature-key');
    const j = await image('bundle-key-wrong');
    await signBundle(reg.basic, j.repo, j.subject, { key: otherKey }, creds);
    expect(await refused(j, keyInputs())).toContain('(Sigstore bundle referrer): wrong key');
  });

  test('require-signature without a key or identity, or half an identity, is a usage error before any request', async () => {
    const i = { src: `${reg.basic}/relay-it/never:v1`, dst: `${reg.basic}/relay-it/never-copy:v1` };
    const e1 = await copyImage.run(inputs(i.src, i.dst, {}), ctx()).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(InputError);
    expect((e1 as Error).message).toBe(
      "input 'require-signature': expected signature-key, or signature-identity and signature-issuer, to verify signatures against",
    );
    const e2 = await copyImage.run(inputs(i.src, i.dst, { 'signature-identity': ID }), ctx()).catch((e: unknown) => e);
    expect((e2 as Error).message).toBe(
      "input 'signature-issuer': expected the OIDC issuer of the signer certificate to go with signature-identity",
    );
    const e3 = await copyImage.run(inputs(i.src, i.dst, { 'signature-key': 'not a key' }), ctx()).catch((e: unknown) => e);
    expect((e3 as Error).message).toMatch(/^input 'signature-key': expected a readable file/);
  });
});

describe('keyless (stand-in for Fulcio and Rekor: a throwaway CA and log key as the trusted root)', () => {
  test('stand-in: a legacy keyless signature (certificate, chain, Rekor bundle) verifies, exact and /regex/ identity', async () => {
    const i = await image('keyless-ok');
    const leaf = await sigstore.leaf(ID, ISSUER);
    await signLegacy(reg.basic, i.repo, i.subject, { key: leaf.key, leaf, log: sigstore }, creds);
    const r = await copyImage.run(inputs(i.src, i.dst, keyless()), ctx());
    expect(JSON.stringify(r.report)).toContain(`layer 1 by ${ID} (${ISSUER})`);
    // The intermediate from the signature's chain annotation, the trusted root listing only the CA's root.
    const again = await copyImage.run(
      inputs(i.src, `${i.dst}2`, keyless({ 'signature-identity': '/^https://github\\.com/acme/', 'trusted-root': rootOnlyFile })),
      ctx(),
    );
    expect(again.outputs.digest).toBe(i.subject.digest);
  });

  test('stand-in: wrong identity and wrong issuer are refused, each saying what the certificate holds', async () => {
    const i = await image('keyless-id');
    const leaf = await sigstore.leaf('mallory@example.com', 'https://accounts.example.com');
    await signLegacy(reg.basic, i.repo, i.subject, { key: leaf.key, leaf, log: sigstore }, creds);
    expect(await refused(i, keyless())).toContain(`wrong identity: its certificate is for mallory@example.com, expected ${ID}`);
    expect(await refused(i, keyless({ 'signature-identity': 'mallory@example.com' }))).toContain(
      `wrong issuer: its certificate was issued for https://accounts.example.com, expected ${ISSUER}`,
    );
  });

  test('stand-in: a tampered payload is refused as tampered', async () => {
    const i = await image('keyless-tampered');
    const leaf = await sigstore.leaf(ID, ISSUER);
    await signLegacy(reg.basic, i.repo, i.subject, { key: leaf.key, leaf, log: sigstore, tamper: true }, creds);
    expect(await refused(i, keyless())).toContain('tampered payload:');
  });

  test('stand-in: a certificate from an intermediate the root does not list, with no chain annotation, is refused as missing chain', async () => {
    const i = await image('keyless-chain');
    const leaf = await sigstore.leaf(ID, ISSUER);
    await signLegacy(reg.basic, i.repo, i.subject, { key: leaf.key, leaf, log: sigstore, chain: false }, creds);
    expect(await refused(i, keyless({ 'trusted-root': rootOnlyFile }))).toContain(
      'missing certificate chain: its certificate does not chain to the trusted root, and it carries no dev.sigstore.cosign/chain',
    );
  });

  test('stand-in: without a Rekor bundle (no transparency-log time) a keyless signature is refused', async () => {
    const i = await image('keyless-notlog');
    const leaf = await sigstore.leaf(ID, ISSUER, { notBefore: new Date(Date.now() - 3600_000) });
    await signLegacy(reg.basic, i.repo, i.subject, { key: leaf.key, leaf }, creds);
    expect(await refused(i, keyless())).toContain('no transparency-log timestamp');
  });

  test('stand-in: a certificate that had expired when the log recorded the signature is refused as expired', async () => {
    const i = await image('keyless-expired');
    const leaf = await sigstore.leaf(ID, ISSUER, { notBefore: new Date(Date.now() - 7200_000), minutes: 10 });
    await signLegacy(reg.basic, i.repo, i.subject, { key: leaf.key, leaf, log: sigstore }, creds);
    expect(await refused(i, keyless())).toContain('expired certificate: it was not valid at the time its transparency-log entry records');
  });

  test('stand-in: a Rekor entry signed by a log the trusted root does not list is refused', async () => {
    const i = await image('keyless-otherlog');
    const leaf = await sigstore.leaf(ID, ISSUER);
    const otherLog = await FakeSigstore.create();
    await signLegacy(reg.basic, i.repo, i.subject, { key: leaf.key, leaf, log: otherLog, chain: sigstore.chainPem }, creds);
    expect(await refused(i, keyless())).toContain("transparency log: its Rekor entry does not verify against the trusted root's logs");
  });

  test('a layer without its signature annotation is refused as malformed', async () => {
    const i = await image('malformed');
    await signLegacy(reg.basic, i.repo, i.subject, { key, omitSignature: true }, creds);
    expect(await refused(i, keyInputs())).toContain('layer 1: malformed: it has no base64 dev.cosignproject.cosign/signature annotation');
  });

  test('stand-in: a key-based signature is refused where a keyless identity is expected', async () => {
    const i = await image('keyless-keyonly');
    await signLegacy(reg.basic, i.repo, i.subject, { key, log: sigstore }, creds);
    expect(await refused(i, keyless())).toContain('missing certificate: it is signed by a key');
  });

  test('stand-in: a cosign 3 keyless bundle (certificate, inclusion proof and checkpoint) verifies; for another digest it is refused', async () => {
    const i = await image('bundle-keyless');
    const leaf = await sigstore.leaf(ID, ISSUER);
    await signBundle(reg.basic, i.repo, i.subject, { key: leaf.key, leaf, log: sigstore }, creds);
    const r = await copyImage.run(inputs(i.src, i.dst, keyless()), ctx());
    expect(JSON.stringify(r.report)).toContain(`(Sigstore bundle referrer) by ${ID} (${ISSUER})`);
    const j = await image('bundle-keyless-other');
    const other = 'sha256:' + 'cd'.repeat(32);
    await signBundle(reg.basic, j.repo, j.subject, { key: leaf.key, leaf, log: sigstore, signs: other }, creds);
    expect(await refused(j, keyless())).toContain(`other digest: it signs ${other}, not ${j.subject.digest}`);
  });
});

describe('mirror-artifact with signature-key', () => {
  test('sync verifies on the source and on the target; check reports a target whose signature tag another key replaced as drift (exit 4), naming it', async () => {
    const i = await image('mirror');
    await signLegacy(reg.basic, i.repo, i.subject, { key }, creds);
    const dest = `relay-it/sig-mirror-dst-${randomBytes(4).toString('hex')}`;
    const file = path.join(dir, `mirror-${randomBytes(3).toString('hex')}.yml`);
    await writeFile(
      file,
      [
        'version: 1',
        'targets:',
        `  copy: { registry: "${reg.basic}", repository: "${dest}/{name}", username-env: REG_USER, password-env: REG_PASS }`,
        'tiers:',
        '  main: [copy]',
        'images:',
        `  - { name: app, source: "${reg.basic}/${i.repo}", tier: main, tags: ["v1"] }`,
        '',
      ].join('\n'),
    );
    const mirrorInputs = (more: Partial<MirrorInputs>): MirrorInputs => ({
      config: file,
      version: undefined,
      tiers: [],
      mode: 'sync',
      'dry-run': false,
      'require-signature': false,
      parallel: 4,
      shard: undefined,
      'fail-fast': false,
      'expect-plan': undefined,
      'insecure-registries': [],
      'signature-key': key.publicPem,
      ...more,
    });
    const mctx = (): Context => ({ log: new NullLogger(), env: { REG_USER: reg.user, REG_PASS: reg.pass }, cwd: dir });
    const synced = await mirrorArtifact.run(mirrorInputs({}), mctx());
    expect(synced.report.status).toBe('done');
    const clean = await mirrorArtifact.run(mirrorInputs({ mode: 'check' }), mctx());
    expect(exitCodeOfStatus(statusOf(clean))).toBe(0);

    // The mirror's signature tag replaced by one another key made for the same digest.
    await signLegacy(reg.basic, `${dest}/app`, i.subject, { key: otherKey }, creds);
    const drift = await mirrorArtifact.run(mirrorInputs({ mode: 'check' }), mctx());
    expect(drift.report.status).toBe('drift');
    expect(exitCodeOfStatus(statusOf(drift))).toBe(4);
    const rows = (drift.outputs.results as unknown as { rows: { target: string; status: string; why: string }[] }).rows;
    expect(rows).toHaveLength(1);
    expect(rows[0]!.target).toBe('copy');
    expect(rows[0]!.status).toBe('incomplete');
    expect(rows[0]!.why).toContain(`signature: ${reg.basic}/${dest}/app@${i.subject.digest}: expected a signature by signature-key`);
    expect(rows[0]!.why).toContain(`${reg.basic}/${dest}/app:sha256-${i.subject.digest.slice(7)}.sig layer 1: wrong key`);

    // Sync refuses a source signed by another key before writing anything.
    const j = await image('mirror-wrong');
    await signLegacy(reg.basic, j.repo, j.subject, { key: otherKey }, creds);
    // This time the key comes from the mirror file's signature block (a path relative to the file), not the inputs.
    await writeFile(path.join(dir, 'mirror-cosign.pub'), key.publicPem);
    await writeFile(
      file,
      (await readFile(file, 'utf8'))
        .replace(i.repo, j.repo)
        .replace(dest, `${dest}-2`)
        .replace('tags: ["v1"] }', 'tags: ["v1"], signature: { key: mirror-cosign.pub } }'),
    );
    const err = await mirrorArtifact.run(mirrorInputs({ 'signature-key': undefined }), mctx()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GateError);
    expect((err as Error).message).toContain(
      `require-signature: ${reg.basic}/${j.repo}@${j.subject.digest}: expected a signature by signature-key`,
    );
    expect(await exists(`${reg.basic}/${dest}-2/app:v1`)).toBe(false);

    // A signature block with half an identity is refused before any network use, naming the file's fields.
    await writeFile(
      file,
      (await readFile(file, 'utf8')).replace('signature: { key: mirror-cosign.pub }', 'signature: { identity: x@y.z }'),
    );
    const bad = await mirrorArtifact.run(mirrorInputs({ 'signature-key': undefined }), mctx()).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(InputError);
    expect((bad as Error).message).toBe(
      `${file}: images[0].signature: issuer: expected the OIDC issuer of the signer certificate to go with identity`,
    );
  });
});
