// The sequence the reusable workflows run, driven through the CLI (the committed bundle, dist/cli.js) against
// the local servers, since workflows cannot run here: a tag publishes to staging; the production promotion
// plans (dry run; the plan job's own script computes the hash from the run document), is approved (nothing
// to do here: the hash is passed on, and RELAY_APPROVERS set as the workflow's approvers step sets it), and
// applies bound to that hash; a store changed between plan and apply is refused with nothing written; an image
// is promoted between two registries with copy-image, its audit record kept as the workflow keeps it; the
// promoted image is mirrored to its tier, and the drift check passes, then fails on a damaged mirror. The
// audit records are checked after every step.
import { beforeAll, describe, expect, jest, test } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { KEEP_REPORT_SCRIPT } from '../../packages/action-kit/src/workflows.js';
import type { AuditRecord, RunDocument } from '../../packages/core/src/index.js';
import { providerTarball, rsaKey, tmpDir } from '../../packages/core/test/fixtures.js';
import { captured, secret, secretKey } from '../support/leaks.js';
import { makeOciImage, pushImage, remoteDigest, type OciImage } from '../support/oci-images.js';
import { makeBucket, registries, s3Client, s3sdk, s3Settings, type RegistrySettings } from '../support/servers.js';

// Waits on servers, processes and the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(120_000);

const ROOT = path.resolve(new URL('../..', import.meta.url).pathname);
const CLI = path.join(ROOT, 'dist/cli.js');
const REPO = 'acme/terraform-provider-demo';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  doc: RunDocument;
}

let s3: ReturnType<typeof s3Settings>;
let reg: RegistrySettings;
let signingKey: string;
let work: string;
let staging: string;
let production: string;

/** The environment a job of the workflow gives Relay: the runner's GITHUB_* variables, the step's inputs as RELAY_*. */
function job(run: { id: string; job: string; workflow: string; ref: string; event: string; actor?: string }): Record<string, string> {
  return {
    GITHUB_ACTIONS: 'true',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_REPOSITORY: REPO,
    GITHUB_ACTOR: run.actor ?? 'release-bot',
    GITHUB_TRIGGERING_ACTOR: run.actor ?? 'release-bot',
    GITHUB_WORKFLOW_REF: `${REPO}/.github/workflows/${run.workflow}@${run.ref}`,
    GITHUB_WORKFLOW_SHA: 'c'.repeat(40),
    GITHUB_REF: run.ref,
    GITHUB_SHA: 'd'.repeat(40),
    GITHUB_EVENT_NAME: run.event,
    GITHUB_JOB: run.job,
    GITHUB_RUN_ID: run.id,
    GITHUB_RUN_ATTEMPT: '1',
  };
}

/** Runs the CLI with --json; the document it printed, whatever the outcome. */
async function relay(args: string[], env: Record<string, string>): Promise<Run> {
  const full = {
    PATH: process.env.PATH ?? '',
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    ...env,
  };
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args, '--json'], { env: full, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
  captured(r.stdout, r.stderr);
  let doc: RunDocument;
  try {
    doc = JSON.parse(r.stdout) as RunDocument;
  } catch {
    throw new Error(`no run document (exit ${r.code}):\n${r.stderr}`);
  }
  return { ...r, doc };
}

/**
 * The plan job's "Plan hash and run document" step, run as the workflow runs it, on the run document the
 * action would have left in RELAY_REPORT_FILE: its plan-hash output is what the apply job passes on.
 */
async function planJobHash(doc: RunDocument): Promise<{ hash: string; summary: string }> {
  const dir = await tmpDir('relay-e2e-job-');
  const file = path.join(dir, 'relay-report.json');
  await fs.writeFile(file, JSON.stringify(doc) + '\n');
  for (const f of ['out', 'summary', 'script']) await fs.writeFile(path.join(dir, f), f === 'script' ? KEEP_REPORT_SCRIPT : '');
  const r = spawnSync(process.execPath, [path.join(dir, 'script')], {
    env: {
      PATH: process.env.PATH ?? '',
      RELAY_REPORT_FILE: file,
      RELAY_STAGE: 'plan',
      RELAY_ENVIRONMENT: 'production',
      GITHUB_OUTPUT: path.join(dir, 'out'),
      GITHUB_STEP_SUMMARY: path.join(dir, 'summary'),
    },
    encoding: 'utf8',
  });
  expect(r.status).toBe(0);
  const out = await fs.readFile(path.join(dir, 'out'), 'utf8');
  const hash = /^plan-hash=([0-9a-f]{64})$/m.exec(out)![1]!;
  return { hash, summary: await fs.readFile(path.join(dir, 'summary'), 'utf8') };
}

/** What the approvers step of the apply job sets: GitHub's approvals of the run, as JSON. */
const APPROVED_BY_BOB = JSON.stringify([{ login: 'bob', state: 'approved', comment: 'tested in staging', environments: ['production'] }]);

async function tarballs(version: string, seed = 'a'): Promise<string[]> {
  const dir = path.join(work, `tgz-${version}-${seed}`);
  await fs.mkdir(dir, { recursive: true });
  return Promise.all(
    (['linux', 'darwin'] as const).map((os) =>
      providerTarball(dir, 'demo', version, os, 'amd64', `${seed} ${os} ${version} ${randomBytes(256).toString('base64')}`),
    ),
  );
}

const publish = (store: string, registryUrl: string, files: string[], more: string[] = []): string[] => [
  'publish-terraform-registry',
  '--namespace',
  'acme',
  '--name',
  'demo',
  '--store',
  store,
  '--registry-url',
  registryUrl,
  '--protocols',
  '6.0',
  '--detect-protocols',
  'off',
  ...files.flatMap((f) => ['--tarballs', f]),
  ...more,
];

/** Every key under the bucket with its ETag: what "nothing was written" is checked against. */
async function bucketState(bucket: string): Promise<Record<string, string>> {
  const client = s3Client();
  try {
    const out: Record<string, string> = {};
    let token: string | undefined;
    do {
      const r = await client.send(new s3sdk.ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      for (const o of r.Contents ?? []) out[o.Key!] = o.ETag!;
      token = r.NextContinuationToken;
    } while (token);
    return out;
  } finally {
    client.destroy();
  }
}

async function auditRecords(bucket: string): Promise<AuditRecord[]> {
  const keys = Object.keys(await bucketState(bucket))
    .filter((k) => k.startsWith('audit/'))
    .sort();
  const client = s3Client();
  try {
    return await Promise.all(
      keys.map(async (Key) => {
        expect(Key).toMatch(/^audit\/\d{4}\/\d{2}\/\d{8}T\d{6}\.\d{3}Z-\d+-1-[0-9a-f]{8}\.json$/);
        const r = await client.send(new s3sdk.GetObjectCommand({ Bucket: bucket, Key }));
        const text = await r.Body!.transformToString();
        captured(text);
        return JSON.parse(text) as AuditRecord;
      }),
    );
  } finally {
    client.destroy();
  }
}

beforeAll(async () => {
  s3 = s3Settings();
  reg = registries();
  secret(s3.secretAccessKey);
  signingKey = secretKey(await rsaKey());
  work = await tmpDir('relay-e2e-');
  staging = await makeBucket('e2e-staging');
  production = await makeBucket('e2e-production');
}, 60_000);

describe('a provider: tag to staging, then plan, approve, apply to production', () => {
  let release: string[];
  let approved: string;

  test('a terraform-provider-demo-v1.2.0 tag publishes to staging (mutable); a re-tagged candidate replaces it; one record each', async () => {
    release = await tarballs('1.2.0');
    const tag = 'refs/tags/terraform-provider-demo-v1.2.0';
    const env = { ...job({ id: '1001', job: 'apply', workflow: 'staging.yml', ref: tag, event: 'push' }), RELAY_SIGNING_KEY: signingKey };
    const args = publish(`s3://${staging}`, 'https://staging.example.com', release, ['--immutable', 'false']);
    const first = await relay(args, env);
    expect(first.doc).toMatchObject({
      status: 'done',
      exitCode: 0,
      outputs: { version: '1.2.0', provider: 'staging.example.com/acme/demo' },
    });

    let records = await auditRecords(staging);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      operation: 'publish-terraform-registry',
      subject: { provider: 'staging.example.com/acme/demo', version: '1.2.0' },
      who: { actor: 'release-bot', approvers: [] },
      run: { ref: tag, event: 'push', id: '1001', url: `https://github.com/${REPO}/actions/runs/1001/attempts/1` },
      inputs: { store: `s3://${staging}`, immutable: false, tarballs: release },
      plan: { sha256: first.doc.outputs['plan-hash'], approved: false },
    });
    expect(records[0]!.plan.rows.every((r) => r.action === 'put' && r.result === 'written')).toBe(true);

    // The candidate is re-tagged with other binaries: staging replaces it, and records that run too.
    const retagged = await tarballs('1.2.0', 'b');
    const second = await relay(publish(`s3://${staging}`, 'https://staging.example.com', retagged, ['--immutable', 'false']), {
      ...env,
      GITHUB_RUN_ID: '1002',
    });
    expect(second.doc.status).toBe('done');
    records = await auditRecords(staging);
    expect(records.map((r) => r.run?.id).sort()).toEqual(['1001', '1002']);
    const replaced = records.find((r) => r.run?.id === '1002')!.plan.rows.filter((r) => r.action === 'replace');
    expect(replaced.map((r) => r.object)).toEqual(expect.arrayContaining([expect.stringMatching(/_linux_amd64\.zip$/)]));
    release = retagged; // what staging now holds, and what production will get
  }, 120_000);

  test('plan: a dry run of the production publish; the plan job computes the same hash from the run document; nothing written', async () => {
    const env = {
      ...job({ id: '2001', job: 'plan', workflow: 'production.yml', ref: 'refs/heads/main', event: 'workflow_dispatch', actor: 'alice' }),
      RELAY_SIGNING_KEY: signingKey,
    };
    const plan = await relay(
      publish(`s3://${production}`, 'https://registry.example.com', release, ['--version', '1.2.0', '--dry-run']),
      env,
    );
    expect(plan.doc).toMatchObject({ status: 'dry-run', exitCode: 0 });
    const { hash, summary } = await planJobHash(plan.doc);
    expect(hash).toBe(plan.doc.outputs['plan-hash']);
    expect(summary).toContain(`\`${hash}\``);
    expect(await bucketState(production)).toEqual({});
    approved = hash;
  }, 60_000);

  test('approve, then apply bound to the approved plan: published, with a record naming the approver and the plan', async () => {
    const env = {
      ...job({ id: '2001', job: 'apply', workflow: 'production.yml', ref: 'refs/heads/main', event: 'workflow_dispatch', actor: 'alice' }),
      RELAY_SIGNING_KEY: signingKey,
      RELAY_APPROVERS: APPROVED_BY_BOB,
    };
    const apply = await relay(
      publish(`s3://${production}`, 'https://registry.example.com', release, ['--version', '1.2.0', '--expect-plan', approved]),
      env,
    );
    expect(apply.stderr).not.toMatch(/^error/m);
    expect(apply.doc).toMatchObject({ status: 'done', exitCode: 0, outputs: { version: '1.2.0', 'plan-hash': approved } });

    const records = await auditRecords(production);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      subject: { provider: 'registry.example.com/acme/demo', version: '1.2.0' },
      who: { actor: 'alice', approvers: [{ login: 'bob', state: 'approved', comment: 'tested in staging', environments: ['production'] }] },
      run: { id: '2001', job: 'apply', workflowRef: `${REPO}/.github/workflows/production.yml@refs/heads/main` },
      plan: { sha256: approved, approved: true },
      outputs: { hashes: apply.doc.outputs.hashes },
    });
    expect(JSON.stringify(records[0])).not.toContain(signingKey.split('\n')[3]!);

    const verify = await relay(
      [
        'verify-terraform-registry',
        '--registry-url',
        'https://registry.example.com',
        '--namespace',
        'acme',
        '--name',
        'demo',
        '--store',
        `s3://${production}`,
      ],
      {},
    );
    expect(verify.doc).toMatchObject({ status: 'done', outputs: { versions: '1.2.0' } });
  }, 60_000);

  test('the store changes between plan and apply (another version lands): the apply is refused, nothing written; a new plan applies', async () => {
    const next = await tarballs('1.3.0');
    const planEnv = {
      ...job({ id: '2002', job: 'plan', workflow: 'production.yml', ref: 'refs/heads/main', event: 'workflow_dispatch', actor: 'alice' }),
      RELAY_SIGNING_KEY: signingKey,
    };
    const plan = await relay(
      publish(`s3://${production}`, 'https://registry.example.com', next, ['--version', '1.3.0', '--dry-run']),
      planEnv,
    );
    const { hash: stale } = await planJobHash(plan.doc);

    // While the approval waits, another promotion lands: the versions index the plan was made against moves.
    const other = await relay(
      publish(`s3://${production}`, 'https://registry.example.com', await tarballs('1.2.1'), ['--version', '1.2.1']),
      {
        ...job({ id: '2100', job: 'apply', workflow: 'production.yml', ref: 'refs/heads/main', event: 'workflow_dispatch' }),
        RELAY_SIGNING_KEY: signingKey,
      },
    );
    expect(other.doc.status).toBe('done');
    expect((await auditRecords(production)).map((r) => r.subject.version).sort()).toEqual(['1.2.0', '1.2.1']);

    const before = await bucketState(production);
    const applyEnv = { ...planEnv, GITHUB_JOB: 'apply', RELAY_APPROVERS: APPROVED_BY_BOB };
    const refused = await relay(
      publish(`s3://${production}`, 'https://registry.example.com', next, ['--version', '1.3.0', '--expect-plan', stale]),
      applyEnv,
    );
    expect(refused.code).toBe(1);
    expect(refused.doc).toMatchObject({ status: 'refused', exitCode: 1, error: { kind: 'conflict' } });
    expect(refused.doc.error!.message).toMatch(
      new RegExp(
        `^plan changed since it was approved: expected ${stale}, now [0-9a-f]{64} \\(the files, the signing key, the store or a registry changed in between; run the plan again\\)$`,
      ),
    );
    expect(
      refused.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('error:')),
    ).toEqual([`error: ${refused.doc.error!.message}`]);
    // The plan it refused is in the run document; the store is exactly as before (no object, no probe, no record).
    expect(refused.doc.plan.find((r) => r.object === 'registry/acme/demo/versions')).toMatchObject({ why: 'add 1.3.0 to 2 listed' });
    expect(await bucketState(production)).toEqual(before);

    // The release engineer plans again, and that plan is approved and applied.
    const again = await relay(
      publish(`s3://${production}`, 'https://registry.example.com', next, ['--version', '1.3.0', '--dry-run']),
      planEnv,
    );
    const { hash: fresh } = await planJobHash(again.doc);
    expect(fresh).not.toBe(stale);
    const applied = await relay(
      publish(`s3://${production}`, 'https://registry.example.com', next, ['--version', '1.3.0', '--expect-plan', fresh]),
      applyEnv,
    );
    expect(applied.doc.status).toBe('done');
    const records = await auditRecords(production);
    expect(records.map((r) => r.subject.version).sort()).toEqual(['1.2.0', '1.2.1', '1.3.0']);
    expect(records.find((r) => r.subject.version === '1.3.0')!.plan).toMatchObject({ sha256: fresh, approved: true });
  }, 120_000);

  test('staging and production verify, every version with its record', async () => {
    for (const [bucket, url, versions] of [
      [staging, 'https://staging.example.com', '1.2.0'],
      [production, 'https://registry.example.com', '1.2.0 1.2.1 1.3.0'],
    ] as const) {
      const v = await relay(
        ['verify-terraform-registry', '--registry-url', url, '--namespace', 'acme', '--name', 'demo', '--store', `s3://${bucket}`],
        {},
      );
      expect(v.doc).toMatchObject({ status: 'done', outputs: { versions } });
    }
  }, 60_000);
});

/** The image promoted below, and where to: the mirror steps start from it. */
let image: OciImage;
let src: string;
let dst: string;

describe('an image: promotion between two registries with copy-image (promote-ecr-image needs ECR)', () => {
  const creds = (): Record<string, string> => ({ RELAY_SOURCE_USERNAME: reg.user, RELAY_SOURCE_PASSWORD: secret(reg.pass) });

  beforeAll(async () => {
    const name = `e2e/app-${randomBytes(4).toString('hex')}`;
    image = await makeOciImage({ tag: '1.4.0', platforms: ['linux/amd64', 'linux/arm64'], seed: name });
    src = `${reg.basic}/${name}:1.4.0`;
    dst = `${reg.anon}/${name}`;
    await pushImage(image, src, `${reg.user}:${reg.pass}`);
  }, 60_000);

  test('plan, approve, apply with expect-plan; the audit record the workflow uploads names the digest, the approver and the plan', async () => {
    const planEnv = {
      ...job({ id: '3001', job: 'plan', workflow: 'images.yml', ref: 'refs/heads/main', event: 'workflow_dispatch' }),
      ...creds(),
    };
    const plan = await relay(['copy-image', src, dst, '--tags', '1.4.0', '--tags', 'latest', '--dry-run'], planEnv);
    expect(plan.doc).toMatchObject({ status: 'dry-run', exitCode: 0 });
    const { hash } = await planJobHash(plan.doc);
    expect(hash).toBe(plan.doc.outputs['plan-hash']);

    const auditFile = path.join(await tmpDir('relay-e2e-runner-temp-'), 'relay-audit.json');
    const applyEnv = { ...planEnv, GITHUB_JOB: 'apply', RELAY_APPROVERS: APPROVED_BY_BOB, RELAY_AUDIT_FILE: auditFile };
    const apply = await relay(['copy-image', src, dst, '--tags', '1.4.0', '--tags', 'latest', '--expect-plan', hash], applyEnv);
    expect(apply.stderr).not.toMatch(/^error/m);
    expect(apply.doc).toMatchObject({ status: 'done', outputs: { digest: image.top.digest, 'plan-hash': hash } });
    expect(await remoteDigest(`${dst}:1.4.0`)).toBe(image.top.digest);
    expect(await remoteDigest(`${dst}:latest`)).toBe(image.top.digest);

    const text = await fs.readFile(auditFile, 'utf8');
    captured(text);
    expect(text).not.toContain(reg.pass);
    const rec = JSON.parse(text) as AuditRecord;
    expect(rec).toMatchObject({
      operation: 'copy-image',
      subject: {
        digest: image.top.digest,
        images: [`${dst}:1.4.0@${image.top.digest}`, `${dst}:latest@${image.top.digest}`, `${dst}@${image.top.digest}`],
      },
      who: { approvers: [{ login: 'bob' }] },
      run: { id: '3001', job: 'apply' },
      inputs: { source: src, destination: dst, tags: ['1.4.0', 'latest'], 'source-username': reg.user, 'audit-file': auditFile },
      plan: { sha256: hash, approved: true },
    });
    expect(rec.plan.rows.filter((r) => r.object.startsWith(`${dst}:`)).map((r) => [r.object, r.result])).toEqual([
      [`${dst}:1.4.0`, 'written'],
      [`${dst}:latest`, 'written'],
    ]);

    // The same promotion again: a no-op writes nothing and records nothing (the workflow uploads no file).
    const noopFile = path.join(path.dirname(auditFile), 'again.json');
    const again = await relay(['copy-image', src, dst, '--tags', '1.4.0', '--tags', 'latest'], { ...applyEnv, RELAY_AUDIT_FILE: noopFile });
    expect(again.doc.status).toBe('no-op');
    await expect(fs.access(noopFile)).rejects.toThrow();
  }, 120_000);

  test('the destination changes between plan and apply (someone moves the tag): refused, the tag left where they put it', async () => {
    const next = await makeOciImage({ tag: '1.5.0', seed: `${src}-next` });
    const nextSrc = src.replace(/:1\.4\.0$/, ':1.5.0');
    await pushImage(next, nextSrc, `${reg.user}:${reg.pass}`);
    const env = {
      ...job({ id: '3002', job: 'plan', workflow: 'images.yml', ref: 'refs/heads/main', event: 'workflow_dispatch' }),
      ...creds(),
    };
    const plan = await relay(['copy-image', nextSrc, `${dst}:1.5.0`, '--dry-run'], env);
    const { hash } = await planJobHash(plan.doc);

    const intruder = await makeOciImage({ tag: 'x', seed: `${src}-intruder` });
    await pushImage(intruder, `${dst}:1.5.0`);
    const auditFile = path.join(await tmpDir('relay-e2e-runner-temp-'), 'relay-audit.json');
    const refused = await relay(['copy-image', nextSrc, `${dst}:1.5.0`, '--expect-plan', hash], {
      ...env,
      GITHUB_JOB: 'apply',
      RELAY_AUDIT_FILE: auditFile,
    });
    expect(refused.code).toBe(1);
    expect(refused.doc.error).toMatchObject({
      kind: 'conflict',
      message: expect.stringMatching(/^plan changed since it was approved: expected /),
    });
    expect(await remoteDigest(`${dst}:1.5.0`)).toBe(intruder.top.digest);
    await expect(fs.access(auditFile)).rejects.toThrow();
  }, 120_000);
});

// The mirror steps of reusable-promote-image.yml and the nightly reusable-drift-check.yml: the promoted image
// mirrored to its tier (plan, apply bound to it, audit record), the drift check clean, then a damaged mirror
// failing it.
describe('mirrors: the promoted image to its tier, then the drift check', () => {
  let config: string;
  let partner: string;
  let pub: string;
  const env = (): Record<string, string> => ({ MIRROR_USER: reg.user, MIRROR_PASS: secret(reg.pass) });
  const mirror = (more: string[]): string[] => ['mirror-artifact', config, '--version', '1.4.0', '--tiers', 'gold', ...more];

  beforeAll(async () => {
    const base = `e2e-mirror-${randomBytes(4).toString('hex')}`;
    partner = `${reg.basic}/${base}/app`;
    pub = `${reg.anon}/${base}/app`;
    config = path.join(await tmpDir('relay-e2e-mirror-'), 'mirrors.yaml');
    await fs.writeFile(
      config,
      [
        'targets:',
        `  partner: { registry: "${reg.basic}", repository: "${base}/{name}", username-env: MIRROR_USER, password-env: MIRROR_PASS }`,
        `  public: { registry: "${reg.anon}", repository: "${base}/{name}" }`,
        'tiers:',
        '  gold: [partner, public]',
        'images:',
        `  - { name: app, source: "${dst}", tier: gold, tags: ["1.4.0"] }`,
        '',
      ].join('\n'),
    );
  });

  test('sync: plan, apply bound to it; every mirror holds the promoted digest; the audit record names them', async () => {
    const job1 = job({ id: '3001', job: 'mirror', workflow: 'images.yml', ref: 'refs/heads/main', event: 'workflow_dispatch' });
    const plan = await relay(mirror(['--dry-run']), { ...job1, ...env() });
    expect(plan.doc.error).toBeUndefined();
    expect(plan.doc).toMatchObject({ status: 'dry-run', exitCode: 0 });
    const { hash } = await planJobHash(plan.doc);
    expect(hash).toBe(plan.doc.outputs['plan-hash']);

    const auditFile = path.join(await tmpDir('relay-e2e-runner-temp-'), 'relay-audit.json');
    const apply = await relay(mirror(['--expect-plan', hash]), { ...job1, ...env(), RELAY_AUDIT_FILE: auditFile });
    expect(apply.stderr).not.toMatch(/^error/m);
    expect(apply.doc).toMatchObject({ status: 'done', exitCode: 0, outputs: { 'plan-hash': hash } });
    expect(await remoteDigest(`${partner}:1.4.0`, `${reg.user}:${reg.pass}`)).toBe(image.top.digest);
    expect(await remoteDigest(`${pub}:1.4.0`)).toBe(image.top.digest);

    const text = await fs.readFile(auditFile, 'utf8');
    captured(text);
    expect(text).not.toContain(reg.pass);
    const rec = JSON.parse(text) as AuditRecord;
    expect(rec).toMatchObject({ operation: 'mirror-artifact', run: { id: '3001', job: 'mirror' }, plan: { sha256: hash, approved: true } });
    expect(rec.plan.rows.filter((r) => r.result === 'written').map((r) => r.object)).toEqual(
      expect.arrayContaining([expect.stringContaining(`${reg.basic}/`), expect.stringContaining(`${reg.anon}/`)]),
    );
  }, 120_000);

  test('the drift check: clean (exit 0), then a mirror whose tag was moved fails it (exit 4) and names it', async () => {
    const nightly = job({ id: '4001', job: 'check', workflow: 'mirror-drift.yml', ref: 'refs/heads/main', event: 'schedule' });
    const clean = await relay(mirror(['--mode', 'check']), { ...nightly, ...env() });
    expect(clean.doc).toMatchObject({ status: 'done', exitCode: 0 });

    const other = await makeOciImage({ tag: '1.4.0', seed: `${pub}-tampered` });
    await pushImage(other, `${pub}:1.4.0`);
    const drift = await relay(mirror(['--mode', 'check']), { ...nightly, ...env() });
    expect(drift.code).toBe(4);
    expect(drift.doc).toMatchObject({ status: 'drift', exitCode: 4 });
    expect(JSON.stringify(drift.doc.outputs.results)).toContain('moved');
  }, 120_000);
});
