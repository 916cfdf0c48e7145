// ECR and ECR Public cannot run here. These tests put stand-ins where they
// would be: a local AWS JSON API (GetAuthorizationToken, DescribeImageScanFindings,
// DescribeRepositories) that the SDK is pointed at, the htpasswd registry playing
// a private ECR host (reached through --connect-to), and a front for the
// anonymous registry that behaves like ECR Public's auth: Bearer only, and
// `400 DENIED` for an expired token. Every test name says "stand-in".
import { afterAll, beforeAll, beforeEach, describe, expect, jest, test } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import { ConflictError, GateError, NullLogger, RelayError } from '../../packages/core/src/index.js';
import type { Context } from '../../packages/core/src/index.js';
import { copyImage, promoteEcrImage } from '../../packages/core/src/operations/index.js';
import { outputText, type Clients } from '../../packages/core/src/index.js';
const runCopyImage = (inputs: Parameters<typeof copyImage.run>[0], c: Context, clients?: Clients): ReturnType<typeof copyImage.run> =>
  copyImage.run(inputs, { ...c, ...(clients && { clients }) });
const runPromoteEcrImage = (
  inputs: Parameters<typeof promoteEcrImage.run>[0],
  c: Context,
  clients?: Clients,
): ReturnType<typeof promoteEcrImage.run> => promoteEcrImage.run(inputs, { ...c, ...(clients && { clients }) });
import { ecKeyPair, signLegacy } from '../support/cosign-sign.js';
import { makeOciImage, pushImage, remoteDigest } from '../support/oci-images.js';
import type { OciImage } from '../support/oci-images.js';
import { registries } from '../support/servers.js';
import type { RegistrySettings } from '../support/servers.js';

// Waits on servers, processes and the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(120_000);

const ECR_HOST = '123456789012.dkr.ecr.us-east-1.amazonaws.com';
const PUBLIC_HOST = 'public.ecr.aws';
const ACCESS_KEY = 'AKIDSTANDIN0000000000';
const SECRET_KEY = `standin-secret-${randomBytes(8).toString('hex')}`;

interface AwsCall {
  target: string;
  body: Record<string, unknown>;
}

/** The AWS JSON 1.1 API as far as Relay uses it; answers are set per test. */
class AwsStandIn {
  calls: AwsCall[] = [];
  ecrToken = '';
  publicTokens: string[] = [];
  scan: (digest: string) => Record<string, unknown> = () => ({
    imageScanStatus: { status: 'COMPLETE' },
    imageScanFindings: { findingSeverityCounts: {} },
  });
  mutability: Record<string, unknown> = { imageTagMutability: 'MUTABLE' };
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown>;
      this.calls.push({ target, body });
      const reply = (status: number, v: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify(v));
      };
      // The SDK signed with the keys Relay passed on (SigV4), or we refuse as AWS would.
      if (!String(req.headers.authorization ?? '').startsWith(`AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/`)) {
        return reply(400, { __type: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' });
      }
      const expiresAt = Date.now() / 1000 + 12 * 3600;
      switch (target) {
        case 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken':
          return reply(200, {
            authorizationData: [{ authorizationToken: this.ecrToken, expiresAt, proxyEndpoint: `https://${ECR_HOST}` }],
          });
        case 'SpencerFrontendService.GetAuthorizationToken':
          return reply(200, { authorizationData: { authorizationToken: this.publicTokens.shift(), expiresAt } });
        case 'AmazonEC2ContainerRegistry_V20150921.DescribeImageScanFindings':
          return reply(200, {
            registryId: body.registryId,
            repositoryName: body.repositoryName,
            imageId: body.imageId,
            ...this.scan((body.imageId as { imageDigest: string }).imageDigest),
          });
        case 'AmazonEC2ContainerRegistry_V20150921.DescribeRepositories':
          return reply(200, {
            repositories: [{ repositoryName: (body.repositoryNames as string[])[0], registryId: '123456789012', ...this.mutability }],
          });
        default:
          return reply(400, { __type: 'UnknownOperationException', message: target });
      }
    });
  });
  url = '';
  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  count(op: string): number {
    return this.calls.filter((c) => c.target.endsWith(op)).length;
  }
  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** ECR Public's auth in front of the anonymous registry: Bearer <valid token> passes, a stale one gets 400 DENIED. */
class PublicFront {
  valid = '';
  denied = 0;
  port = 0;
  constructor(private readonly upstream: string) {}
  private server = http.createServer((req, res) => {
    const auth = req.headers.authorization ?? '';
    if (!auth.startsWith('Bearer ')) {
      req.resume();
      res.writeHead(401, {
        'www-authenticate': 'Bearer realm="https://public.ecr.aws/token/",service="public.ecr.aws",scope="aws"',
        'content-type': 'application/json',
      });
      return res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
    }
    if (auth !== `Bearer ${this.valid}`) {
      this.denied++;
      req.resume();
      res.writeHead(400, { 'content-type': 'application/json' });
      return res.end('{"errors":[{"code":"DENIED","message":"Your Authorization Token is invalid."}]}');
    }
    const [host, port] = this.upstream.split(':');
    const headers = { ...req.headers };
    delete headers.authorization;
    const up = http.request({ host, port, method: req.method, path: req.url, headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }
  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

let reg: RegistrySettings;
let aws: AwsStandIn;
let front: PublicFront;
let image: OciImage;
const keyId = (k: import('node:crypto').KeyObject): string =>
  'sha256:' +
  createHash('sha256')
    .update(k.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);
let signedRepo: string;
/** The key the signed repository's image is signed with, as `cosign sign --key` would. */
const signer = ecKeyPair();
let unsignedRepo: string;

function env(): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: SECRET_KEY,
    AWS_ENDPOINT_URL_ECR: aws.url,
    AWS_ENDPOINT_URL_ECR_PUBLIC: aws.url,
    DOCKER_CONFIG: '/nonexistent',
  };
}
function ctx(e: Record<string, string> = env()): Context & { log: NullLogger } {
  return { log: new NullLogger(), env: e, cwd: process.cwd() };
}
/** The stand-in hosts resolve to loopback servers; plain HTTP allowed for them. */
function deps(): Parameters<typeof runPromoteEcrImage>[2] {
  return { http: { connectTo: { [ECR_HOST]: reg.basic, [PUBLIC_HOST]: `127.0.0.1:${front.port}` }, retry: { baseMs: 10, maxMs: 50 } } };
}
const insecure = [ECR_HOST, PUBLIC_HOST];

type PromoteInputs = Parameters<typeof runPromoteEcrImage>[0];
function promoteInputs(source: string, destination: string, more: Partial<PromoteInputs> = {}): PromoteInputs {
  return {
    source,
    destination,
    tags: [],
    'require-signature': false,
    'max-severity': 'none',
    'dry-run': false,
    'insecure-registries': insecure,
    ...more,
  };
}

beforeAll(async () => {
  reg = registries();
  aws = new AwsStandIn();
  await aws.start();
  front = new PublicFront(reg.anon);
  await front.start();
  image = await makeOciImage({
    platforms: ['linux/amd64', 'linux/arm64'],
    layers: 2,
    layerSize: 50_000,
    seed: randomBytes(4).toString('hex'),
    tag: 'v1',
  });
  signedRepo = `relay-it/ecr-signed-${randomBytes(4).toString('hex')}`;
  unsignedRepo = `relay-it/ecr-unsigned-${randomBytes(4).toString('hex')}`;
  await pushImage(image, `${reg.basic}/${signedRepo}:v1`, `${reg.user}:${reg.pass}`);
  await pushImage(image, `${reg.basic}/${unsignedRepo}:v1`, `${reg.user}:${reg.pass}`);
  await signLegacy(reg.basic, signedRepo, image.top, { key: signer }, `${reg.user}:${reg.pass}`);
}, 60_000);

afterAll(async () => {
  await aws?.close();
  await front?.close();
});

beforeEach(() => {
  aws.calls = [];
  aws.ecrToken = Buffer.from(`${reg.user}:${reg.pass}`).toString('base64');
  aws.publicTokens = ['expired-' + randomBytes(8).toString('hex'), 'fresh-' + randomBytes(8).toString('hex')];
  front.valid = aws.publicTokens[1]!;
  front.denied = 0;
  aws.scan = () => ({ imageScanStatus: { status: 'COMPLETE' }, imageScanFindings: { findingSeverityCounts: { LOW: 3, MEDIUM: 1 } } });
});

const MT_INDEX = 'application/vnd.oci.image.index.v1+json';
const MT_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

describe('promote-ecr-image against stand-ins', () => {
  test('stand-in: ECR token via GetAuthorizationToken, ECR Public 400 DENIED renews the token once, gates pass, skopeo confirms the digest', async () => {
    const dst = `${PUBLIC_HOST}/relay-alias/app-${randomBytes(4).toString('hex')}`;
    const c = ctx({ ...env(), RELAY_APPROVERS: 'alice' });
    const out = await runPromoteEcrImage(
      promoteInputs(`${ECR_HOST}/${signedRepo}:v1`, dst, {
        'require-signature': true,
        'signature-key': signer.publicPem,
        'max-severity': 'high',
        tags: ['v1', 'latest'],
      }),
      c,
      deps(),
    );
    expect(out.outputs.digest).toBe(image.top.digest);
    expect(outputText(out.outputs.images!).split('\n')).toEqual([
      `${dst}:v1@${image.top.digest}`,
      `${dst}:latest@${image.top.digest}`,
      `${dst}@${image.top.digest}`,
    ]);
    expect(aws.count('ContainerRegistry_V20150921.GetAuthorizationToken')).toBe(1);
    expect(aws.count('SpencerFrontendService.GetAuthorizationToken')).toBe(2);
    expect(front.denied).toBeGreaterThanOrEqual(1);
    // Both platform images were asked about, in the source repository and account.
    const scanned = aws.calls.filter((x) => x.target.endsWith('DescribeImageScanFindings')).map((x) => x.body);
    expect(scanned.map((b) => (b.imageId as { imageDigest: string }).imageDigest).sort()).toEqual(
      image.images.map((i) => i.manifest.digest).sort(),
    );
    expect(scanned.every((b) => b.repositoryName === signedRepo && b.registryId === '123456789012')).toBe(true);
    // What ECR Public would hold: the same index digest, and the signature tag.
    const backing = `${reg.anon}/${dst.slice(PUBLIC_HOST.length + 1)}`;
    expect(await remoteDigest(`${backing}:v1`)).toBe(image.top.digest);
    expect(await remoteDigest(`${backing}:latest`)).toBe(image.top.digest);
    expect(await remoteDigest(`${backing}:sha256-${image.top.digest.slice(7)}.sig`)).toMatch(/^sha256:/);
    const gates = out.report.sections[0];
    // Verified with the key on the source before the copy, and again in ECR Public after it.
    const tag = `sha256-${image.top.digest.slice(7)}.sig`;
    const text = gates && 'text' in gates ? gates.text : '';
    expect(text).toMatch(
      new RegExp(`^signature: ${ECR_HOST}/${signedRepo}:${tag} layer 1 by signature-key sha256:[0-9a-f]{16}; scan sha256:`),
    );
    expect(text).toMatch(new RegExp(`; signature in ECR Public: ${dst}:${tag} layer 1 by signature-key sha256:[0-9a-f]{16}$`));
    // No secret in anything logged.
    const logged = JSON.stringify(c.log.lines);
    for (const s of [SECRET_KEY, reg.pass, front.valid]) expect(logged).not.toContain(s);

    // The promotion statement, planned as a row and attached to the promoted image as a referrer: listed by the
    // fallback index ECR Public's stand-in needs (no referrers API), naming the source, the approver, the plan.
    const row = out.plan.find((r) => r.object.endsWith('← promotion statement'));
    expect(row).toMatchObject({ object: `${dst}@${image.top.digest} ← promotion statement`, action: 'put', result: 'written' });
    const referrer = out.outputs['promotion-statement'] as string;
    const get = async (ref: string, accept: string): Promise<Buffer> => {
      const r = await fetch(`http://${reg.anon}/v2/${backing.slice(reg.anon.length + 1)}/${ref}`, {
        headers: { accept },
        signal: AbortSignal.timeout(15_000),
      });
      expect(r.status).toBe(200);
      return Buffer.from(await r.arrayBuffer());
    };
    const index = JSON.parse((await get(`manifests/sha256-${image.top.digest.slice(7)}`, MT_INDEX)).toString());
    expect(index.manifests.map((m: { digest: string }) => m.digest)).toContain(referrer);
    const m = JSON.parse((await get(`manifests/${referrer}`, MT_MANIFEST)).toString());
    expect(m).toMatchObject({ artifactType: 'application/vnd.in-toto+json', subject: { digest: image.top.digest } });
    const st = JSON.parse((await get(`blobs/${m.layers[0].digest}`, '*/*')).toString());
    expect(st.subject).toEqual([{ name: dst, digest: { sha256: image.top.digest.slice(7) } }]);
    expect(st.predicate.from.location).toBe(`${ECR_HOST}/${signedRepo}:v1`);
    expect(st.predicate.approvers).toEqual([{ login: 'alice' }]);
    expect(st.predicate.plan).toEqual({ sha256: out.outputs['plan-hash'], approved: false });

    // A re-run finds it and keeps it: the row is a skip, nothing is attached again.
    aws.publicTokens = [front.valid, front.valid];
    const again = await runPromoteEcrImage(
      promoteInputs(`${ECR_HOST}/${signedRepo}:v1`, dst, {
        'require-signature': true,
        'signature-key': signer.publicPem,
        'max-severity': 'high',
        tags: ['v1', 'latest'],
      }),
      ctx({ ...env(), RELAY_APPROVERS: 'mallory' }),
      deps(),
    );
    expect(again.plan.find((r) => r.object.endsWith('← promotion statement'))).toMatchObject({
      action: 'skip',
      result: 'unchanged',
      why: `same promotion already recorded (local:${hostname()})`,
    });
    expect(again.outputs['promotion-statement']).toBe(referrer);
    expect(again.report.status).toBe('no-op');
  }, 90_000);

  test('stand-in: a HIGH finding at max-severity high refuses, naming the finding; nothing written', async () => {
    const bad = image.images[1]!.manifest.digest;
    aws.scan = (d) =>
      d === bad
        ? {
            imageScanStatus: { status: 'COMPLETE' },
            imageScanFindings: {
              findingSeverityCounts: { HIGH: 2, LOW: 1 },
              findings: [
                { name: 'CVE-2026-0002', severity: 'LOW' },
                { name: 'CVE-2026-1111', severity: 'HIGH' },
              ],
            },
          }
        : { imageScanStatus: { status: 'COMPLETE' }, imageScanFindings: { findingSeverityCounts: {} } };
    const repo = `relay-alias/gated-${randomBytes(4).toString('hex')}`;
    const err = await runPromoteEcrImage(
      promoteInputs(`${ECR_HOST}/${signedRepo}:v1`, `${PUBLIC_HOST}/${repo}`, { 'max-severity': 'high' }),
      ctx(),
      deps(),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GateError);
    expect((err as Error).message).toBe(
      `scan gate: ${signedRepo}@${bad} (linux/arm64) has 2 HIGH finding(s) at or above 'high' (e.g. CVE-2026-1111)`,
    );
    expect((await fetch(`http://${reg.anon}/v2/${repo}/manifests/v1`, { method: 'HEAD' })).status).toBe(404);
    expect((await fetch(`http://${reg.anon}/v2/${repo}/blobs/${image.images[0]!.layers[0]!.digest}`, { method: 'HEAD' })).status).toBe(404);
  }, 60_000);

  test('stand-in: a scan still in progress refuses', async () => {
    aws.scan = () => ({ imageScanStatus: { status: 'IN_PROGRESS' } });
    await expect(
      runPromoteEcrImage(
        promoteInputs(`${ECR_HOST}/${signedRepo}:v1`, `${PUBLIC_HOST}/relay-alias/x`, { 'max-severity': 'critical' }),
        ctx(),
        deps(),
      ),
    ).rejects.toThrow(/^scan gate: .* is IN_PROGRESS, not complete$/);
  });

  test('stand-in: require-signature refuses an unsigned image, saying what is missing', async () => {
    await expect(
      runPromoteEcrImage(
        promoteInputs(`${ECR_HOST}/${unsignedRepo}:v1`, `${PUBLIC_HOST}/relay-alias/x`, {
          'require-signature': true,
          'signature-key': signer.publicPem,
        }),
        ctx(),
        deps(),
      ),
    ).rejects.toThrow(
      `require-signature: ${ECR_HOST}/${unsignedRepo}@${image.top.digest}: expected a signature by signature-key (${keyId(signer.publicKey)}), found no cosign signature (sha256-${image.top.digest.slice(7)}.sig) or Sigstore bundle referrer`,
    );
  });

  test('stand-in: dry run runs the gates and writes nothing', async () => {
    const repo = `relay-alias/dry-${randomBytes(4).toString('hex')}`;
    const out = await runPromoteEcrImage(
      promoteInputs(`${ECR_HOST}/${signedRepo}:v1`, `${PUBLIC_HOST}/${repo}`, { 'dry-run': true, 'max-severity': 'critical' }),
      ctx(),
      deps(),
    );
    expect(out.outputs.digest).toBe(image.top.digest);
    expect(aws.count('DescribeImageScanFindings')).toBe(2);
    expect((await fetch(`http://${reg.anon}/v2/${repo}/manifests/v1`, { method: 'HEAD' })).status).toBe(404);
  });

  test('stand-in: AWS refuses the keys; the error names the registry, never the secret', async () => {
    const c = ctx({ ...env(), AWS_ACCESS_KEY_ID: 'AKIDWRONG00000000000' });
    const err = await runPromoteEcrImage(promoteInputs(`${ECR_HOST}/${signedRepo}:v1`, `${PUBLIC_HOST}/relay-alias/x`), c, deps()).catch(
      (e: unknown) => e,
    );
    // The registry's own refusal: a RegistryError of kind auth (exit 1).
    expect(err).toBeInstanceOf(RelayError);
    expect((err as RelayError).kind).toBe('auth');
    expect((err as Error).message).toMatch(
      new RegExp(
        `^registry ${ECR_HOST.replace(/\./g, '\\.')}: anonymous access \\(no credentials \\(registry ${ECR_HOST.replace(/\./g, '\\.')}: ECR GetAuthorizationToken \\(us-east-1\\) failed: UnrecognizedClientException: The security token included in the request is invalid\\.\\)\\) rejected`,
      ),
    );
    expect((err as Error).message).not.toContain(SECRET_KEY);
  });

  test.each([
    ['source', `${reg?.anon ?? '127.0.0.1:5002'}/app:v1`, `${PUBLIC_HOST}/a/b`, "input 'source': expected a private ECR image"],
    [
      'destination',
      `${ECR_HOST}/app:v1`,
      'ghcr.io/a/b',
      "input 'destination': expected an ECR Public repository (public.ecr.aws/<alias>/<repo>)",
    ],
  ])('stand-in: refuses a %s that is not ECR', async (_what, source, destination, msg) => {
    await expect(runPromoteEcrImage(promoteInputs(source, destination), ctx(), deps())).rejects.toThrow(msg);
  });
});

describe('copy-image to an immutable ECR repository (stand-in)', () => {
  test('stand-in: DescribeRepositories IMMUTABLE turns a moved tag into a conflict before any write; exclusions may move', async () => {
    const repo = `relay-it/ecr-immutable-${randomBytes(4).toString('hex')}`;
    const other = await makeOciImage({ layers: 1, layerSize: 5_000, seed: randomBytes(4).toString('hex'), tag: 'v1' });
    await pushImage(other, `${reg.basic}/${repo}:v1`, `${reg.user}:${reg.pass}`);
    await pushImage(other, `${reg.basic}/${repo}:latest`, `${reg.user}:${reg.pass}`);
    const inputs = (tags: string[]): Parameters<typeof runCopyImage>[0] => ({
      source: `${ECR_HOST}/${signedRepo}:v1`,
      destination: `${ECR_HOST}/${repo}`,
      tags,
      'immutable-tags': false,
      'require-signature': false,
      'dry-run': false,
      'insecure-registries': insecure,
      'source-username': undefined,
      'source-password': undefined,
      'destination-username': undefined,
      'destination-password': undefined,
    });
    aws.mutability = { imageTagMutability: 'IMMUTABLE' };
    const err = await runCopyImage(inputs(['v1']), ctx(), deps()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toBe(`immutable tag conflict: ${ECR_HOST}/${repo}:v1 is ${other.top.digest}, not ${image.top.digest}`);
    expect(await remoteDigest(`${reg.basic}/${repo}@${image.top.digest}`, `${reg.user}:${reg.pass}`).catch(() => 'absent')).toBe('absent');

    aws.mutability = {
      imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION',
      imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'lat*' }],
    };
    await runCopyImage(inputs(['latest']), ctx(), deps());
    expect(await remoteDigest(`${reg.basic}/${repo}:latest`, `${reg.user}:${reg.pass}`)).toBe(image.top.digest);
    expect(await remoteDigest(`${reg.basic}/${repo}:v1`, `${reg.user}:${reg.pass}`)).toBe(other.top.digest);
  }, 60_000);
});
