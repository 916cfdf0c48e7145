// Recovery by hand is the pipeline: the runbook's `sops -d secrets | relay <operation> --release-file
// .relay/release.yml --environment <env> --secrets-file - --version X`, for publish (Ceph RGW, a YAML secrets
// file with the AWS keys), promotion (the file store, a JSON one) and mirror (a dotenv one with the registry
// password the mirror file names, for the Basic-auth registry); then `relay replay` of a publish that failed
// midway (the fault proxy refuses the commit point's write) and of a refused one on the file store, each
// finished under its plan hash, the registry verified, and a replay after the store changed showing the rows
// that differ and refusing the old hash. Run through a bundle built from these sources (what users run).
// Every secret is registered with the suite's secret scan, which checks all captured output.
import { beforeAll, describe, expect, test } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { planHash, type AuditRecord, type RunDocument } from '../../packages/core/src/index.js';
import { providerTarball, rsaKey, tmpDir } from '../../packages/core/test/fixtures.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { captured, secret, secretKey } from '../support/leaks.js';
import { makeOciImage, pushImage, remoteDigest } from '../support/oci-images.js';
import { makeBucket, registries, s3Client, s3sdk, s3Settings, type RegistrySettings } from '../support/servers.js';

const ROOT = path.resolve(new URL('../..', import.meta.url).pathname);
let CLI: string;
let work: string;
let signingKey: string;
let s3: ReturnType<typeof s3Settings>;
let reg: RegistrySettings;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  doc: RunDocument;
}

/** The CLI with `stdin` piped in (the decrypted secrets file), in `work`, with no AWS variables of its own. */
async function relay(args: string[], stdin?: string, env: Record<string, string> = {}): Promise<Run> {
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args, '--json'], {
      cwd: work,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
    p.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    if (stdin !== undefined) p.stdin!.end(stdin);
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

async function tarballs(version: string): Promise<void> {
  const dir = path.join(work, 'dist');
  await fs.mkdir(dir, { recursive: true });
  for (const os of ['linux', 'darwin'])
    await providerTarball(dir, 'demo', version, os, 'amd64', `${os} ${version} ${randomBytes(512).toString('base64')}`);
}

const yamlBlock = (key: string): string =>
  key
    .replace(/\n$/, '')
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');

async function bucketKeys(bucket: string): Promise<string[]> {
  const client = s3Client();
  try {
    const r = await client.send(new s3sdk.ListObjectsV2Command({ Bucket: bucket }));
    return (r.Contents ?? []).map((o) => o.Key!);
  } finally {
    client.destroy();
  }
}

async function auditIn(bucket: string): Promise<AuditRecord[]> {
  const client = s3Client();
  try {
    const keys = (await bucketKeys(bucket)).filter((k) => k.startsWith('audit/')).sort();
    return await Promise.all(
      keys.map(async (Key) => {
        const text = await (await client.send(new s3sdk.GetObjectCommand({ Bucket: bucket, Key }))).Body!.transformToString();
        captured(text);
        return JSON.parse(text) as AuditRecord;
      }),
    );
  } finally {
    client.destroy();
  }
}

async function auditInDir(dir: string): Promise<AuditRecord[]> {
  const files = (await fs.readdir(path.join(dir, 'audit'), { recursive: true })).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(files.map(async (f) => JSON.parse(await fs.readFile(path.join(dir, 'audit', f), 'utf8')) as AuditRecord));
}

beforeAll(async () => {
  s3 = s3Settings();
  reg = registries();
  secret(s3.accessKeyId);
  secret(s3.secretAccessKey);
  secret(reg.pass);
  signingKey = secretKey(await rsaKey());
  work = await tmpDir('relay-recovery-');
  CLI = path.join(work, 'bundle', 'cli.js');
  await promisify(execFile)(process.execPath, [path.join(ROOT, 'scripts/build-bundles.mjs'), '--out', path.join(work, 'bundle')]);
  await tarballs('1.0.0');
  await tarballs('1.1.0');
}, 300_000);

describe('the sops runbook: secrets on standard input, the rest from the release file', () => {
  let staging: string;

  test('publish to Ceph RGW: YAML secrets with the AWS keys; the run document says where each input came from', async () => {
    staging = await makeBucket('recovery-staging');
    await fs.writeFile(
      path.join(work, 'release.yml'),
      [
        'version: 1',
        'environments:',
        '  staging:',
        '    publish-terraform-registry:',
        '      namespace: acme',
        '      name: demo',
        '      tarballs: ["dist/terraform-provider-${name}-v${version}-*"]',
        `      store: s3://${staging}`,
        `      s3-endpoint: ${s3.endpoint}`,
        '      registry-url: https://staging.example.com',
        '      immutable: false',
        '      protocols: ["6.0"]',
        '      detect-protocols: "off"',
        '  production:',
        '    promote-terraform-provider:',
        '      namespace: acme',
        '      name: demo',
        '      from: file://stores/staging',
        '      store: file://stores/production',
        '      registry-url: https://terraform.example.com',
        '',
      ].join('\n'),
    );
    const secrets = [
      '# sops -d secrets.yaml',
      'signing-key: |',
      yamlBlock(signingKey),
      `AWS_ACCESS_KEY_ID: ${s3.accessKeyId}`,
      `AWS_SECRET_ACCESS_KEY: ${s3.secretAccessKey}`,
      'AWS_REGION: us-east-1',
      'sops:',
      '  version: 3.9.4',
      '',
    ].join('\n');
    const r = await relay(
      [
        'publish-terraform-registry',
        '--release-file',
        'release.yml',
        '--environment',
        'staging',
        '--secrets-file',
        '-',
        '--version',
        '1.0.0',
      ],
      secrets,
    );
    expect(r.stderr).not.toMatch(/^error/m);
    expect(r.doc).toMatchObject({ status: 'done', exitCode: 0, outputs: { version: '1.0.0', provider: 'staging.example.com/acme/demo' } });
    expect(r.doc.inputs).toMatchObject({
      version: { from: 'flag', value: '1.0.0' },
      store: { from: 'release-file release.yml:8 (staging)', value: `s3://${staging}` },
      tarballs: { from: 'release-file release.yml:7 (staging)', value: ['dist/terraform-provider-demo-v1.0.0-*'] },
      immutable: { from: 'release-file release.yml:11 (staging)', value: false },
      'signing-key': { from: 'secrets-file' },
    });
    expect(r.doc.inputs!['signing-key']!.value).toBeUndefined();
    expect(await bucketKeys(staging)).toContain('registry/acme/demo/versions');
    // A key the file should not hold: refused by name, nothing of its value shown.
    const stray = await relay(
      [
        'publish-terraform-registry',
        '--release-file',
        'release.yml',
        '--environment',
        'staging',
        '--secrets-file',
        '-',
        '--version',
        '1.0.0',
      ],
      `DOCKERHUB_TOKEN=${secret('dckr_pat_not-for-publish')}\n`,
    );
    expect(stray.code).toBe(2);
    expect(stray.stderr).toContain("'DOCKERHUB_TOKEN' is not an input of publish-terraform-registry");
  }, 180_000);

  test('promotion on the file store: a JSON secrets file; the same file, the production environment', async () => {
    // Staging on the file store too: a dotenv secrets file this time.
    const dotenv = `RELAY_SIGNING_KEY="${signingKey.replace(/\n/g, '\\n')}"\n`;
    const pub = await relay(
      [
        'publish-terraform-registry',
        '--release-file',
        'release.yml',
        '--environment',
        'staging',
        '--secrets-file',
        '-',
        '--version',
        '1.0.0',
        '--store',
        'file://stores/staging',
      ],
      dotenv,
      // As the pipeline's staging job, which runs on the tag: the build record names it, and promotion checks it.
      { GITHUB_REF: 'refs/tags/terraform-provider-demo-v1.0.0' },
    );
    expect(pub.doc).toMatchObject({ status: 'done' });
    expect(pub.doc.inputs!.store).toEqual({ from: 'flag', value: 'file://stores/staging' });
    const json = JSON.stringify({ 'signing-key': signingKey, sops: { version: '3.9.4' } });
    const r = await relay(
      [
        'promote-terraform-provider',
        '--release-file',
        'release.yml',
        '--environment',
        'production',
        '--secrets-file',
        '-',
        '--version',
        '1.0.0',
      ],
      json,
    );
    expect(r.stderr).not.toMatch(/^error/m);
    expect(r.doc).toMatchObject({ status: 'done', outputs: { version: '1.0.0', provider: 'terraform.example.com/acme/demo' } });
    expect(r.doc.inputs!.from).toEqual({ from: 'release-file release.yml:18 (production)', value: 'file://stores/staging' });
    const v = await relay([
      'verify-terraform-registry',
      '--store',
      'file://stores/production',
      '--registry-url',
      'https://terraform.example.com',
      '--namespace',
      'acme',
      '--name',
      'demo',
    ]);
    expect(v.doc).toMatchObject({ status: 'done', exitCode: 0 });
  }, 180_000);

  test('mirror: a dotenv secrets file with the Basic-auth registry password its mirror file names; a stray variable refused', async () => {
    const base = `recovery-${randomBytes(4).toString('hex')}`;
    const image = await makeOciImage({ tag: '2.0.0', seed: base });
    const source = `${reg.anon}/${base}/src`;
    await pushImage(image, `${source}:2.0.0`);
    await fs.writeFile(
      path.join(work, 'mirror.yml'),
      [
        'targets:',
        `  partner: { registry: "${reg.basic}", repository: "${base}/{name}", username-env: PARTNER_USER, password-env: PARTNER_PASS }`,
        'tiers:',
        '  gold: [partner]',
        'images:',
        `  - { name: app, source: "${source}", tier: gold, tags: ["2.0.0"] }`,
        '',
      ].join('\n'),
    );
    await fs.appendFile(path.join(work, 'release.yml'), '    mirror-artifact:\n      config: mirror.yml\n      version: ${version}\n');
    const args = [
      'mirror-artifact',
      '--release-file',
      'release.yml',
      '--environment',
      'production',
      '--secrets-file',
      '-',
      '--version',
      '2.0.0',
    ];
    const dotenv = `PARTNER_USER=${reg.user}\nexport PARTNER_PASS='${reg.pass}'\n`;
    const stray = await relay(args, `${dotenv}OTHER_TOKEN=${secret('not-named-anywhere-123')}\n`);
    expect(stray.code).toBe(1);
    expect(stray.stderr).toContain(
      "--secrets-file -: 'OTHER_TOKEN' is not an input, nor a variable Relay reads, nor one the mirror file mirror.yml names",
    );
    const r = await relay(args, dotenv);
    expect(r.stderr).not.toMatch(/^error/m);
    expect(r.doc).toMatchObject({ status: 'done', exitCode: 0 });
    expect(r.doc.inputs!.config).toEqual({ from: 'release-file release.yml:22 (production)', value: 'mirror.yml' });
    expect(await remoteDigest(`${reg.basic}/${base}/app:2.0.0`, `${reg.user}:${reg.pass}`)).toBe(image.top.digest);
  }, 180_000);
});

describe('replay of a failed run', () => {
  let proxy: FaultProxy;
  let bucket: string;
  const secrets = (): string =>
    [
      'signing-key: |',
      yamlBlock(signingKey),
      `AWS_ACCESS_KEY_ID: ${s3.accessKeyId}`,
      `AWS_SECRET_ACCESS_KEY: ${s3.secretAccessKey}`,
      '',
    ].join('\n');

  test('RGW: a publish the store refuses midway is replayed from its run document under its new plan hash; the registry verifies', async () => {
    bucket = await makeBucket('recovery-replay');
    proxy = await startFaultProxy(s3.endpoint);
    try {
      // The commit point is refused (403, not retried): the zips and documents are written, `versions` is not.
      proxy.inject({
        fault: { kind: 'status', status: 403, body: '<Error><Code>AccessDenied</Code></Error>' },
        method: 'PUT',
        path: /\/registry\/acme\/demo\/versions(\?|$)/,
        times: 100,
      });
      const args = [
        'publish-terraform-registry',
        '--namespace',
        'acme',
        '--name',
        'demo',
        '--version',
        '1.1.0',
        '--tarballs',
        'dist/terraform-provider-demo-v1.1.0-*',
        '--store',
        `s3://${bucket}`,
        '--s3-endpoint',
        proxy.url,
        '--registry-url',
        'https://replay.example.com',
        '--protocols',
        '6.0',
        '--detect-protocols',
        'off',
        '--secrets-file',
        '-',
      ];
      const failed = await relay(args, secrets(), {
        GITHUB_RUN_ID: '4242',
        GITHUB_REPOSITORY: 'acme/terraform-provider-demo',
        GITHUB_RUN_ATTEMPT: '1',
      });
      expect(failed.code).not.toBe(0);
      expect(failed.doc.error?.message).toContain('versions');
      // Midway: the zips and documents are in the store, the commit point is not.
      const written = await bucketKeys(bucket);
      expect(written.filter((k) => k.endsWith('.zip'))).toHaveLength(2);
      expect(written).not.toContain('registry/acme/demo/versions');
      expect(failed.doc.run).toMatchObject({ id: '4242' });
      const docFile = path.join(work, 'failed-run.json');
      await fs.writeFile(docFile, failed.stdout);
      proxy.reset();

      // A plan first: what is already written is now identical (skip), and it says so, with the hash to apply.
      const plan = await relay(['replay', docFile, '--secrets-file', '-'], secrets());
      expect(plan.doc).toMatchObject({ status: 'dry-run', exitCode: 0 });
      expect(plan.stderr).toMatch(/the plan differs from the failed run's \([0-9a-f]{64}\): 0 added, \d+ changed, 0 gone/);
      expect(plan.stderr).toMatch(/~ .*: was put \(.*\), now skip/);
      const hash = plan.doc.outputs['plan-hash'] as string;
      expect(plan.stderr).toContain(`--expect-plan ${hash}`);
      // The failed run's hash is refused: the plan changed; nothing is written.
      const old = await relay(['replay', docFile, '--secrets-file', '-', '--expect-plan', plan.doc.recovers!.planSha256], secrets());
      expect(old.code).toBe(1);
      expect(old.stderr).toContain('plan changed since it was approved');
      expect(await bucketKeys(bucket)).not.toContain('registry/acme/demo/versions');

      const done = await relay(['replay', docFile, '--secrets-file', '-', '--expect-plan', hash], secrets());
      expect(done.stderr).not.toMatch(/^error/m);
      expect(done.doc).toMatchObject({ status: 'done', exitCode: 0, outputs: { version: '1.1.0', 'plan-hash': hash } });
      const verify = await relay(
        [
          'verify-terraform-registry',
          '--store',
          `s3://${bucket}`,
          '--registry-url',
          'https://replay.example.com',
          '--namespace',
          'acme',
          '--name',
          'demo',
          '--secrets-file',
          '-',
        ],
        `AWS_ACCESS_KEY_ID=${s3.accessKeyId}\nAWS_SECRET_ACCESS_KEY=${s3.secretAccessKey}\nAWS_REGION=us-east-1\n`,
        { AWS_ENDPOINT_URL_S3: s3.endpoint },
      );
      expect(verify.doc).toMatchObject({ status: 'done', exitCode: 0 });
      const records = await auditIn(bucket);
      expect(records).toHaveLength(1); // the failed run wrote none: it never reached its commit point
      const [record] = records;
      expect(record).toMatchObject({
        operation: 'publish-terraform-registry',
        plan: { sha256: hash, approved: true },
        recovers: {
          operation: 'publish-terraform-registry',
          planSha256: planHash(failed.doc.plan),
          status: failed.doc.status,
          run: { id: '4242' },
        },
      });
    } finally {
      await proxy.close();
    }
  }, 300_000);

  test('file store: a refused run replayed under its own hash; after the store changed the replay shows the rows and refuses that hash', async () => {
    const store = 'file://stores/replay';
    const args = (version: string, more: string[]): string[] => [
      'publish-terraform-registry',
      '--namespace',
      'acme',
      '--name',
      'demo',
      '--version',
      version,
      '--tarballs',
      `dist/terraform-provider-demo-v${version}-*`,
      '--store',
      store,
      '--registry-url',
      'https://files.example.com',
      '--protocols',
      '6.0',
      '--detect-protocols',
      'off',
      '--secrets-file',
      '-',
      ...more,
    ];
    const key = `signing-key: |\n${yamlBlock(signingKey)}\n`;
    // Refused before any write: an approval for another plan.
    const refused = await relay(args('1.0.0', ['--expect-plan', 'f'.repeat(64)]), key);
    expect(refused.code).toBe(1);
    const docFile = path.join(work, 'refused-run.json');
    await fs.writeFile(docFile, refused.stdout);
    const plan = await relay(['replay', docFile, '--secrets-file', '-'], key);
    expect(plan.stderr).toContain("the plan is the failed run's");
    const own = plan.doc.recovers!.planSha256;
    expect(plan.doc.outputs['plan-hash']).toBe(own);

    // Meanwhile another version is published: the index documents change, so the old hash no longer holds.
    expect((await relay(args('1.1.0', []), key)).doc.status).toBe('done');
    const changed = await relay(['replay', docFile, '--secrets-file', '-'], key);
    expect(changed.stderr).toMatch(/the plan differs from the failed run's .*: \d+ added, [1-9]\d* changed, \d+ gone/s);
    const stale = await relay(['replay', docFile, '--secrets-file', '-', '--expect-plan', own], key);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain('plan changed since it was approved');
    const done = await relay(['replay', docFile, '--secrets-file', '-', '--expect-plan', changed.doc.outputs['plan-hash'] as string], key);
    expect(done.doc).toMatchObject({ status: 'done', outputs: { version: '1.0.0' } });
    const records = await auditInDir(path.join(work, 'stores/replay'));
    expect(records.find((r) => r.recovers)).toMatchObject({ recovers: { planSha256: own, status: 'refused' }, plan: { approved: true } });
    const v = await relay([
      'verify-terraform-registry',
      '--store',
      store,
      '--registry-url',
      'https://files.example.com',
      '--namespace',
      'acme',
      '--name',
      'demo',
    ]);
    expect(v.doc).toMatchObject({ status: 'done', exitCode: 0 });
  }, 300_000);
});
