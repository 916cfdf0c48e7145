// Provenance on file stores: every publish stores an SLSA provenance v1
// Statement next to the version and every promotion a promotion Statement;
// both validate against the published schemas (validate.ts), their subjects
// are the bytes the store serves, the audit record links them, a re-run keeps
// them, and verify-terraform-registry holds them against what is served.
import { beforeAll, describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { IntegrityError } from '../../src/errors.js';
import { NullLogger } from '../../src/log/logger.js';
import { promoteTerraformProvider, publishTerraformRegistry, verifyTerraformRegistry } from '../../src/operations/index.js';
import { LOCAL_BUILDER, PROMOTION_PREDICATE, PUBLISH_BUILD_TYPE } from '../../src/provenance/statement.js';
import { providerTarball, rsaKey, tmpDir } from '../fixtures.js';
import { statementErrors } from './validate.js';

let stagingKey: string;
let prodKey: string;
beforeAll(async () => {
  [stagingKey, prodKey] = await Promise.all([rsaKey(), rsaKey()]);
});

const TAG = 'refs/tags/terraform-provider-demo-v1.0.0';
const actions = (over: Record<string, string> = {}): Record<string, string> => ({
  GITHUB_SERVER_URL: 'https://github.com',
  GITHUB_REPOSITORY: 'acme/terraform-provider-demo',
  GITHUB_WORKFLOW_REF: `acme/terraform-provider-demo/.github/workflows/release.yml@${TAG}`,
  GITHUB_RUN_ID: '4242',
  GITHUB_RUN_ATTEMPT: '1',
  GITHUB_SHA: 'c0ffee'.padEnd(40, '0'),
  GITHUB_REF: TAG,
  ...over,
});
const ctx = (env: Record<string, string>) => ({ log: new NullLogger(), env, cwd: '/' });
const DIR = 'store/acme/demo/1.0.0/';
const PROVENANCE = `${DIR}relay-provenance.intoto.json`;
const PROMOTION = `${DIR}relay-promotion.intoto.json`;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
/** Statements and records as parsed JSON, untyped: the schemas check their shape, the expectations their values. */
const readJson = async (file: string) => JSON.parse(await fs.readFile(file, 'utf8'));
type Json = Awaited<ReturnType<typeof readJson>>;

async function tarballs(dir: string, build = 'a'): Promise<string[]> {
  return Promise.all(
    (
      [
        ['linux', 'amd64'],
        ['darwin', 'arm64'],
      ] as const
    ).map(([os_, arch]) => providerTarball(dir, 'demo', '1.0.0', os_, arch, `${os_} ${arch} build ${build}\n`)),
  );
}

const publish = (store: string, files: string[], env: Record<string, string>, over: Record<string, unknown> = {}) =>
  publishTerraformRegistry.run(
    {
      namespace: 'acme',
      name: 'demo',
      version: '1.0.0',
      tarballs: files,
      source: undefined,
      store: `file://${store}`,
      'registry-url': 'https://staging.example.com/',
      'signing-key': stagingKey,
      'signing-key-passphrase': undefined,
      protocols: ['6.0'],
      'detect-protocols': 'off',
      immutable: false,
      'dry-run': false,
      's3-endpoint': undefined,
      ...over,
    } as Parameters<typeof publishTerraformRegistry.run>[0],
    ctx(env),
  );

const promote = (from: string, store: string, env: Record<string, string>, over: Record<string, unknown> = {}) =>
  promoteTerraformProvider.run(
    {
      from: `file://${from}`,
      store: `file://${store}`,
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
    ctx(env),
  );

const verify = (store: string, url = 'https://staging.example.com/') =>
  verifyTerraformRegistry.run(
    {
      'registry-url': url,
      namespace: 'acme',
      name: 'demo',
      version: undefined,
      store: `file://${store}`,
      mirror: true,
      's3-endpoint': undefined,
    } as Parameters<typeof verifyTerraformRegistry.run>[0],
    ctx({}),
  );

/** Every file of the version the statement must name: the zips and SHA256SUMS, by sha256 of the stored bytes. */
async function servedFiles(store: string): Promise<{ name: string; sha256: string }[]> {
  const names = (await fs.readdir(path.join(store, DIR))).filter((n) => n.endsWith('.zip') || n.endsWith('_SHA256SUMS')).sort();
  return Promise.all(names.map(async (name) => ({ name, sha256: sha(await fs.readFile(path.join(store, DIR, name))) })));
}

async function auditRecords(store: string): Promise<Json[]> {
  const out: Json[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith('.json')) out.push(await readJson(p));
    }
  };
  await walk(path.join(store, 'audit'));
  return out;
}

describe('provenance of a publish', () => {
  test('an SLSA provenance v1 statement: schema-valid, subjects the stored bytes, archives as materials, the run as builder; linked from the audit record', async () => {
    const dir = await tmpDir();
    const store = path.join(dir, 'staging');
    const files = await tarballs(dir);
    const res = await publish(store, files, actions());
    const bytes = await fs.readFile(path.join(store, PROVENANCE));
    const st = JSON.parse(bytes.toString());
    expect(statementErrors(st, 'slsa')).toEqual([]);

    const served = await servedFiles(store);
    expect(served).toHaveLength(3);
    expect(st.subject).toEqual(served.map((f) => ({ name: f.name, digest: { sha256: f.sha256 } })));
    const def = st.predicate.buildDefinition;
    expect(def.buildType).toBe(PUBLISH_BUILD_TYPE);
    const archives = await Promise.all(files.map(async (f) => ({ name: path.basename(f), digest: { sha256: sha(await fs.readFile(f)) } })));
    expect(def.resolvedDependencies).toEqual([
      ...archives.sort((a, b) => a.name.localeCompare(b.name)),
      { uri: `git+https://github.com/acme/terraform-provider-demo@${TAG}`, digest: { gitCommit: actions().GITHUB_SHA } },
    ]);
    expect(def.externalParameters.provider).toEqual({ namespace: 'acme', name: 'demo', version: '1.0.0' });
    expect(def.externalParameters.workflow).toEqual({ repository: 'acme/terraform-provider-demo', ref: TAG });
    // the non-secret inputs only
    expect(def.externalParameters.inputs).toMatchObject({ namespace: 'acme', 'registry-url': 'https://staging.example.com/' });
    expect(Object.keys(def.externalParameters.inputs)).not.toContain('signing-key');
    expect(Object.keys(def.externalParameters.inputs)).not.toContain('dry-run');
    expect(st.predicate.runDetails.builder.id).toBe(`https://github.com/${actions().GITHUB_WORKFLOW_REF}`);
    expect(st.predicate.runDetails.metadata.invocationId).toBe(
      'https://github.com/acme/terraform-provider-demo/actions/runs/4242/attempts/1',
    );

    // outputs for GitHub's attestation step: sha256sum lines, and where the statement is
    expect(res.outputs.subjects).toEqual(served.map((f) => `${f.sha256}  ${f.name}`));
    expect(res.outputs.provenance).toBe(`file://${store}/${PROVENANCE}`);

    const [record] = await auditRecords(store);
    expect(record!.provenance).toEqual([{ key: PROVENANCE, sha256: sha(bytes), predicateType: 'https://slsa.dev/provenance/v1' }]);
  });

  test('a re-run of the same publish keeps the first statement; one by hand names this host as a local CLI builder', async () => {
    const dir = await tmpDir();
    const store = path.join(dir, 'staging');
    const files = await tarballs(dir);
    await publish(store, files, actions());
    const first = await fs.readFile(path.join(store, PROVENANCE));
    const again = await publish(store, files, actions({ GITHUB_RUN_ATTEMPT: '2' }));
    expect(again.report.status).toBe('no-op');
    expect(again.plan.find((r) => r.object === PROVENANCE)).toMatchObject({
      action: 'skip',
      why: 'same build already attested (https://github.com/acme/terraform-provider-demo/actions/runs/4242/attempts/1)',
    });
    expect(await fs.readFile(path.join(store, PROVENANCE))).toEqual(first);

    const local = path.join(dir, 'local');
    await publish(local, files, { USER: 'dev' });
    const st = await readJson(path.join(local, PROVENANCE));
    expect(statementErrors(st, 'slsa')).toEqual([]);
    expect(st.predicate.runDetails.builder.id).toBe(LOCAL_BUILDER);
    expect(st.predicate.runDetails.metadata.invocationId).toBe(`local:${os.hostname()}`);
    expect(st.predicate.buildDefinition.internalParameters.host).toBe(os.hostname());
    // the same archives give the same subjects wherever they are published
    expect(st.subject).toEqual(JSON.parse(first.toString()).subject);
  });
});

describe('provenance of a promotion', () => {
  test("production carries staging's statement unchanged and a promotion statement: digests from and to, approvers, the approved plan hash", async () => {
    const dir = await tmpDir();
    const staging = path.join(dir, 'staging');
    const prod = path.join(dir, 'prod');
    await publish(staging, await tarballs(dir), actions());
    const approvers = JSON.stringify([
      { user: { login: 'alice' }, state: 'approved', comment: 'ship it', environments: [{ name: 'production' }] },
    ]);
    const env = actions({ GITHUB_RUN_ID: '5000', RELAY_APPROVERS: approvers });
    const dry = await promote(staging, prod, env, { 'dry-run': true });
    const res = await promote(staging, prod, env, { 'expect-plan': dry.outputs['plan-hash'] });
    expect(res.outputs['plan-hash']).toBe(dry.outputs['plan-hash']);

    const staged = await fs.readFile(path.join(staging, PROVENANCE));
    expect(await fs.readFile(path.join(prod, PROVENANCE))).toEqual(staged);
    const bytes = await fs.readFile(path.join(prod, PROMOTION));
    const st = JSON.parse(bytes.toString());
    expect(statementErrors(st, 'in-toto')).toEqual([]);
    expect(st.predicateType).toBe(PROMOTION_PREDICATE);
    const served = await servedFiles(prod);
    expect(served).toEqual(await servedFiles(staging));
    expect(st.subject).toEqual(served.map((f) => ({ name: f.name, digest: { sha256: f.sha256 } })));
    const p = st.predicate;
    expect(p.from.location).toBe(`file://${staging}`);
    expect(p.to.location).toBe(`file://${prod}`);
    expect(p.from.artifacts.map((a: Json) => [a.name, a.digest.sha256])).toEqual(served.map((f) => [f.name, f.sha256]));
    expect(p.to.artifacts.map((a: Json) => a.uri)).toEqual(served.map((f) => `https://terraform.example.com/${DIR}${f.name}`));
    expect(p.approvers).toEqual([{ login: 'alice', state: 'approved', comment: 'ship it', environments: ['production'] }]);
    expect(p.plan).toEqual({ sha256: dry.outputs['plan-hash'], approved: true });
    expect(p.build).toEqual({ ref: TAG, provenance: { name: 'relay-provenance.intoto.json', digest: { sha256: sha(staged) } } });
    expect(p.promoter.invocationId).toBe('https://github.com/acme/terraform-provider-demo/actions/runs/5000/attempts/1');
    expect(res.outputs.promotion).toBe(`file://${prod}/${PROMOTION}`);

    const [record] = await auditRecords(prod);
    expect(record!.provenance).toEqual([
      { key: PROVENANCE, sha256: sha(staged), predicateType: 'https://slsa.dev/provenance/v1' },
      { key: PROMOTION, sha256: sha(bytes), predicateType: PROMOTION_PREDICATE },
    ]);

    // a re-run (another attempt, other approvers) keeps who approved the first
    const again = await promote(staging, prod, actions({ GITHUB_RUN_ID: '5000', GITHUB_RUN_ATTEMPT: '2', RELAY_APPROVERS: 'mallory' }));
    expect(again.report.status).toBe('no-op');
    expect(again.plan.find((r) => r.object === PROMOTION)?.why).toBe(
      'same promotion already recorded (https://github.com/acme/terraform-provider-demo/actions/runs/5000/attempts/1)',
    );
    expect(await fs.readFile(path.join(prod, PROMOTION))).toEqual(bytes);

    // the same bytes promoted again from another staging copy: production, write-once, keeps its first record
    const copy = path.join(dir, 'staging-copy');
    await fs.cp(staging, copy, { recursive: true });
    expect((await promote(copy, prod, actions({ GITHUB_RUN_ID: '6000' }))).report.status).toBe('no-op');
    expect(await fs.readFile(path.join(prod, PROMOTION))).toEqual(bytes);
  });

  test('a staging statement that no longer describes the files is refused before anything is written', async () => {
    const dir = await tmpDir();
    const staging = path.join(dir, 'staging');
    await publish(staging, await tarballs(dir), actions());
    const st = await readJson(path.join(staging, PROVENANCE));
    st.subject[0].digest.sha256 = 'f'.repeat(64);
    await fs.writeFile(path.join(staging, PROVENANCE), JSON.stringify(st));
    const err = await promote(staging, path.join(dir, 'prod'), actions()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toBe(
      `file://${staging}/${PROVENANCE}: ${st.subject[0].name} is served with sha256 ${(await servedFiles(staging))[0]!.sha256}, but the statement says ${'f'.repeat(64)}: it changed after it was attested`,
    );
    await expect(fs.stat(path.join(dir, 'prod'))).rejects.toThrow();
  });
});

describe('verify-terraform-registry and provenance', () => {
  test('reports each version as attested; one without a statement is named in unattested', async () => {
    const dir = await tmpDir();
    const store = path.join(dir, 'staging');
    await publish(store, await tarballs(dir), actions());
    const ok = await verify(store);
    expect(ok.outputs.unattested).toBe('');
    const section = ok.report.sections.find((s) => s.heading === 'Provenance');
    expect(section && 'table' in section && section.table.rows).toEqual([['1.0.0', 'present; its subjects are the files served', 'none']]);
    await fs.rm(path.join(store, PROVENANCE));
    expect((await verify(store)).outputs.unattested).toBe('1.0.0');
  });

  test('a zip replaced after publish (with a SHA256SUMS, signature and documents that agree) is an error naming the zip and both digests', async () => {
    const dir = await tmpDir();
    const store = path.join(dir, 'staging');
    const other = path.join(dir, 'other');
    await publish(store, await tarballs(dir), actions());
    const attested = await servedFiles(store);
    // Another build of the same version, published elsewhere with the same key; its files copied over the
    // first, every one but the statement: terraform init would accept the result.
    await fs.mkdir(path.join(dir, 'b'));
    await publish(other, await tarballs(path.join(dir, 'b'), 'b'), actions());
    for (const rel of [DIR, 'registry/acme/demo/1.0.0/download/', 'mirror/staging.example.com/acme/demo/1.0.0.json']) {
      await fs.cp(path.join(other, rel), path.join(store, rel), {
        recursive: true,
        filter: (src) => !src.endsWith('.intoto.json') && !src.endsWith('relay-build.json'),
      });
    }
    const now = await servedFiles(store);
    const err = await verify(store).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    const named = /: (terraform-provider-demo_1\.0\.0_\w+_\w+\.zip) is served/.exec((err as Error).message)?.[1];
    const digest = (l: { name: string; sha256: string }[]) => l.find((f) => f.name === named)!.sha256;
    expect(named).toBeDefined();
    expect(digest(now)).not.toBe(digest(attested));
    expect((err as Error).message).toBe(
      `https://staging.example.com/${PROVENANCE}: ${named} is served with sha256 ${digest(now)}, but the statement says ${digest(attested)}: it changed after it was attested`,
    );
    // only the statement tells: without it the registry verifies as terraform init would accept it
    await fs.rm(path.join(store, PROVENANCE));
    expect((await verify(store)).outputs.unattested).toBe('1.0.0');
  });
});
