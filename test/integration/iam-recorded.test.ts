// `relay iam-policy` against what Relay actually calls. Publishes (new version, a no-op re-run, a second
// version, archives fetched from an S3 source), then a verify of the store, go through a recording proxy in
// front of RGW; every S3 request is mapped to the IAM action S3 authorizes it with, on its resource ARN, and
// compared with the role policy `relay iam-policy <operation>` prints for the same store and source: the
// policy must allow every recorded call, and every S3 action it grants must have been called on a resource it
// grants it on. (copy-image and promote-ecr-image need no IAM against these registries; ECR is not here.)
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { PolicyDocument, RunDocument } from '../../packages/core/src/index.js';
import { providerTarball, rsaKey, tmpDir } from '../../packages/core/test/fixtures.js';
import { iamWildcard } from '../support/iam-match.js';
import { startFaultProxy, type FaultProxy, type SeenRequest } from '../support/fault-proxy.js';
import { captured, secret, secretKey } from '../support/leaks.js';
import { makeBucket, s3Client, s3sdk, s3Settings } from '../support/servers.js';

// Waits on servers, processes and the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(120_000);

const ROOT = path.resolve(new URL('../..', import.meta.url).pathname);
const CLI = path.join(ROOT, 'dist/cli.js');

let s3: ReturnType<typeof s3Settings>;
let proxy: FaultProxy;

async function relay(args: string[], env: Record<string, string> = {}): Promise<RunDocument> {
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args, '--json'], {
      env: {
        PATH: process.env.PATH ?? '',
        AWS_ACCESS_KEY_ID: s3.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
        AWS_REGION: 'us-east-1',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
  captured(r.stdout, r.stderr);
  if (r.code !== 0) throw new Error(`relay ${args[0]} exited ${r.code}:\n${r.stderr}`);
  return JSON.parse(r.stdout) as RunDocument;
}

/** One S3 request as IAM sees it: the action S3 authorizes it with, on which resource, and why we think so. */
interface Call {
  action: string;
  resource: string;
  request: string;
}

/**
 * The IAM action of each S3 REST request (path-style, as Relay sends to an endpoint), per the S3 API
 * reference's "Permissions" of each operation. A GET or HEAD of an object that answers 404 also needs
 * s3:ListBucket on the bucket: without it S3 answers 403 for a missing key (HeadObject, GetObject docs).
 * Anything not in this table fails the test, so a new kind of call cannot slip past the policy unseen.
 */
export function iamCalls(r: SeenRequest): Call[] {
  const u = new URL(r.path, 'http://s3');
  const [bucket = '', ...rest] = u.pathname.slice(1).split('/');
  const key = rest.map(decodeURIComponent).join('/');
  const q = u.searchParams;
  q.delete('x-id'); // the SDK names its operation in the query (x-id=GetObject): not part of the request's meaning
  const request = `${r.method} ${r.path} -> ${r.status ?? 'no response'}`;
  const obj = `arn:aws:s3:::${bucket}/${key}`;
  const bkt = `arn:aws:s3:::${bucket}`;
  const one = (action: string, resource: string): Call[] => [{ action, resource, request }];
  if (!key) {
    if (r.method === 'GET' && q.get('list-type') === '2') return one('s3:ListBucket', bkt); // ListObjectsV2
    if (r.method === 'HEAD') return one('s3:ListBucket', bkt); // HeadBucket
    if (r.method === 'GET' && q.has('location')) return one('s3:GetBucketLocation', bkt);
    if (r.method === 'POST' && q.has('delete')) return one('s3:DeleteObject', `${bkt}/*`); // DeleteObjects: each key checked
    throw new Error(`unmapped S3 request: ${request}`);
  }
  if (r.method === 'GET' || r.method === 'HEAD') {
    if ([...q.keys()].some((k) => !['partNumber', 'versionId', 'response-content-type'].includes(k)))
      throw new Error(`unmapped S3 request: ${request}`);
    return [...one('s3:GetObject', obj), ...(r.status === 404 ? one('s3:ListBucket', bkt) : [])];
  }
  if (r.method === 'PUT' && !q.has('tagging') && !q.has('acl')) return one('s3:PutObject', obj); // PutObject, UploadPart
  if (r.method === 'POST' && (q.has('uploads') || q.has('uploadId'))) return one('s3:PutObject', obj); // multipart
  if (r.method === 'DELETE') return one(q.has('uploadId') ? 's3:AbortMultipartUpload' : 's3:DeleteObject', obj);
  throw new Error(`unmapped S3 request: ${request}`);
}

const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const arnMatches = iamWildcard;
const allows = (policy: PolicyDocument, c: Call): boolean =>
  policy.Statement.some(
    (s) =>
      s.Effect === 'Allow' &&
      !s.Condition &&
      list(s.Action).some((a) => arnMatches(a, c.action)) &&
      list(s.Resource).some((res) => arnMatches(res, c.resource)),
  );

/** The policy allows every call, and grants no S3 action on a resource where it was not called. */
function expectExactly(calls: Call[], policy: PolicyDocument, actions: string[]): void {
  const denied = calls.filter((c) => !allows(policy, c));
  expect(denied.map((c) => `${c.action} on ${c.resource} (${c.request})`)).toEqual([]);
  const unused: string[] = [];
  for (const s of policy.Statement)
    for (const a of list(s.Action).filter((x) => x.startsWith('s3:')))
      for (const res of list(s.Resource))
        if (!calls.some((c) => c.action === a && arnMatches(res, c.resource))) unused.push(`${s.Sid}: ${a} on ${res}`);
  expect(unused).toEqual([]);
  expect(new Set(calls.map((c) => c.action))).toEqual(new Set(actions.filter((a) => a.startsWith('s3:'))));
}

beforeAll(async () => {
  s3 = s3Settings();
  secret(s3.secretAccessKey);
  proxy = await startFaultProxy(s3.endpoint);
});
afterAll(async () => {
  await proxy?.close();
});

describe('iam-policy names exactly the S3 actions a publish and a verify call', () => {
  test('publish-terraform-registry (new version, no-op re-run, another version, archives from an S3 source) against RGW', async () => {
    const store = await makeBucket('iam-store');
    const builds = await makeBucket('iam-builds');
    const key = secretKey(await rsaKey());
    const dir = await tmpDir('relay-iam-');
    // The build stages its archives in S3 (written directly, not through the proxy: not Relay's calls).
    const client = s3Client();
    try {
      for (const version of ['1.0.0', '1.1.0'])
        for (const os of ['linux', 'darwin'] as const) {
          const file = await providerTarball(dir, 'demo', version, os, 'amd64', randomBytes(512).toString('base64'));
          await client.send(
            new s3sdk.PutObjectCommand({ Bucket: builds, Key: `demo/${path.basename(file)}`, Body: await fs.readFile(file) }),
          );
        }
    } finally {
      client.destroy();
    }
    const storeUrl = `s3://${store}/tf`;
    const sourceUrl = `s3://${builds}/demo/`;
    const publish = (version: string, ...extra: string[]): Promise<RunDocument> =>
      relay(
        [
          'publish-terraform-registry',
          '--namespace',
          'acme',
          '--name',
          'demo',
          '--version',
          version,
          '--source',
          sourceUrl,
          '--store',
          storeUrl,
          '--registry-url',
          'https://registry.example.com',
          '--protocols',
          '6.0',
          '--detect-protocols',
          'off',
          '--s3-endpoint',
          proxy.url,
          ...extra,
        ],
        { RELAY_SIGNING_KEY: key },
      );
    const printed = await relay(['iam-policy', 'publish-terraform-registry', '--store', storeUrl, '--source', sourceUrl]);

    // The plan job: a dry run of a new version, with the reader role's policy (reads only).
    proxy.reset();
    expect((await publish('1.0.0', '--dry-run')).status).toBe('dry-run');
    expectExactly(
      [...proxy.seen].flatMap(iamCalls),
      printed.outputs['reader-policy'] as PolicyDocument,
      printed.outputs['reader-actions'] as string[],
    );

    // The apply job: the writes, with the writer role's policy.
    proxy.reset();
    expect((await publish('1.0.0')).status).toBe('done');
    expect((await publish('1.0.0')).status).toBe('no-op');
    expect((await publish('1.1.0')).status).toBe('done');
    const seen = [...proxy.seen];
    expect(seen.length).toBeGreaterThan(20);
    expect(seen.filter((r) => r.status === undefined || r.status >= 500)).toEqual([]);
    const calls = seen.flatMap(iamCalls);

    const policy = printed.outputs['writer-policy'] as PolicyDocument;
    const actions = printed.outputs['writer-actions'] as string[];

    expectExactly(calls, policy, actions);

    // What the recording shows, by kind: the probe's delete under .relay/ only, an audit record per publish that wrote.
    expect(
      calls.filter((c) => c.action === 's3:DeleteObject').every((c) => c.resource.startsWith(`arn:aws:s3:::${store}/tf/.relay/`)),
    ).toBe(true);
    // one record per publish that wrote (an append also writes the head's record again if missing: a 412 when it is there)
    const auditPuts = calls.filter(
      (c) => c.action === 's3:PutObject' && c.resource.startsWith(`arn:aws:s3:::${store}/tf/audit/`) && / -> 200$/.test(c.request),
    );
    expect(auditPuts).toHaveLength(2);
    expect(
      calls.some((c) => c.action === 's3:ListBucket' && c.resource === `arn:aws:s3:::${builds}` && /list-type=2/.test(c.request)),
    ).toBe(true);

    // verify-terraform-registry reading the same store (the tree, and audit/ listed and read).
    proxy.reset();
    const verified = await relay(
      [
        'verify-terraform-registry',
        '--registry-url',
        'https://registry.example.com',
        '--namespace',
        'acme',
        '--name',
        'demo',
        '--store',
        storeUrl,
        '--s3-endpoint',
        proxy.url,
      ],
      {},
    );
    expect(verified.outputs).toMatchObject({ versions: '1.0.0 1.1.0' });
    const readPolicy = await relay(['iam-policy', 'verify-terraform-registry', '--store', storeUrl]);
    expectExactly(
      [...proxy.seen].flatMap(iamCalls),
      readPolicy.outputs['reader-policy'] as PolicyDocument,
      readPolicy.outputs['reader-actions'] as string[],
    );
    expect(readPolicy.outputs['writer-actions']).toEqual([]);
  }, 180_000);
});
