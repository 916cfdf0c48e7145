// expect-plan: a writing run bound to the plan an approver saw (the dry run's
// plan-hash), refused before any write when what it would now do differs; and
// the audit record every write leaves (store, file), read back by verify.
import { beforeAll, describe, expect, jest, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { AUDIT_SCHEMA, parseApprovers, type AuditRecord } from '../../src/audit/record.js';
import { ConflictError, InputError, IntegrityError } from '../../src/errors.js';
import { defineSpec } from '../../src/inputs/spec.js';
import { NullLogger } from '../../src/log/logger.js';
import { defineOperation } from '../../src/operation.js';
import { planInputs, planOutputs } from '../../src/operations/common.js';
import { copyImage, publishTerraformRegistry, verifyTerraformRegistry } from '../../src/operations/index.js';
import type { PlanRow } from '../../src/report/plan.js';
import { planHash } from '../../src/report/plan-hash.js';
import { RunRecord } from '../../src/report/recorder.js';
import { VERSION } from '../../src/version.js';
import { providerTarball, rsaKey, snapshot, tmpDir } from '../fixtures.js';
import { makeFixture } from '../oci/fixtures.js';

// Waits on the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(30_000);

let key: string;
beforeAll(async () => {
  key = await rsaKey();
});

async function release(dir: string, version: string): Promise<string[]> {
  await fs.mkdir(path.join(dir, version), { recursive: true });
  return Promise.all(
    (['linux', 'darwin'] as const).map((os) =>
      providerTarball(path.join(dir, version), 'demo', version, os, 'amd64', `bin ${os} ${version}\n`),
    ),
  );
}

const publishInputs = (store: string, version: string, tarballs: string[], over: Record<string, unknown> = {}) =>
  ({
    namespace: 'acme',
    name: 'demo',
    version,
    tarballs,
    store: `file://${store}`,
    'registry-url': 'https://registry.example.com/',
    'signing-key': key,
    protocols: ['6.0'],
    'detect-protocols': 'off',
    immutable: true,
    'dry-run': false,
    ...over,
  }) as Parameters<typeof publishTerraformRegistry.run>[0];

const GITHUB_ENV = {
  GITHUB_ACTOR: 'release-bot',
  GITHUB_TRIGGERING_ACTOR: 'alice',
  GITHUB_WORKFLOW_REF: 'acme/terraform-provider-demo/.github/workflows/production.yml@refs/heads/main',
  GITHUB_WORKFLOW_SHA: 'f'.repeat(40),
  GITHUB_REF: 'refs/heads/main',
  GITHUB_SHA: 'e'.repeat(40),
  GITHUB_EVENT_NAME: 'workflow_dispatch',
  GITHUB_JOB: 'apply',
  GITHUB_SERVER_URL: 'https://github.com',
  GITHUB_REPOSITORY: 'acme/terraform-provider-demo',
  GITHUB_RUN_ID: '9876543210',
  GITHUB_RUN_ATTEMPT: '2',
  RELAY_APPROVERS: JSON.stringify([{ login: 'bob', state: 'approved', comment: 'ok', environments: ['production'] }]),
};

const ctx = (env: Record<string, string> = {}, record?: RunRecord) => ({
  log: new NullLogger(),
  env,
  cwd: '/',
  ...(record && { record }),
});

async function auditRecords(store: string): Promise<{ key: string; rec: AuditRecord }[]> {
  const dir = path.join(store, 'audit');
  const files = (await fs.readdir(dir, { recursive: true }).catch(() => [] as string[])).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(
    files.map(async (f) => ({ key: `audit/${f}`, rec: JSON.parse(await fs.readFile(path.join(dir, f), 'utf8')) as AuditRecord })),
  );
}

describe('expect-plan binds a publish to the approved plan', () => {
  test('plan (dry run: plan-hash), apply with it, the audit record of the apply; a no-op re-run records nothing', async () => {
    const dir = await tmpDir();
    const store = path.join(dir, 'reg');
    const tarballs = await release(dir, '1.0.0');

    // The plan job: the same workflow run and ref as the apply job, another job (and here another attempt): the build
    // record names the run, which the plan leaves out of what it binds; the ref and repository it records are bound.
    const planEnv = { ...GITHUB_ENV, GITHUB_JOB: 'plan', GITHUB_RUN_ATTEMPT: '1' };
    const plan = await publishTerraformRegistry.run(publishInputs(store, '1.0.0', tarballs, { 'dry-run': true }), ctx(planEnv));
    const hash = plan.outputs['plan-hash'] as string;
    expect(hash).toBe(planHash(plan.plan));
    expect(plan.report.sections.at(-1)).toEqual({
      heading: 'Plan hash',
      text: `${hash}: pass it as expect-plan to apply this plan and no other (the run refuses if what it would write has changed)`,
    });
    expect(await auditRecords(store)).toEqual([]); // a dry run writes nothing, records nothing

    const applied = await publishTerraformRegistry.run(publishInputs(store, '1.0.0', tarballs, { 'expect-plan': hash }), ctx(GITHUB_ENV));
    expect(applied.report.status).toBe('done');
    expect(applied.outputs['plan-hash']).toBe(hash);
    expect(applied.report.sections.find((s) => s.heading === 'Plan hash')).toEqual({
      heading: 'Plan hash',
      text: `${hash}: the approved plan (expect-plan)`,
    });

    const records = await auditRecords(store);
    expect(records).toHaveLength(1);
    const { key: auditKey, rec } = records[0]!;
    expect(auditKey).toMatch(/^audit\/\d{4}\/\d{2}\/\d{8}T\d{6}\.\d{3}Z-9876543210-2-[0-9a-f]{8}\.json$/);
    expect(auditKey.slice(6, 13)).toBe(rec.time.slice(0, 7).replace('-', '/'));
    expect(applied.report.sections.find((s) => s.heading === 'Audit record')).toEqual({
      heading: 'Audit record',
      text: `file://${store}/${auditKey}`,
    });
    expect(rec).toMatchObject({
      schema: AUDIT_SCHEMA,
      operation: 'publish-terraform-registry',
      tool: { name: 'relay', version: VERSION },
      subject: { provider: 'registry.example.com/acme/demo', version: '1.0.0' },
      who: {
        actor: 'release-bot',
        triggeringActor: 'alice',
        approvers: [{ login: 'bob', state: 'approved', comment: 'ok', environments: ['production'] }],
      },
      run: {
        repository: 'acme/terraform-provider-demo',
        workflowRef: GITHUB_ENV.GITHUB_WORKFLOW_REF,
        ref: 'refs/heads/main',
        event: 'workflow_dispatch',
        id: '9876543210',
        attempt: '2',
        url: 'https://github.com/acme/terraform-provider-demo/actions/runs/9876543210/attempts/2',
      },
      inputs: {
        namespace: 'acme',
        name: 'demo',
        version: '1.0.0',
        tarballs,
        'registry-url': 'https://registry.example.com/',
        immutable: true,
      },
      plan: { sha256: hash, approved: true },
    });
    expect(Date.now() - Date.parse(rec.time)).toBeLessThan(60_000);
    expect(rec.plan.rows).toEqual(applied.plan);
    expect(rec.plan.rows.every((r) => r.result === 'written')).toBe(true);
    expect(rec.outputs.hashes).toEqual(applied.outputs.hashes); // the zips' digests (zh) and h1 hashes
    expect(rec.outputs['plan-hash']).toBeUndefined(); // it is plan.sha256
    const text = JSON.stringify(rec);
    expect(text).not.toContain('PRIVATE KEY');
    expect(rec.inputs['signing-key']).toBeUndefined();
    expect(rec.inputs['expect-plan']).toBeUndefined();

    // Re-run: identical, nothing written, nothing recorded.
    const again = await publishTerraformRegistry.run(publishInputs(store, '1.0.0', tarballs), ctx(GITHUB_ENV));
    expect(again.report.status).toBe('no-op');
    expect(await auditRecords(store)).toHaveLength(1);
    expect(again.report.sections.find((s) => s.heading === 'Audit record')).toBeUndefined();
  });

  test('the store changed between plan and apply: refused before anything is written', async () => {
    const dir = await tmpDir();
    const store = path.join(dir, 'reg');
    await publishTerraformRegistry.run(publishInputs(store, '1.0.0', await release(dir, '1.0.0')), ctx());
    const tarballs = await release(dir, '1.1.0');
    const plan = await publishTerraformRegistry.run(publishInputs(store, '1.1.0', tarballs, { 'dry-run': true }), ctx());
    const approved = plan.outputs['plan-hash'] as string;

    // Meanwhile another version is published: `versions` now lists two, so the plan differs.
    await publishTerraformRegistry.run(publishInputs(store, '1.0.1', await release(dir, '1.0.1')), ctx());
    const before = await snapshot(store);
    const record = new RunRecord();
    const err = await publishTerraformRegistry
      .run(publishInputs(store, '1.1.0', tarballs, { 'expect-plan': approved }), ctx({}, record))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    const now = planHash(record.plan);
    expect(now).not.toBe(approved);
    expect((err as Error).message).toBe(
      `plan changed since it was approved: expected ${approved}, now ${now} (the files, the signing key, the store or a registry changed in between; run the plan again)`,
    );
    expect(await snapshot(store)).toEqual(before); // not even the conditional-write probe ran
    expect(record.plan.find((r) => r.object === 'registry/acme/demo/versions')).toMatchObject({ why: 'add 1.1.0 to 2 listed' });

    // A dry run with the stale hash says so too (a check that the apply would be refused); a fresh plan applies.
    await expect(
      publishTerraformRegistry.run(publishInputs(store, '1.1.0', tarballs, { 'dry-run': true, 'expect-plan': approved }), ctx()),
    ).rejects.toThrow(/plan changed since it was approved/);
    const fresh = await publishTerraformRegistry.run(
      publishInputs(store, '1.1.0', tarballs, { 'dry-run': true, 'expect-plan': now }),
      ctx(),
    );
    expect(fresh.outputs['plan-hash']).toBe(now);
    const done = await publishTerraformRegistry.run(
      publishInputs(store, '1.1.0', tarballs, { 'expect-plan': `sha256:${now.toUpperCase()}` }),
      ctx(),
    );
    expect(done.report.status).toBe('done');
  });

  test('expect-plan must be a sha256 plan hash', async () => {
    const dir = await tmpDir();
    for (const bad of ['abc', 'g'.repeat(64), 'sha512:' + 'a'.repeat(64)]) {
      const err = await publishTerraformRegistry
        .run(publishInputs(path.join(dir, 'reg'), '1.0.0', [], { 'expect-plan': bad }), ctx())
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toMatch(
        /^input 'expect-plan': expected the sha256 plan hash a dry run printed \(64 hex digits\), got "/,
      );
    }
  });
});

describe('the binding, for any writing operation', () => {
  const spec = defineSpec({
    name: 'stand-in-writer',
    description: 'A writing stand-in.',
    inputs: {
      approve: { description: 'whether it calls approve()', type: 'boolean', default: 'true' },
      late: { description: 'adds rows after approve()', type: 'boolean', default: 'false' },
      'dry-run': { description: 'dry run', type: 'boolean', default: 'false' },
      ...planInputs,
    },
    outputs: { ...planOutputs },
    branding: { icon: 'box', color: 'gray' },
  });
  const rows = (): PlanRow[] => [{ object: 'a', action: 'put', why: 'new' }];
  const op = defineOperation(spec, async (inp, c) => {
    const plan = rows();
    c.record!.addPlan(plan);
    if (inp.approve) c.record!.approve();
    if (inp.late) c.record!.addPlan([{ object: 'b', action: 'put', why: 'new' }]);
    if (!inp['dry-run']) for (const r of plan) r.result = 'written';
    return { outputs: {}, plan, report: { title: 't', status: inp['dry-run'] ? 'dry-run' : 'done', sections: [] } };
  });
  const run = (over: Partial<Parameters<typeof op.run>[0]>) =>
    op.run({ approve: true, late: false, 'dry-run': false, ...over }, { log: new NullLogger(), env: {}, cwd: '/' });

  test('the plan-hash output, with or without a record from the face', async () => {
    expect((await run({})).outputs['plan-hash']).toBe(planHash(rows()));
    expect((await run({ 'expect-plan': planHash(rows()) })).report.status).toBe('done');
    await expect(run({ 'expect-plan': 'a'.repeat(64) })).rejects.toBeInstanceOf(ConflictError);
  });

  test('an operation that writes without approve() while bound is a bug, loudly; unbound it is not checked', async () => {
    const err = await run({ approve: false, 'expect-plan': planHash(rows()) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(ConflictError);
    expect((err as Error).message).toBe('stand-in-writer did not check its plan against expect-plan before writing');
    expect((await run({ approve: false })).report.status).toBe('done');
  });

  test('rows added after approve() are a bug: the approved hash would not cover them', async () => {
    await expect(run({ late: true })).rejects.toThrow('stand-in-writer: plan rows added after the plan was approved');
  });
});

describe('audit records', () => {
  test('RELAY_APPROVERS: the approvals API JSON, a JSON list, or logins', () => {
    expect(parseApprovers(undefined)).toEqual([]);
    expect(parseApprovers(' ')).toEqual([]);
    expect(parseApprovers('alice, bob\ncarol')).toEqual([{ login: 'alice' }, { login: 'bob' }, { login: 'carol' }]);
    expect(parseApprovers('["alice","bob"]')).toEqual([{ login: 'alice' }, { login: 'bob' }]);
    expect(
      parseApprovers(
        JSON.stringify([
          { state: 'approved', comment: 'lgtm', user: { login: 'alice', id: 1 }, environments: [{ id: 7, name: 'production' }] },
          { state: 'rejected', comment: '', user: { login: 'mallory' }, environments: [] },
          { nonsense: true },
        ]),
      ),
    ).toEqual([
      { login: 'alice', state: 'approved', comment: 'lgtm', environments: ['production'] },
      { login: 'mallory', state: 'rejected' },
    ]);
  });

  test('an image operation writes its record to audit-file, once; by hand it names the local user and no run', async () => {
    const f = await makeFixture();
    const out = await tmpDir();
    const file = path.join(out, 'records', 'audit.json');
    const inputs = {
      source: `oci:${f.dir}:v1`,
      destination: `oci:${out}/image`,
      tags: [],
      'immutable-tags': false,
      'require-signature': false,
      'dry-run': false,
      'insecure-registries': [],
      'audit-file': file,
    } as Parameters<typeof copyImage.run>[0];
    const env = { USER: 'alice', RELAY_APPROVERS: 'bob' };
    const dry = await copyImage.run({ ...inputs, 'dry-run': true }, ctx(env));
    await expect(fs.stat(file)).rejects.toThrow(/ENOENT/);
    const res = await copyImage.run({ ...inputs, 'expect-plan': dry.outputs['plan-hash'] as string }, ctx(env));
    expect(res.report.status).toBe('done');
    const rec = JSON.parse(await fs.readFile(file, 'utf8')) as AuditRecord;
    expect(rec).toMatchObject({
      operation: 'copy-image',
      subject: { digest: f.index.digest, images: res.outputs.images },
      who: { actor: 'alice', approvers: [{ login: 'bob' }] },
      inputs: { source: `oci:${f.dir}:v1`, destination: `oci:${out}/image`, 'audit-file': file },
      plan: { sha256: dry.outputs['plan-hash'], approved: true },
    });
    expect(rec.run).toBeUndefined();
    expect(rec.plan.rows.some((r) => r.object.endsWith(`@${f.index.digest}`) && r.result === 'written')).toBe(true);
    expect(res.report.sections.find((s) => s.heading === 'Audit record')).toEqual({ heading: 'Audit record', text: file });

    // A no-op writes nothing and records nothing, so the existing file is left alone.
    const again = await copyImage.run(inputs, ctx(env));
    expect(again.report.status).toBe('no-op');
    // Something to write and the file exists: the record is never overwritten, and the run refuses before writing anything.
    const err = await copyImage.run({ ...inputs, destination: `oci:${out}/other` }, ctx(env)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toBe(`${file} exists (audit records are written once; give a new audit-file); nothing written`);
    await expect(fs.stat(path.join(out, 'other'))).rejects.toThrow(/ENOENT/);
    // Without audit-file, the report says there is none.
    const none = await copyImage.run({ ...inputs, destination: `oci:${out}/third`, 'audit-file': undefined }, ctx(env));
    expect(none.report.sections.find((s) => s.heading === 'Audit record')).toEqual({
      heading: 'Audit record',
      text: expect.stringMatching(/^none: no audit-file given/),
    });
  });

  test('secrets and credentials in inputs never reach the record', async () => {
    const spec = defineSpec({
      name: 'stand-in-audited',
      description: 'A writing stand-in that audits.',
      inputs: {
        source: { description: 'a URL' },
        token: { description: 'a secret', secret: true },
        note: { description: 'free text' },
        ...planInputs,
      },
      outputs: { ...planOutputs },
      branding: { icon: 'box', color: 'gray' },
    });
    const { audited } = await import('../../src/audit/write.js');
    const dir = await tmpDir();
    const op = defineOperation(spec, async (_inp, c) => {
      const plan = [{ object: 'x', action: 'put' as const, why: 'new', result: 'written' as const }];
      c.record!.addPlan(plan);
      c.record!.approve();
      return audited(c, { outputs: {}, plan, report: { title: 't', sections: [] } }, { file: path.join(dir, 'a.json') });
    });
    const log = new NullLogger();
    log.mask('tok-3n8fq9v2');
    await op.run(
      { source: 'https://user:hunter2hunter2@example.com/x?X-Amz-Signature=abcdef', token: 'tok-3n8fq9v2', note: 'mentions tok-3n8fq9v2' },
      { log, env: {}, cwd: '/' },
    );
    const text = await fs.readFile(path.join(dir, 'a.json'), 'utf8');
    expect(text).not.toContain('hunter2hunter2');
    expect(text).not.toContain('abcdef');
    expect(text).not.toContain('tok-3n8fq9v2');
    expect(JSON.parse(text).inputs).toEqual({ source: 'https://***@example.com/x?X-Amz-Signature=***', note: 'mentions ***' });
  });

  test('verify-terraform-registry fails on a version no record names, naming it; an unreadable record is a warning', async () => {
    const dir = await tmpDir();
    const store = path.join(dir, 'reg');
    for (const v of ['1.0.0', '1.1.0']) await publishTerraformRegistry.run(publishInputs(store, v, await release(dir, v)), ctx());
    const verify = (log = new NullLogger()) =>
      verifyTerraformRegistry.run(
        { 'registry-url': 'https://registry.example.com/', namespace: 'acme', name: 'demo', store: `file://${store}`, mirror: true },
        { log, env: {}, cwd: '/' },
      );
    const clean = await verify();
    expect(clean.report.sections.find((s) => s.heading === 'Audit records')).toEqual({
      heading: 'Audit records',
      text: 'every version checked has one (2 records under audit/)',
    });
    expect(clean.outputs['audit-chain']).toMatch(/^intact: 2 records, head audit\/.*\.json \(sha256 [0-9a-f]{64}\)$/);
    // A store whose records predate the chain (no audit-head.json, no `chain` in them): only 1.0.0 has one.
    const records = await auditRecords(store);
    // Records from before chaining (1.0.0's alone, unchained): the chain reads `no chain`, and 1.1.0 has none.
    const { chain: _chain, ...of10 } = records.find((r) => r.rec.subject.version === '1.0.0')!.rec;
    await fs.writeFile(path.join(store, 'audit', 'stray.json'), 'not json');
    const log = new NullLogger();
    expect((await verify(log)).report.status).toBe('done');
    expect(log.lines).toContain(`warning: file://${store}/audit/stray.json is not an audit record Relay can read`);
    await fs.rm(path.join(store, 'audit'), { recursive: true });
    await fs.rm(path.join(store, 'audit-head.json'));
    await fs.rm(path.join(store, 'audit-head.json.relay-gen'), { recursive: true, force: true });
    await fs.mkdir(path.join(store, 'audit', '2026'), { recursive: true });
    await fs.writeFile(path.join(store, 'audit', '2026', 'old.json'), JSON.stringify(of10));
    const err = await verify().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toBe(
      `file://${store}: no audit record under audit/ names acme/demo 1.1.0 (a publish stopped before recording it, or it was written without Relay; re-running that publish records it as a repair)`,
    );
    // Over HTTP the records cannot be listed: not checked, and the report says so.
  });
});
