// The plan hash binds everything that decides the bytes written, against the
// real servers: Ceph RGW for the provider registry (the signing key, a zip, a
// store object, each changed between the approved dry run and the apply) and
// a distribution registry for the tags (a source tag moved, a destination tag
// moved). Each change is refused as a conflict (exit 1) with nothing written:
// the whole bucket, or the repository's tags and manifests, hash the same
// before and after. The dry run needs no private key: the public key and its
// fingerprint plan the same hash the private key applies (gpg made and
// exported both; gpg checks the signature). The audit chain's tamper cases and
// racing publishes run on RGW too.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import {
  ConflictError,
  exitCodeFor,
  InputError,
  NullLogger,
  publishTerraformRegistry,
  RunRecord,
  copyImage,
  planHash,
} from '../../packages/core/src/index.js';
import { openStore } from '../../packages/core/src/store/open.js';
import type { Store } from '../../packages/core/src/store/store.js';
import {
  chainFromHead,
  publishInputs,
  tamperScenarios,
  tarballsFor,
  treeHash,
  verify,
} from '../../packages/core/test/audit/chain-scenarios.js';
import { tmpDir } from '../../packages/core/test/fixtures.js';
import { GpgHome, verifyDetached } from '../support/gpg.js';
import { secretKey } from '../support/leaks.js';
import { makeOciImage, pushImage } from '../support/oci-images.js';
import { makeBucket, registries, s3Settings } from '../support/servers.js';

interface Key {
  secret: string;
  public: string;
  fingerprint: string;
}
let gpg: GpgHome;
let keyA: Key;
let keyB: Key;
let env: Record<string, string>;

beforeAll(async () => {
  const s3 = s3Settings();
  process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
  env = { AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_REGION: 'us-east-1' };
  gpg = await GpgHome.create();
  const make = async (who: string): Promise<Key> => {
    const k = await gpg.generateKey({ uid: `Relay ${who} <relay-${who}@example.invalid>`, passphrase: '' });
    return {
      secret: secretKey(await gpg.exportSecretKey(k.fingerprint, k.passphrase)),
      public: await gpg.exportPublicKey(k.fingerprint),
      fingerprint: k.fingerprint,
    };
  };
  keyA = await make('a');
  keyB = await make('b');
}, 120_000);
afterAll(async () => {
  await gpg?.cleanup();
});

const ctx = (record?: RunRecord) => ({ log: new NullLogger(), env, cwd: '/', ...(record && { record }) });
const storeOf = (bucket: string): Store =>
  openStore(`s3://${bucket}`, 'store', { endpoint: env.AWS_ENDPOINT_URL_S3, region: 'us-east-1', cwd: '/', env });
const inputs = (bucket: string, version: string, tbs: string[], over: Record<string, unknown> = {}) =>
  publishInputs(`s3://${bucket}`, version, tbs, keyA.secret, over);

/** Runs a bound apply that must be refused: a conflict, exit 1, the plan it computed, and nothing written. */
async function refusedApply(bucket: string, run: (record: RunRecord) => Promise<unknown>): Promise<{ err: Error; record: RunRecord }> {
  const before = await treeHash(storeOf(bucket));
  expect(Object.keys(before).length).toBeGreaterThan(0); // a bucket with content: an unchanged hash means something
  const record = new RunRecord();
  const err = (await run(record).catch((e: unknown) => e)) as Error;
  expect(err).toBeInstanceOf(ConflictError);
  expect(exitCodeFor(err)).toBe(1);
  expect(err.message).toMatch(/^plan changed since it was approved: expected [0-9a-f]{64}, now [0-9a-f]{64} /);
  expect(await treeHash(storeOf(bucket))).toEqual(before);
  return { err, record };
}

describe('publish: the plan binds the key, the zips and the store (Ceph RGW)', () => {
  test('a dry run without the private key plans what the key applies; another key is another plan, and refused at apply', async () => {
    const bucket = await makeBucket('bind-key');
    await publishTerraformRegistry.run(inputs(bucket, '0.9.0', await tarballsFor('0.9.0')), ctx());
    const tbs = await tarballsFor('1.0.0');
    const planOnly = {
      'signing-key': undefined,
      'signing-public-key': keyA.public,
      'signing-key-fingerprint': keyA.fingerprint,
      'dry-run': true,
    };
    const before = await treeHash(storeOf(bucket));
    const dryPublic = await publishTerraformRegistry.run(inputs(bucket, '1.0.0', tbs, planOnly), ctx());
    const dryPrivate = await publishTerraformRegistry.run(inputs(bucket, '1.0.0', tbs, { 'dry-run': true }), ctx());
    const dryPrivateAgain = await publishTerraformRegistry.run(inputs(bucket, '1.0.0', tbs, { 'dry-run': true }), ctx());
    const dryB = await publishTerraformRegistry.run(
      inputs(bucket, '1.0.0', tbs, { ...planOnly, 'signing-public-key': keyB.public, 'signing-key-fingerprint': keyB.fingerprint }),
      ctx(),
    );
    expect(await treeHash(storeOf(bucket))).toEqual(before);
    const approved = dryPublic.outputs['plan-hash'] as string;
    expect(dryPrivate.outputs['plan-hash']).toBe(approved); // signatures differ in bytes (their time); the plan does not
    expect(dryPrivateAgain.outputs['plan-hash']).toBe(approved);
    expect(dryB.outputs['plan-hash']).not.toBe(approved);
    const sig = dryPublic.plan.find((r) => r.object.endsWith('_SHA256SUMS.sig'))!;
    const sums = dryPublic.plan.find((r) => r.object.endsWith('_SHA256SUMS'))!;
    expect(sig).toMatchObject({ action: 'put', signs: { fingerprint: keyA.fingerprint, over: sums.digest }, observed: 'absent' });
    expect(sig.why).toBe(`new: signed by key ${keyA.fingerprint} over SHA256SUMS ${sums.digest}`);

    // The key changed between plan and apply: B's key under A's plan.
    const { record } = await refusedApply(bucket, (r) =>
      publishTerraformRegistry.run(inputs(bucket, '1.0.0', tbs, { 'signing-key': keyB.secret, 'expect-plan': approved }), ctx(r)),
    );
    expect(planHash(record.plan)).toBe(dryB.outputs['plan-hash']);

    // With the fingerprint pinned the wrong key is refused first, naming both; and a write needs the private key.
    const snap = await treeHash(storeOf(bucket));
    const pinned = await publishTerraformRegistry
      .run(
        inputs(bucket, '1.0.0', tbs, { 'signing-key': keyB.secret, 'signing-key-fingerprint': keyA.fingerprint, 'expect-plan': approved }),
        ctx(),
      )
      .catch((e: unknown) => e);
    expect(pinned).toBeInstanceOf(InputError);
    expect((pinned as Error).message).toBe(
      `input 'signing-key': key ${keyB.fingerprint} is not the planned key ${keyA.fingerprint} (input 'signing-key-fingerprint')`,
    );
    const keyless = await publishTerraformRegistry
      .run(inputs(bucket, '1.0.0', tbs, { ...planOnly, 'dry-run': false }), ctx())
      .catch((e: unknown) => e);
    expect(keyless).toBeInstanceOf(InputError);
    expect((keyless as Error).message).toMatch(
      /^input 'signing-key': expected the private signing key: a run that writes signs SHA256SUMS/,
    );
    expect(await treeHash(storeOf(bucket))).toEqual(snap);

    // The planned key applies the plan made without it; gpg checks the signature it made.
    const done = await publishTerraformRegistry.run(
      inputs(bucket, '1.0.0', tbs, { 'signing-key-fingerprint': keyA.fingerprint, 'expect-plan': approved }),
      ctx(),
    );
    expect(done.report.status).toBe('done');
    const dir = await tmpDir();
    const store = storeOf(bucket);
    const sumsFile = path.join(dir, 'SHA256SUMS');
    const sigFile = path.join(dir, 'SHA256SUMS.sig');
    await fs.writeFile(sumsFile, (await store.get(sums.object))!.body);
    await fs.writeFile(sigFile, (await store.get(sig.object))!.body);
    expect((await verifyDetached(sigFile, sumsFile, keyA.public)).ok).toBe(true);
  }, 240_000);

  test('a zip changed between plan and apply (same size, other bytes): refused, nothing written', async () => {
    const bucket = await makeBucket('bind-zip');
    await publishTerraformRegistry.run(inputs(bucket, '0.9.0', await tarballsFor('0.9.0')), ctx());
    const dry = await publishTerraformRegistry.run(
      inputs(bucket, '1.0.0', await tarballsFor('1.0.0', 'build A\n'), { 'dry-run': true }),
      ctx(),
    );
    const rebuilt = await tarballsFor('1.0.0', 'build B\n');
    const { record } = await refusedApply(bucket, (r) =>
      publishTerraformRegistry.run(inputs(bucket, '1.0.0', rebuilt, { 'expect-plan': dry.outputs['plan-hash'] as string }), ctx(r)),
    );
    // The zips have the same size, so only their digests (and SHA256SUMS', the documents') tell the plans apart.
    const zip = (rows: typeof dry.plan) => rows.find((r) => r.object.endsWith('_linux_amd64.zip'))!;
    expect(zip(record.plan).bytes).toBe(zip(dry.plan).bytes);
    expect(zip(record.plan).digest).not.toBe(zip(dry.plan).digest);
  }, 240_000);

  test('a store object changed between plan and apply (a staging zip rewritten): refused, nothing written', async () => {
    const bucket = await makeBucket('bind-store');
    const staging = { immutable: false };
    await publishTerraformRegistry.run(inputs(bucket, '1.0.0', await tarballsFor('1.0.0', 'rc1\n'), staging), ctx());
    const tbs = await tarballsFor('1.0.0', 'rc2\n');
    const dry = await publishTerraformRegistry.run(inputs(bucket, '1.0.0', tbs, { ...staging, 'dry-run': true }), ctx());
    const zipKey = dry.plan.find((r) => r.object.endsWith('_linux_amd64.zip'))!.object;
    expect(dry.plan.find((r) => r.object === zipKey)).toMatchObject({ action: 'replace' });
    // Someone rewrites the zip in between: the apply would replace it just the same, but it judged other bytes.
    const other = randomBytes(64);
    await storeOf(bucket).put(zipKey, other, { contentType: 'application/zip', sha256: createHash('sha256').update(other).digest('hex') });
    const { record } = await refusedApply(bucket, (r) =>
      publishTerraformRegistry.run(inputs(bucket, '1.0.0', tbs, { ...staging, 'expect-plan': dry.outputs['plan-hash'] as string }), ctx(r)),
    );
    const changed = record.plan.filter((row) => JSON.stringify(row) !== JSON.stringify(dry.plan.find((d) => d.object === row.object)));
    expect(changed).toEqual([
      { ...dry.plan.find((d) => d.object === zipKey)!, observed: `sha256:${createHash('sha256').update(other).digest('hex')}` },
    ]);
  }, 240_000);
});

describe('the audit chain on Ceph RGW', () => {
  test('a deleted, altered or reordered record, or a removed head, is reported by verify naming it', async () => {
    const bucket = await makeBucket('audit-chain');
    await tamperScenarios(storeOf(bucket), `s3://${bucket}`, keyA.secret, env);
  }, 300_000);

  test('two publishes racing both land and chain linearly (the head compare-and-swap retried)', async () => {
    const bucket = await makeBucket('audit-race');
    const tbs = await Promise.all(['1.0.0', '2.0.0', '3.0.0'].map((v) => tarballsFor(v)));
    await Promise.all(['1.0.0', '2.0.0', '3.0.0'].map((v, i) => publishTerraformRegistry.run(inputs(bucket, v, tbs[i]!), ctx())));
    const chain = await chainFromHead(storeOf(bucket));
    expect(chain.map((c) => c.rec.chain.sequence)).toEqual([3, 2, 1]);
    expect(chain.map((c) => c.rec.subject.version).sort()).toEqual(['1.0.0', '2.0.0', '3.0.0']);
    expect((await verify(`s3://${bucket}`, env)).outputs['audit-chain']).toMatch(/^intact: 3 records, head /);
  }, 240_000);
});

describe('copy-image: the plan binds the target of every tag (distribution registry)', () => {
  const reg = () => registries().anon;
  const repo = (what: string) => `relay-it/bind-${what}-${randomBytes(4).toString('hex')}`;

  /** The repository as clients see it: every tag and the manifest it points at. */
  async function repoState(name: string): Promise<Record<string, string>> {
    const res = await fetch(`http://${reg()}/v2/${name}/tags/list`);
    const tags = res.status === 404 ? [] : (((await res.json()) as { tags?: string[] }).tags ?? []);
    const out: Record<string, string> = {};
    for (const t of tags.sort()) {
      const h = await fetch(`http://${reg()}/v2/${name}/manifests/${t}`, {
        method: 'HEAD',
        headers: { accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' },
      });
      out[t] = h.headers.get('docker-content-digest') ?? '';
    }
    return out;
  }

  const copyInputs = (source: string, destination: string, over: Record<string, unknown> = {}) =>
    ({
      source,
      destination,
      'require-signature': false,
      tags: ['release'],
      'immutable-tags': false,
      'dry-run': false,
      'insecure-registries': [],
      ...over,
    }) as Parameters<typeof copyImage.run>[0];

  async function refusedCopy(dst: string, run: (record: RunRecord) => Promise<unknown>): Promise<RunRecord> {
    const before = await repoState(dst);
    expect(Object.keys(before).length).toBeGreaterThan(0);
    const record = new RunRecord();
    const err = (await run(record).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(ConflictError);
    expect(exitCodeFor(err)).toBe(1);
    expect(err.message).toMatch(/^plan changed since it was approved/);
    expect(await repoState(dst)).toEqual(before);
    return record;
  }

  test('the source tag moved, or the destination tag moved, between plan and apply: refused, nothing written', async () => {
    const [one, two, three] = await Promise.all(
      ['one', 'two', 'three'].map((seed) =>
        makeOciImage({ layers: 1, layerSize: 4096, seed: seed + randomBytes(4).toString('hex'), tag: 'v1' }),
      ),
    );
    const src = repo('src');
    const dst = repo('dst');
    await pushImage(one!, `${reg()}/${src}:v1`);
    await pushImage(three!, `${reg()}/${dst}:release`);
    const source = `${reg()}/${src}:v1`;
    const destination = `${reg()}/${dst}`;
    const dry = await copyImage.run(copyInputs(source, destination, { 'dry-run': true }), ctx());
    const tagRow = dry.plan.find((r) => r.object.endsWith(':release'))!;
    expect(tagRow).toMatchObject({ action: 'replace', digest: one!.top.digest, observed: three!.top.digest });
    const approved = dry.outputs['plan-hash'] as string;

    // The source tag now names another image: the tag's target differs.
    await pushImage(two!, `${reg()}/${src}:v1`);
    const moved = await refusedCopy(dst, (r) => copyImage.run(copyInputs(source, destination, { 'expect-plan': approved }), ctx(r)));
    expect(moved.plan.find((r) => r.object.endsWith(':release'))).toMatchObject({ digest: two!.top.digest });

    // Back to the approved source, but the destination tag was moved by someone else: what the plan judged changed.
    await pushImage(one!, `${reg()}/${src}:v1`);
    await pushImage(two!, `${reg()}/${dst}:release`);
    const judged = await refusedCopy(dst, (r) => copyImage.run(copyInputs(source, destination, { 'expect-plan': approved }), ctx(r)));
    expect(judged.plan.find((r) => r.object.endsWith(':release'))).toMatchObject({ digest: one!.top.digest, observed: two!.top.digest });
  }, 240_000);
});
