// promote-terraform-provider between two Ceph RGW buckets, staging and
// production, each signed by its own GnuPG key; judged by outside clients:
// gpg verifies production's signature, and the real terraform (v1.11, at
// /usr/local/bin/terraform) installs the promoted provider from a loopback
// server over the production bucket and writes the lock file, whose hashes
// must be staging's. `terraform providers lock` for every platform must write
// exactly Relay's `lock-hashes`.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';
import {
  ConflictError,
  IntegrityError,
  NullLogger,
  promoteTerraformProvider,
  publishTerraformRegistry,
  verifyTerraformRegistry,
} from '../../packages/core/src/index.js';
import { statementErrors } from '../../packages/core/test/provenance/validate.js';
import { providerTarball, tmpDir } from '../../packages/core/test/fixtures.js';
import { GpgHome, verifyDetached } from '../support/gpg.js';
import { captured, secret, secretKey } from '../support/leaks.js';
import { makeBucket, s3Client, s3sdk, s3Settings } from '../support/servers.js';

// Waits on servers, processes and the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(120_000);

const run = promisify(execFile);
const TERRAFORM = '/usr/local/bin/terraform';
const STAGING_URL = 'https://terraform-staging.example.com/';
const PROD_HOST = 'terraform.example.com';
const PROD_URL = `https://${PROD_HOST}/`;
const TAG = 'refs/tags/terraform-provider-demo-v1.4.0';
const PLATFORMS = [
  ['linux', 'amd64'],
  ['linux', 'arm64'],
  ['darwin', 'arm64'],
  ['windows', 'amd64'],
] as const;

let gpg: GpgHome;
const keys = { staging: { secret: '', public: '' }, prod: { secret: '', public: '' } };
let s3: ReturnType<typeof s3Settings>;

beforeAll(async () => {
  s3 = s3Settings();
  process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
  process.env.AWS_REGION = 'us-east-1';
  gpg = await GpgHome.create();
  for (const which of ['staging', 'prod'] as const) {
    const k = await gpg.generateKey({ uid: `Relay ${which} <relay-${which}@example.invalid>`, passphrase: secret(`pass ${which} horse`) });
    keys[which].secret = secretKey(await gpg.exportSecretKey(k.fingerprint, k.passphrase));
    keys[which].public = await gpg.exportPublicKey(k.fingerprint);
  }
}, 90_000);
afterAll(async () => {
  await gpg?.cleanup();
});

const ctx = (env: Record<string, string> = {}) => ({ log: new NullLogger(), env, cwd: '/' });
const actions = (ref = TAG) => ({
  GITHUB_REF: ref,
  GITHUB_REPOSITORY: 'acme/terraform-provider-demo',
  GITHUB_RUN_ID: '1001',
  GITHUB_RUN_ATTEMPT: '1',
  GITHUB_WORKFLOW_REF: 'acme/terraform-provider-demo/.github/workflows/staging.yml@' + ref,
});

async function tarballs(build: string): Promise<string[]> {
  const dir = await tmpDir();
  return Promise.all(
    PLATFORMS.map(([os, arch]) =>
      providerTarball(dir, 'demo', '1.4.0', os, arch, `#!/bin/sh\n# demo provider ${os}/${arch}, build ${build}\n`),
    ),
  );
}

async function stage(bucket: string, files: string[], ref = TAG) {
  const res = await publishTerraformRegistry.run(
    {
      namespace: 'acme',
      name: 'demo',
      version: '1.4.0',
      tarballs: files,
      source: undefined,
      store: `s3://${bucket}`,
      'registry-url': STAGING_URL,
      'signing-key': keys.staging.secret,
      'signing-key-passphrase': 'pass staging horse',
      protocols: ['6.0'],
      'detect-protocols': 'off',
      'max-binary-size': 1024,
      immutable: false,
      'dry-run': false,
      's3-endpoint': s3.endpoint,
    },
    ctx(actions(ref)),
  );
  captured(JSON.stringify(res));
  return res;
}

async function promote(from: string, to: string, over: Record<string, unknown> = {}) {
  const res = await promoteTerraformProvider.run(
    {
      from: `s3://${from}`,
      store: `s3://${to}`,
      'registry-url': PROD_URL,
      namespace: 'acme',
      name: 'demo',
      version: '1.4.0',
      'signing-key': keys.prod.secret,
      'signing-key-passphrase': 'pass prod horse',
      'expect-ref': undefined,
      immutable: true,
      'dry-run': false,
      's3-endpoint': s3.endpoint,
      ...over,
    } as Parameters<typeof promoteTerraformProvider.run>[0],
    ctx(),
  );
  captured(JSON.stringify(res));
  return res;
}

async function get(bucket: string, key: string): Promise<Buffer> {
  const c = s3Client();
  try {
    const r = await c.send(new s3sdk.GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await r.Body!.transformToByteArray());
  } finally {
    c.destroy();
  }
}
async function put(bucket: string, key: string, body: Buffer): Promise<void> {
  const c = s3Client();
  try {
    await c.send(new s3sdk.PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  } finally {
    c.destroy();
  }
}
/** Every key with its ETag: proves a refused promotion changed nothing. */
async function listing(bucket: string): Promise<Record<string, string>> {
  const c = s3Client();
  try {
    const out: Record<string, string> = {};
    let token: string | undefined;
    do {
      const r = await c.send(new s3sdk.ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      for (const o of r.Contents ?? []) out[o.Key!] = o.ETag!;
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out;
  } finally {
    c.destroy();
  }
}

/** A loopback server over a bucket, as a CDN would serve it: GET /<key> with the stored Content-Type, 404 when absent. */
async function serveBucket(bucket: string): Promise<{ url: string; close: () => Promise<void>; hits: string[] }> {
  const c = s3Client();
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    const key = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '');
    hits.push(key);
    c.send(new s3sdk.GetObjectCommand({ Bucket: bucket, Key: key })).then(
      async (r) => {
        const body = Buffer.from(await r.Body!.transformToByteArray());
        res.writeHead(200, { 'content-type': r.ContentType ?? 'application/octet-stream', 'content-length': body.length });
        res.end(body);
      },
      (e: { $metadata?: { httpStatusCode?: number } }) => {
        res.writeHead(e.$metadata?.httpStatusCode === 404 ? 404 : 502);
        res.end();
      },
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    hits,
    close: () => new Promise<void>((r) => server.close(() => (c.destroy(), r()))),
  };
}

/** Lock-file hashes of one provider block, in file order. */
function lockFileHashes(text: string): string[] {
  return [...text.matchAll(/"((?:h1|zh):[^"]+)"/g)].map((m) => m[1]!);
}

/** terraform with a CLI config file in a fresh home; no checkpoint calls, no plugin cache. */
async function terraform(dir: string, cliConfig: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  await fs.writeFile(path.join(dir, 'cli.tfrc'), cliConfig);
  return run(TERRAFORM, args, {
    cwd: dir,
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      TF_CLI_CONFIG_FILE: path.join(dir, 'cli.tfrc'),
      CHECKPOINT_DISABLE: '1',
      TF_IN_AUTOMATION: '1',
      ...(process.env.SSL_CERT_FILE_FOR_TERRAFORM ? { SSL_CERT_FILE: process.env.SSL_CERT_FILE_FOR_TERRAFORM } : {}),
    },
    timeout: 120_000,
  });
}

const hostBlock = (url: string) => `host "${PROD_HOST}" {\n  services = {\n    "providers.v1" = "${url}registry/"\n  }\n}\n`;
const mainTf = `terraform {\n  required_providers {\n    demo = {\n      source  = "${PROD_HOST}/acme/demo"\n      version = "1.4.0"\n    }\n  }\n}\n`;

function needTerraform(): void {
  if (!existsSync(TERRAFORM))
    throw new Error(
      `${TERRAFORM} is not installed: this test installs the promoted provider with the real terraform (v1.11) and cannot run without it`,
    );
}

describe('promote-terraform-provider on Ceph RGW', () => {
  let staging: string;
  let prod: string;
  let staged: Awaited<ReturnType<typeof stage>>;
  let promoted: Awaited<ReturnType<typeof promote>>;

  beforeAll(async () => {
    staging = await makeBucket('tf-staging');
    prod = await makeBucket('tf-prod');
    staged = await stage(staging, await tarballs('final'));
    promoted = await promote(staging, prod);
  }, 180_000);

  test("production's SHA256SUMS is staging's, and gpg verifies its signature with the production key (not staging's)", async () => {
    const sumsKey = 'store/acme/demo/1.4.0/terraform-provider-demo_1.4.0_SHA256SUMS';
    const sums = await get(prod, sumsKey);
    expect(sums.equals(await get(staging, sumsKey))).toBe(true);
    const dir = await tmpDir();
    await fs.writeFile(path.join(dir, 'SUMS'), sums);
    await fs.writeFile(path.join(dir, 'SUMS.sig'), await get(prod, `${sumsKey}.sig`));
    const good = await verifyDetached(path.join(dir, 'SUMS.sig'), path.join(dir, 'SUMS'), keys.prod.public);
    expect(good.output).toMatch(/Good signature from "Relay prod/);
    expect(good.ok).toBe(true);
    expect((await verifyDetached(path.join(dir, 'SUMS.sig'), path.join(dir, 'SUMS'), keys.staging.public)).ok).toBe(false);
    for (const [os, arch] of PLATFORMS) {
      const zip = `store/acme/demo/1.4.0/terraform-provider-demo_1.4.0_${os}_${arch}.zip`;
      expect((await get(prod, zip)).equals(await get(staging, zip))).toBe(true);
    }
  });

  test('h1: and zh: are the same in both registries: download documents, the network mirror, the outputs, the summary', async () => {
    const hashesIn = async (bucket: string, host: string) => {
      const out: Record<string, string[]> = {};
      for (const [os, arch] of PLATFORMS) {
        const doc = JSON.parse((await get(bucket, `registry/acme/demo/1.4.0/download/${os}/${arch}`)).toString());
        out[`download ${os}_${arch}`] = [`zh:${doc.shasum}`, ...doc.packages[`${os}_${arch}`].hashes].sort();
        for (const [p, m] of Object.entries(doc.packages as Record<string, { hashes: string[] }>))
          out[`packages ${os}_${arch} ${p}`] = [...m.hashes].sort();
      }
      const mirror = JSON.parse((await get(bucket, `mirror/${host}/acme/demo/1.4.0.json`)).toString());
      for (const [p, a] of Object.entries(mirror.archives as Record<string, { hashes: string[] }>))
        out[`mirror ${p}`] = [...a.hashes].sort();
      const index = JSON.parse((await get(bucket, `mirror/${host}/acme/demo/index.json`)).toString());
      expect(Object.keys(index.versions)).toEqual(['1.4.0']);
      return out;
    };
    const s = await hashesIn(staging, 'terraform-staging.example.com');
    const p = await hashesIn(prod, PROD_HOST);
    expect(Object.keys(p)).toHaveLength(4 + 16 + 4);
    expect(p).toEqual(s);
    expect(promoted.outputs['lock-hashes']).toEqual(staged.outputs['lock-hashes']);
    expect(promoted.outputs.hashes).toEqual(staged.outputs.hashes);
    const summary = promoted.report.sections[0]!;
    expect('text' in summary && summary.text).toContain("h1: and zh: in production equal staging's for all 4 platforms");
    const rec = promoted.report.sections.find((x) => x.heading.startsWith('Build record'));
    expect(rec && 'table' in rec && rec.table.rows.slice(0, 3)).toEqual([
      ['ref', TAG],
      ['repository', 'acme/terraform-provider-demo'],
      ['run', '1001 (attempt 1)'],
    ]);
  });

  test('provenance: the statements validate, their subjects are the bytes RGW serves in both buckets; verify finds them', async () => {
    const dir = 'store/acme/demo/1.4.0/';
    const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
    const names = [
      'terraform-provider-demo_1.4.0_SHA256SUMS',
      ...PLATFORMS.map(([os, arch]) => `terraform-provider-demo_1.4.0_${os}_${arch}.zip`).sort(),
    ];
    const subjectsServed = async (bucket: string) =>
      Promise.all(names.map(async (name) => ({ name, digest: { sha256: sha(await get(bucket, dir + name)) } })));
    const served = await subjectsServed(staging);
    expect(await subjectsServed(prod)).toEqual(served);

    const provenance = await get(staging, `${dir}relay-provenance.intoto.json`);
    expect(await get(prod, `${dir}relay-provenance.intoto.json`)).toEqual(provenance);
    const slsa = JSON.parse(provenance.toString());
    expect(statementErrors(slsa, 'slsa')).toEqual([]);
    expect(slsa.subject).toEqual(served);
    expect(staged.outputs.subjects).toEqual(served.map((s) => `${s.digest.sha256}  ${s.name}`));

    const promotion = JSON.parse((await get(prod, `${dir}relay-promotion.intoto.json`)).toString());
    expect(statementErrors(promotion, 'in-toto')).toEqual([]);
    expect(promotion.subject).toEqual(served);
    expect(promotion.predicate.plan.sha256).toBe(promoted.outputs['plan-hash']);
    expect(promotion.predicate.from.location).toBe(`s3://${staging}`);
    expect(promoted.outputs.promotion).toBe(`s3://${prod}/${dir}relay-promotion.intoto.json`);

    const v = await verifyTerraformRegistry.run(
      {
        'registry-url': PROD_URL,
        namespace: 'acme',
        name: 'demo',
        version: '1.4.0',
        store: `s3://${prod}`,
        mirror: true,
        's3-endpoint': s3.endpoint,
      } as Parameters<typeof verifyTerraformRegistry.run>[0],
      ctx(),
    );
    expect(v.outputs.unattested).toBe('');
    const section = v.report.sections.find((x) => x.heading === 'Provenance');
    expect(section && 'table' in section && section.table.rows).toEqual([
      ['1.4.0', 'present; its subjects are the files served', 'present; its subjects are the files served'],
    ]);
  }, 120_000);

  test('a re-run is a no-op: nothing written', async () => {
    const before = await listing(prod);
    const again = await promote(staging, prod);
    expect(again.report.status).toBe('no-op');
    expect(again.plan.filter((r) => r.action !== 'skip')).toEqual([]);
    expect(await listing(prod)).toEqual(before);
  }, 120_000);

  test('the real terraform installs the promoted provider from production; its lock file holds staging hashes', async () => {
    needTerraform();
    const server = await serveBucket(prod);
    try {
      const dir = await tmpDir();
      await fs.writeFile(path.join(dir, 'main.tf'), mainTf);
      const init = await terraform(dir, hostBlock(server.url), ['init', '-input=false', '-no-color']);
      // (a key not from HashiCorp's partner programme: "self-signed", as for any community registry)
      expect(init.stdout).toMatch(/Installed terraform\.example\.com\/acme\/demo v1\.4\.0 \(self-signed, key ID [0-9A-F]{16}\)/);
      const lock = await fs.readFile(path.join(dir, '.terraform.lock.hcl'), 'utf8');
      const got = lockFileHashes(lock);
      const hashes = promoted.outputs.hashes as Record<string, [string, string]>;
      // init locks this machine's h1 and every zh of the signed SHA256SUMS (the manifest's too)
      expect(got).toEqual([hashes.linux_amd64![0], ...(staged.outputs['lock-hashes'] as string[]).filter((h) => h.startsWith('zh:'))]);
      expect(server.hits.some((k) => k.endsWith('_linux_amd64.zip'))).toBe(true);

      // every platform: exactly Relay's lock-hashes output, and the summary's lock block
      const all = await tmpDir();
      await fs.writeFile(path.join(all, 'main.tf'), mainTf);
      await terraform(all, hostBlock(server.url), [
        'providers',
        'lock',
        '-no-color',
        ...PLATFORMS.map(([os, arch]) => `-platform=${os}_${arch}`),
      ]);
      const full = await fs.readFile(path.join(all, '.terraform.lock.hcl'), 'utf8');
      expect(lockFileHashes(full)).toEqual(staged.outputs['lock-hashes']);
      expect(lockFileHashes(full)).toEqual(promoted.outputs['lock-hashes']);
      const block = promoted.report.sections.find((x) => x.heading === '.terraform.lock.hcl');
      expect(block && 'code' in block && full).toContain(block && 'code' in block ? block.code : '<none>');
    } finally {
      await server.close();
    }
  }, 240_000);
});

describe('promotion refuses, and production stays as it was', () => {
  test('a staging version rewritten after its build record (a rebuild, the old record put back) is refused, naming the file', async () => {
    const staging = await makeBucket('tf-staging');
    const prod = await makeBucket('tf-prod');
    await stage(staging, await tarballs('one'));
    const recordKey = 'store/acme/demo/1.4.0/relay-build.json';
    const oldRecord = await get(staging, recordKey);
    await stage(staging, await tarballs('two'));
    await put(staging, recordKey, oldRecord);
    const before = await listing(prod);
    const err = await promote(staging, prod).catch((e: unknown) => e);
    captured((err as Error).message);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toMatch(
      new RegExp(
        `^s3://${staging}/store/acme/demo/1\\.4\\.0: terraform-provider-demo_1\\.4\\.0_\\w+_\\w+\\.zip has sha256 [0-9a-f]{64}, but the build record says [0-9a-f]{64}; the staging version was rewritten after its build$`,
      ),
    );
    expect(await listing(prod)).toEqual(before);
  }, 180_000);

  test('a zip tampered with in the staging bucket is refused by the verification', async () => {
    const staging = await makeBucket('tf-staging');
    const prod = await makeBucket('tf-prod');
    await stage(staging, await tarballs('t'));
    const zipKey = 'store/acme/demo/1.4.0/terraform-provider-demo_1.4.0_linux_arm64.zip';
    const zip = await get(staging, zipKey);
    zip[zip.length - 50] = zip[zip.length - 50]! ^ 0x20;
    await put(staging, zipKey, zip);
    const before = await listing(prod);
    const err = await promote(staging, prod).catch((e: unknown) => e);
    captured((err as Error).message);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toBe(
      `package ${STAGING_URL}${zipKey}: archive has incorrect checksum zh:${createHash('sha256').update(zip).digest('hex')} (expected zh:${JSON.parse((await get(staging, 'registry/acme/demo/1.4.0/download/linux/arm64')).toString()).shasum})`,
    );
    expect(await listing(prod)).toEqual(before);
  }, 180_000);

  test('a version last published to staging from a release-candidate tag is refused (expect-ref)', async () => {
    const staging = await makeBucket('tf-staging');
    const prod = await makeBucket('tf-prod');
    await stage(staging, await tarballs('final'));
    const rc = 'refs/tags/terraform-provider-demo-v1.4.0-rc.3';
    await stage(staging, await tarballs('rc3'), rc);
    const before = await listing(prod);
    const err = await promote(staging, prod).catch((e: unknown) => e);
    captured((err as Error).message);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toContain(`the staging version was last published from ${rc}, not ${TAG} (input 'expect-ref')`);
    expect(await listing(prod)).toEqual(before);
  }, 180_000);
});

describe("the limitation the registry-url port warning states, shown with terraform's network-mirror client", () => {
  test('a provider address with a port cannot be installed through a network mirror', async () => {
    needTerraform();
    // A TLS server on loopback (Terraform requires https for a network mirror), trusted through SSL_CERT_FILE.
    const dir = await tmpDir();
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      path.join(dir, 'key.pem'),
      '-out',
      path.join(dir, 'cert.pem'),
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ]);
    const seen: string[] = [];
    const server = https.createServer(
      { key: await fs.readFile(path.join(dir, 'key.pem')), cert: await fs.readFile(path.join(dir, 'cert.pem')) },
      (req, res) => {
        seen.push(req.url ?? '');
        res.writeHead(404);
        res.end();
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    try {
      const cfg = `provider_installation {\n  network_mirror {\n    url = "https://127.0.0.1:${port}/mirror/"\n  }\n}\n`;
      const withPort = `terraform {\n  required_providers {\n    demo = { source = "registry.example.com:8443/acme/demo" }\n  }\n}\n`;
      await fs.writeFile(path.join(dir, 'main.tf'), withPort);
      process.env.SSL_CERT_FILE_FOR_TERRAFORM = path.join(dir, 'cert.pem');
      const err = await terraform(dir, cfg, ['init', '-input=false', '-no-color']).catch((e: { stdout?: string; stderr?: string }) => e);
      const text = `${(err as { stdout?: string }).stdout ?? ''}${(err as { stderr?: string }).stderr ?? ''}`;
      // the mirror path "registry.example.com:8443/acme/demo/index.json" parses as a URL with scheme "registry.example.com"
      expect(text).toMatch(
        /"registry\.example\.com:8443\/acme\/demo\/index\.json":\s+unsupported\s+protocol\s+scheme\s+"registry\.example\.com"/,
      );
      expect(seen).toEqual([]);

      // the same mirror without a port is asked as the protocol says
      await fs.writeFile(path.join(dir, 'main.tf'), withPort.replace(':8443', ''));
      await terraform(dir, cfg, ['init', '-input=false', '-no-color']).catch(() => undefined);
      expect(seen).toContain('/mirror/registry.example.com/acme/demo/index.json');
    } finally {
      delete process.env.SSL_CERT_FILE_FOR_TERRAFORM;
      await new Promise<void>((r) => server.close(() => r()));
    }
  }, 120_000);
});
