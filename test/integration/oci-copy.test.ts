// copy-image against real CNCF distribution registries (basic, anonymous,
// token auth) with skopeo as the outside client that confirms digests, and the
// fault proxy breaking requests on purpose.
import { beforeAll, describe, expect, jest, test } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { AuthError, ConflictError, IntegrityError, NullLogger, RelayError } from '../../packages/core/src/index.js';
import type { Context } from '../../packages/core/src/index.js';
import { copyImage } from '../../packages/core/src/operations/index.js';
import { outputText, type Clients } from '../../packages/core/src/index.js';
const runCopyImage = (inputs: Parameters<typeof copyImage.run>[0], c: Context, clients?: Clients): ReturnType<typeof copyImage.run> =>
  copyImage.run(inputs, { ...c, ...(clients && { clients }) });
import { startFaultProxy } from '../support/fault-proxy.js';
import { makeOciImage, pushImage, remoteDigest } from '../support/oci-images.js';
import type { OciImage } from '../support/oci-images.js';
import { registries } from '../support/servers.js';
import type { RegistrySettings } from '../support/servers.js';

// Waits on servers, processes and the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(120_000);

const run = promisify(execFile);
const sha = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex');
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

let reg: RegistrySettings;
let creds: string;
beforeAll(() => {
  reg = registries();
  creds = `${reg.user}:${reg.pass}`;
});

const repoName = (what: string): string => `relay-it/${what}-${randomBytes(4).toString('hex')}`;

function ctx(env: Record<string, string | undefined> = {}): Context & { log: NullLogger } {
  return { log: new NullLogger(), env, cwd: process.cwd() };
}

type Inputs = Parameters<typeof runCopyImage>[0];
function inputs(source: string, destination: string, more: Partial<Inputs> = {}): Inputs {
  return {
    source,
    destination,
    tags: [],
    'immutable-tags': false,
    'require-signature': false,
    'dry-run': false,
    'insecure-registries': [],
    'source-username': undefined,
    'source-password': undefined,
    'destination-username': undefined,
    'destination-password': undefined,
    ...more,
  };
}

/** Fast whole-transfer retries for fault tests; the HTTP layer keeps its own policy. */
const deps = { http: { retry: { baseMs: 20, maxMs: 200 } } };

/** Seeds by plain HTTP (not Relay): blobs POST+PUT, then the manifest. Anonymous or Basic. */
async function rawPush(
  host: string,
  repo: string,
  ref: string,
  manifest: Buffer,
  mediaType: string,
  blobs: Buffer[],
  auth?: string,
): Promise<string> {
  const headers: Record<string, string> = auth ? { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {};
  for (const b of blobs) {
    const start = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers });
    expect(start.status).toBe(202);
    const loc = new URL(start.headers.get('location')!, `http://${host}`);
    loc.searchParams.set('digest', sha(b));
    const put = await fetch(loc, { method: 'PUT', headers: { ...headers, 'content-type': 'application/octet-stream' }, body: b });
    expect(put.status).toBe(201);
  }
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${ref}`, {
    method: 'PUT',
    headers: { ...headers, 'content-type': mediaType },
    body: manifest,
  });
  expect(res.status).toBe(201);
  return sha(manifest);
}

async function rawStatus(url: string, auth?: string): Promise<number> {
  const res = await fetch(url, { method: 'HEAD', headers: auth ? { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {} });
  return res.status;
}

/** Pushes a cosign-style signature tag and an SBOM referrer (fallback index, as cosign/oras do without the API). */
async function attachSignatureAndSbom(
  host: string,
  repo: string,
  subject: { digest: string; size: number; mediaType: string },
): Promise<{ sig: string; sbom: string }> {
  const hex = subject.digest.slice(7);
  const empty = Buffer.from('{}');
  const payload = Buffer.from(
    JSON.stringify({ critical: { image: { 'docker-manifest-digest': subject.digest }, type: 'cosign container image signature' } }),
  );
  const sigManifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(empty), size: 2 },
      layers: [
        {
          mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
          digest: sha(payload),
          size: payload.length,
          annotations: { 'dev.cosignproject.cosign/signature': randomBytes(32).toString('base64') },
        },
      ],
    }),
  );
  const sig = await rawPush(host, repo, `sha256-${hex}.sig`, sigManifest, OCI_MANIFEST, [empty, payload]);

  const doc = Buffer.from(JSON.stringify({ spdxVersion: 'SPDX-2.3', name: randomBytes(4).toString('hex') }));
  const sbomManifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/spdx+json',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha(empty), size: 2 },
      layers: [{ mediaType: 'application/spdx+json', digest: sha(doc), size: doc.length }],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    }),
  );
  const sbom = await rawPush(host, repo, sha(sbomManifest), sbomManifest, OCI_MANIFEST, [empty, doc]);
  const fallback = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ mediaType: OCI_MANIFEST, digest: sbom, size: sbomManifest.length, artifactType: 'application/spdx+json' }],
    }),
  );
  await rawPush(host, repo, `sha256-${hex}`, fallback, OCI_INDEX, []);
  return { sig, sbom };
}

async function skopeoRaw(ref: string, credsArg?: string): Promise<Buffer> {
  const { stdout } = await run(
    'skopeo',
    ['--insecure-policy', 'inspect', '--raw', '--tls-verify=false', ...(credsArg ? ['--creds', credsArg] : []), ref],
    { encoding: 'buffer', maxBuffer: 16 << 20 },
  );
  return stdout;
}

async function dockerConfig(entries: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'relay-dockercfg-'));
  const auths = Object.fromEntries(Object.entries(entries).map(([host, up]) => [host, { auth: Buffer.from(up).toString('base64') }]));
  await writeFile(path.join(dir, 'config.json'), JSON.stringify({ auths }));
  return dir;
}

describe('copy-image between distribution registries', () => {
  let image: OciImage;
  let srcRepo: string;
  let attached: { sig: string; sbom: string; childSbom: string };
  beforeAll(async () => {
    image = await makeOciImage({
      platforms: ['linux/amd64', 'linux/arm64'],
      layers: 3,
      layerSize: 200_000,
      seed: randomBytes(4).toString('hex'),
      tag: 'v1',
    });
    srcRepo = repoName('multiarch');
    await pushImage(image, `${reg.anon}/${srcRepo}:v1`);
    const top = await attachSignatureAndSbom(reg.anon, srcRepo, image.top);
    // A referrer of one child too: signers may sign per platform.
    const child = image.images[1]!.manifest;
    const forChild = await attachSignatureAndSbom(reg.anon, srcRepo, child);
    attached = { ...top, childSbom: forChild.sbom };
  }, 120_000);

  test('multi-arch index with cosign tags and referrers: anonymous → token registry (docker config), digests confirmed by skopeo', async () => {
    const dst = repoName('promoted');
    const env = { DOCKER_CONFIG: await dockerConfig({ [reg.token]: creds }) };
    const c = ctx(env);
    const out = await runCopyImage(inputs(`${reg.anon}/${srcRepo}:v1`, `${reg.token}/${dst}`, { tags: ['v1', 'stable'] }), c);
    expect(out.outputs.digest).toBe(image.top.digest);
    expect(outputText(out.outputs.images!).split('\n')).toEqual([
      `${reg.token}/${dst}:v1@${image.top.digest}`,
      `${reg.token}/${dst}:stable@${image.top.digest}`,
      `${reg.token}/${dst}@${image.top.digest}`,
    ]);
    // The outside client sees the same index digest under both tags, and every child.
    expect(await remoteDigest(`${reg.token}/${dst}:v1`, creds)).toBe(image.top.digest);
    expect(await remoteDigest(`${reg.token}/${dst}:stable`, creds)).toBe(image.top.digest);
    for (const img of image.images)
      expect(await remoteDigest(`${reg.token}/${dst}@${img.manifest.digest}`, creds)).toBe(img.manifest.digest);
    // Signature tag carried byte for byte; the registry has no referrers API, so Relay wrote the fallback index.
    const hex = image.top.digest.slice(7);
    expect(await remoteDigest(`${reg.token}/${dst}:sha256-${hex}.sig`, creds)).toBe(attached.sig);
    const fallback = JSON.parse((await skopeoRaw(`docker://${reg.token}/${dst}:sha256-${hex}`, creds)).toString());
    expect(fallback.manifests.map((d: { digest: string }) => d.digest)).toEqual([attached.sbom]);
    expect(fallback.manifests[0].artifactType).toBe('application/spdx+json');
    expect(await remoteDigest(`${reg.token}/${dst}@${attached.sbom}`, creds)).toBe(attached.sbom);
    const childHex = image.images[1]!.manifest.digest.slice(7);
    const childFallback = JSON.parse((await skopeoRaw(`docker://${reg.token}/${dst}:sha256-${childHex}`, creds)).toString());
    expect(childFallback.manifests.map((d: { digest: string }) => d.digest)).toEqual([attached.childSbom]);
    // Report names what happened.
    const refs = out.report.sections.find((s) => s.heading === 'References');
    expect(refs && 'table' in refs ? refs.table.rows.map((r) => r[0]) : []).toEqual(
      expect.arrayContaining([`${reg.token}/${dst}:v1`, `${reg.token}/${dst}:sha256-${hex}.sig`]),
    );

    // Re-run: a no-op, every tag already there, nothing written.
    const again = await runCopyImage(inputs(`${reg.anon}/${srcRepo}:v1`, `${reg.token}/${dst}`, { tags: ['v1', 'stable'] }), ctx(env));
    const result = again.report.sections.find((s) => s.heading === 'Result');
    expect(result && 'text' in result ? result.text : '').toMatch(
      /: 0 blobs copied \(0\.0 MiB\), 0 mounted, 0 already present; 0 manifests and 0 tags written; \d+ references verified$/,
    );
  }, 120_000);

  test('dry run reads, plans, and writes nothing', async () => {
    const dst = repoName('dry');
    const c = ctx();
    const out = await runCopyImage(inputs(`${reg.anon}/${srcRepo}:v1`, `${reg.anon}/${dst}:v1`, { 'dry-run': true }), c);
    expect(out.outputs.digest).toBe(image.top.digest);
    expect(out.report.sections[0]?.heading).toBe('Plan (dry run: nothing written)');
    expect(await rawStatus(`http://${reg.anon}/v2/${dst}/manifests/v1`)).toBe(404);
    expect(await rawStatus(`http://${reg.anon}/v2/${dst}/blobs/${image.images[0]!.layers[0]!.digest}`)).toBe(404);
  });

  test('within one registry blobs are mounted, not copied', async () => {
    const dst = repoName('mounted');
    const out = await runCopyImage(inputs(`${reg.anon}/${srcRepo}:v1`, `${reg.anon}/${dst}:v1`), ctx());
    const result = out.report.sections.find((s) => s.heading === 'Result');
    expect(result && 'text' in result ? result.text : '').toMatch(/: 0 blobs copied \(0\.0 MiB\), [1-9]\d* mounted/);
    expect(await remoteDigest(`${reg.anon}/${dst}:v1`)).toBe(image.top.digest);
  });

  test('an immutable tag at another digest: explicit conflict, nothing written', async () => {
    const dst = repoName('immutable');
    const other = await makeOciImage({ layers: 1, layerSize: 10_000, seed: randomBytes(4).toString('hex'), tag: 'v1' });
    await pushImage(other, `${reg.anon}/${dst}:v1`);
    const err = await runCopyImage(inputs(`${reg.anon}/${srcRepo}:v1`, `${reg.anon}/${dst}:v1`, { 'immutable-tags': true }), ctx()).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toBe(`immutable tag conflict: ${reg.anon}/${dst}:v1 is ${other.top.digest}, not ${image.top.digest}`);
    expect(await remoteDigest(`${reg.anon}/${dst}:v1`)).toBe(other.top.digest);
    expect(await rawStatus(`http://${reg.anon}/v2/${dst}/manifests/${image.top.digest}`)).toBe(404);
    expect(await rawStatus(`http://${reg.anon}/v2/${dst}/blobs/${image.images[0]!.layers[0]!.digest}`)).toBe(404);
    // Same digest is a no-op even when immutable.
    await runCopyImage(inputs(`${reg.anon}/${dst}:v1`, `${reg.anon}/${dst}:v1`, { 'immutable-tags': true }), ctx());
  });

  test('to an OCI layout and back: skopeo reads the layout Relay wrote', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'relay-layout-'));
    await runCopyImage(inputs(`${reg.anon}/${srcRepo}:v1`, `oci:${dir}:v1`), ctx());
    const { stdout } = await run('skopeo', ['--insecure-policy', 'inspect', '--raw', `oci:${dir}:v1`], { encoding: 'buffer' });
    expect(sha(stdout)).toBe(image.top.digest);
    // skopeo takes it to a registry keeping digests: the layout holds every platform's blobs.
    const viaSkopeo = repoName('from-layout');
    await run('skopeo', [
      '--insecure-policy',
      'copy',
      '--all',
      '--preserve-digests',
      '--dest-tls-verify=false',
      `oci:${dir}:v1`,
      `docker://${reg.anon}/${viaSkopeo}:v1`,
    ]);
    expect(await remoteDigest(`${reg.anon}/${viaSkopeo}:v1`)).toBe(image.top.digest);
    // And Relay takes the layout to the basic-auth registry (credentials as inputs).
    const back = repoName('from-layout');
    await runCopyImage(
      inputs(`oci:${dir}:v1`, `${reg.basic}/${back}`, { 'destination-username': reg.user, 'destination-password': reg.pass }),
      ctx(),
    );
    expect(await remoteDigest(`${reg.basic}/${back}:v1`, creds)).toBe(image.top.digest);
    expect(await remoteDigest(`${reg.basic}/${back}:sha256-${image.top.digest.slice(7)}.sig`, creds)).toBe(attached.sig);
  }, 60_000);
});

describe('copy-image with many layers and a large layer', () => {
  test('30 layers and a 96 MiB layer, basic → anonymous, streamed and confirmed by skopeo', async () => {
    const many = await makeOciImage({ layers: 30, layerSize: 64 * 1024, seed: randomBytes(4).toString('hex'), tag: 'many' });
    const large = await makeOciImage({ layers: 1, layerSize: 96 * 1024 * 1024, seed: randomBytes(4).toString('hex'), tag: 'large' });
    const src = repoName('big');
    await pushImage(many, `${reg.basic}/${src}:many`, creds);
    await pushImage(large, `${reg.basic}/${src}:large`, creds);
    const dst = repoName('big');
    const auth = { 'source-username': reg.user, 'source-password': reg.pass };
    const a = await runCopyImage(inputs(`${reg.basic}/${src}:many`, `${reg.anon}/${dst}`, auth), ctx());
    const b = await runCopyImage(inputs(`${reg.basic}/${src}:large`, `${reg.anon}/${dst}`, auth), ctx());
    expect(a.outputs.digest).toBe(many.top.digest);
    expect(b.outputs.digest).toBe(large.top.digest);
    expect(await remoteDigest(`${reg.anon}/${dst}:many`)).toBe(many.top.digest);
    expect(await remoteDigest(`${reg.anon}/${dst}:large`)).toBe(large.top.digest);
    const result = b.report.sections.find((s) => s.heading === 'Result');
    expect(result && 'text' in result ? result.text : '').toMatch(/: 2 blobs copied \(96\.\d MiB\)/);
  }, 180_000);
});

describe('copy-image through a faulty proxy', () => {
  let image: OciImage;
  let src: string;
  beforeAll(async () => {
    image = await makeOciImage({
      platforms: ['linux/amd64', 'linux/arm64'],
      layers: 2,
      layerSize: 300_000,
      seed: randomBytes(4).toString('hex'),
      tag: 'v1',
    });
    src = repoName('faults');
    await pushImage(image, `${reg.anon}/${src}:v1`);
  }, 60_000);

  test('503, 429 with Retry-After, resets before and mid-body: retried, copy correct', async () => {
    const srcProxy = await startFaultProxy(`http://${reg.anon}`);
    const dstProxy = await startFaultProxy(`http://${reg.anon}`);
    try {
      const layer = image.images[0]!.layers[0]!.digest;
      srcProxy.inject({ fault: { kind: 'status', status: 503 }, times: 2, path: /\/manifests\// });
      srcProxy.inject({ fault: { kind: 'reset-mid-body' }, times: 1, method: 'GET', path: new RegExp(`/blobs/${layer}`) });
      srcProxy.inject({ fault: { kind: 'reset-before' }, times: 1, method: 'GET', path: /\/blobs\// });
      dstProxy.inject({ fault: { kind: 'status', status: 429, retryAfter: 1 }, times: 1, method: 'POST' });
      dstProxy.inject({ fault: { kind: 'reset-before' }, times: 1, method: 'PUT', path: /\/blobs\/uploads\// });
      dstProxy.inject({ fault: { kind: 'status', status: 502 }, times: 1, method: 'PUT', path: /\/manifests\// });
      const dst = repoName('faults');
      const c = ctx();
      const out = await runCopyImage(inputs(`${srcProxy.host}/${src}:v1`, `${dstProxy.host}/${dst}:v1`), c, deps);
      expect(out.outputs.digest).toBe(image.top.digest);
      expect(srcProxy.seen.filter((r) => r.fault).length).toBe(4);
      expect(dstProxy.seen.filter((r) => r.fault).length).toBe(3);
      expect(await remoteDigest(`${reg.anon}/${dst}:v1`)).toBe(image.top.digest);
    } finally {
      await srcProxy.close();
      await dstProxy.close();
    }
  }, 60_000);

  test('one corrupted byte in a layer is caught by its digest and the blob fetched again', async () => {
    const proxy = await startFaultProxy(`http://${reg.anon}`);
    try {
      const layer = image.images[1]!.layers[1]!.digest;
      proxy.inject({ fault: { kind: 'corrupt' }, times: 1, method: 'GET', path: new RegExp(`/blobs/${layer}`) });
      const dst = repoName('corrupt-once');
      const c = ctx();
      await runCopyImage(inputs(`${proxy.host}/${src}:v1`, `${reg.anon}/${dst}:v1`), c, deps);
      expect(proxy.seen.filter((r) => r.fault === 'corrupt').length).toBe(1);
      expect(c.log.lines.some((l) => l.startsWith(`warning: blob ${layer}`) && l.includes('digest mismatch'))).toBe(true);
      expect(await remoteDigest(`${reg.anon}/${dst}:v1`)).toBe(image.top.digest);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  test('a layer corrupted on every attempt fails the copy with its digest; the tag never exists', async () => {
    const proxy = await startFaultProxy(`http://${reg.anon}`);
    try {
      const layer = image.images[0]!.layers[1]!.digest;
      proxy.inject({ fault: { kind: 'corrupt' }, times: 1000, method: 'GET', path: new RegExp(`/blobs/${layer}`) });
      const dst = repoName('corrupt-always');
      const err = await runCopyImage(inputs(`${proxy.host}/${src}:v1`, `${reg.anon}/${dst}:v1`), ctx(), deps).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as Error).message).toMatch(
        new RegExp(`^blob ${layer} from ${proxy.host}/${src}: digest mismatch, expected ${layer}, got sha256:[0-9a-f]{64}$`),
      );
      expect(await rawStatus(`http://${reg.anon}/v2/${dst}/manifests/v1`)).toBe(404);
      expect(await rawStatus(`http://${reg.anon}/v2/${dst}/blobs/${layer}`)).toBe(404);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  test('a manifest corrupted in transit is refused (Docker-Content-Digest disagrees), nothing written', async () => {
    const proxy = await startFaultProxy(`http://${reg.anon}`);
    try {
      proxy.inject({ fault: { kind: 'corrupt' }, times: 1000, method: 'GET', path: /\/manifests\/v1$/ });
      const dst = repoName('corrupt-manifest');
      const err = await runCopyImage(inputs(`${proxy.host}/${src}:v1`, `${reg.anon}/${dst}:v1`), ctx(), deps).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as Error).message).toContain(`manifest ${proxy.host}/${src}:v1: digest mismatch, expected ${image.top.digest}`);
      expect(await rawStatus(`http://${reg.anon}/v2/${dst}/manifests/v1`)).toBe(404);
    } finally {
      await proxy.close();
    }
  }, 60_000);
});

describe('copy-image refuses bad input in one line', () => {
  test('wrong password on the basic registry names the registry, never the secret', async () => {
    const secret = `wrong-${randomBytes(6).toString('hex')}`;
    const c = ctx();
    const err = await runCopyImage(
      inputs(`${reg.basic}/relay-it/nothing:v1`, `${reg.anon}/relay-it/x:v1`, { 'source-username': reg.user, 'source-password': secret }),
      c,
    ).catch((e: unknown) => e);
    // The registry's own refusal: a RegistryError of kind auth (exit 1).
    expect(err).toBeInstanceOf(RelayError);
    expect((err as RelayError).kind).toBe('auth');
    expect((err as Error).message).toBe(
      `registry ${reg.basic}: credentials from input 'source-password' rejected for GET /v2/relay-it/nothing/manifests/v1 (HTTP 401 UNAUTHORIZED)`,
    );
    expect(JSON.stringify(c.log.lines)).not.toContain(secret);
  });

  test('wrong password at the token service names the registry and the token service, never the secret', async () => {
    const secret = `wrong-${randomBytes(6).toString('hex')}`;
    const c = ctx({ DOCKER_CONFIG: await dockerConfig({ [reg.token]: `${reg.user}:${secret}` }) });
    const err = await runCopyImage(inputs(`${reg.token}/relay-it/nothing:v1`, `${reg.anon}/relay-it/x:v1`), c).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as Error).message).toBe(
      `registry ${reg.token}: token service 127.0.0.1:5004 refused credentials from docker config (HTTP 401)`,
    );
    expect((err as Error).message).not.toContain(secret);
  });

  test('no credentials for a registry that needs them', async () => {
    const err = await runCopyImage(
      inputs(`${reg.basic}/relay-it/nothing:v1`, `${reg.anon}/relay-it/x:v1`),
      ctx({ DOCKER_CONFIG: await dockerConfig({}) }),
    ).catch((e: unknown) => e);
    expect((err as Error).message).toBe(
      `registry ${reg.basic}: anonymous access (no credentials) rejected for GET /v2/relay-it/nothing/manifests/v1 (HTTP 401 UNAUTHORIZED)`,
    );
  });

  test('pull-only token account cannot push: the refusal names the registry', async () => {
    const src = repoName('pull-only');
    const img = await makeOciImage({ layers: 1, layerSize: 1000, seed: randomBytes(4).toString('hex'), tag: 'v1' });
    await pushImage(img, `${reg.anon}/${src}:v1`);
    const c = ctx({ DOCKER_CONFIG: await dockerConfig({ [reg.token]: `${reg.pullUser}:${reg.pullPass}` }) });
    const err = await runCopyImage(inputs(`${reg.anon}/${src}:v1`, `${reg.token}/${repoName('denied')}:v1`), c).catch((e: unknown) => e);
    // The registry's own refusal: a RegistryError of kind auth (exit 1).
    expect(err).toBeInstanceOf(RelayError);
    expect((err as RelayError).kind).toBe('auth');
    expect((err as Error).message).toMatch(
      new RegExp(
        `^registry ${reg.token.replace(/\./g, '\\.')}: credentials from docker config (rejected|not allowed) for (POST|PUT) /v2/relay-it/denied-[0-9a-f]+/`,
      ),
    );
  });

  test.each([
    [
      '127.0.0.1:5002/Relay/App:v1',
      `input 'source': expected registry/repository[:tag][@sha256:<hex>] (the repository must be lowercase path components: [a-z0-9] separated by . _ __ or -), got "127.0.0.1:5002/Relay/App:v1"`,
    ],
    [
      '127.0.0.1:5002/app@sha256:1234',
      `input 'source': expected registry/repository[:tag][@sha256:<hex>] (the digest must be sha256:<64 lowercase hex>), got "127.0.0.1:5002/app@sha256:1234"`,
    ],
  ])('malformed reference %s', async (source, msg) => {
    await expect(runCopyImage(inputs(source, `${reg.anon}/x:v1`), ctx())).rejects.toThrow(msg);
  });

  test('a source tag that does not exist', async () => {
    const repo = repoName('missing');
    await expect(runCopyImage(inputs(`${reg.anon}/${repo}:nope`, `${reg.anon}/${repo}-copy:v1`), ctx())).rejects.toThrow(
      `source ${reg.anon}/${repo}:nope: not found`,
    );
  });
});
