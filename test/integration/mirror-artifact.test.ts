// mirror-artifact against real CNCF distribution registries as mirrors (Basic,
// token auth, anonymous twice, and one behind the fault proxy that fails
// mid-run), with counting proxies proving the source is read once and a
// no-op re-run makes no manifest or blob GET, and skopeo confirming digests on
// every mirror. Docker Hub's and quay's description APIs cannot be reached
// here: local stand-ins play them, and those tests say "stand-in".
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ConflictError, GateError, InputError, NullLogger, exitCodeOfStatus, planHash, statusOf } from '../../packages/core/src/index.js';
import type { Clients, Context, Result } from '../../packages/core/src/index.js';
import { mirrorArtifact } from '../../packages/core/src/operations/index.js';
import { startCountingProxy, writes, type CountingProxy } from '../support/counting-proxy.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { attachSignatureAndSbom, type Attached } from '../support/oci-attach.js';
import { makeOciImage, pushImage, remoteDigest, type OciImage } from '../support/oci-images.js';
import { registries, type RegistrySettings } from '../support/servers.js';
import { captured, secret } from '../support/leaks.js';
import { renderText } from '../../packages/core/src/index.js';

// Waits on servers, processes and the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(120_000);

/** Runs the operation and hands everything it said (outputs, report, log, refusal) to the suite's secret scan. */
async function runMirror(inp: Inputs, c: Context & { log: NullLogger }): Promise<Result> {
  try {
    const r = await mirrorArtifact.run(inp, c);
    captured(JSON.stringify(r.outputs), renderText(r.report), ...c.log.lines);
    return r;
  } catch (err) {
    captured((err as Error).message, ...c.log.lines);
    throw err;
  }
}

const run = promisify(execFile);
type Inputs = Parameters<typeof mirrorArtifact.run>[0];

let reg: RegistrySettings;
let creds: string;
const work = { dir: '' };
const fast: Clients = { http: { retry: { baseMs: 20, maxMs: 200 } } };

beforeAll(async () => {
  reg = registries();
  creds = `${reg.user}:${secret(reg.pass)}`;
  work.dir = await mkdtemp(path.join(tmpdir(), 'relay-mirror-it-'));
});

function inputs(config: string, more: Partial<Inputs> = {}): Inputs {
  return {
    config,
    version: undefined,
    tiers: [],
    mode: 'sync',
    'dry-run': false,
    'require-signature': false,
    parallel: 6,
    shard: undefined,
    'fail-fast': false,
    'expect-plan': undefined,
    'insecure-registries': [],
    ...more,
  };
}

function ctx(env: Record<string, string | undefined> = {}): Context & { log: NullLogger } {
  return { log: new NullLogger(), env, cwd: work.dir, clients: fast };
}

async function mirrorFile(name: string, text: string): Promise<string> {
  const file = `${name}-${randomBytes(3).toString('hex')}.yml`;
  await writeFile(path.join(work.dir, file), text);
  return file;
}

async function dockerConfig(entries: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'relay-dockercfg-'));
  const auths = Object.fromEntries(Object.entries(entries).map(([host, up]) => [host, { auth: Buffer.from(up).toString('base64') }]));
  await writeFile(path.join(dir, 'config.json'), JSON.stringify({ auths }));
  return dir;
}

async function skopeoRaw(ref: string, credsArg?: string): Promise<Buffer> {
  const { stdout } = await run(
    'skopeo',
    ['--insecure-policy', 'inspect', '--raw', '--tls-verify=false', ...(credsArg ? ['--creds', credsArg] : []), `docker://${ref}`],
    { encoding: 'buffer', maxBuffer: 16 << 20 },
  );
  return stdout;
}

async function status(url: string, method = 'HEAD', auth?: string): Promise<number> {
  const res = await fetch(url, {
    method,
    headers: {
      accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json',
      ...(auth && { authorization: `Basic ${Buffer.from(auth).toString('base64')}` }),
    },
  });
  return res.status;
}

type Row = { image: string; tag: string; target: string; status: string; why: string; reference: string };
const rows = (r: Result): Row[] => (r.outputs.results as unknown as { rows: Row[] }).rows;
const byTarget = (r: Result): Record<string, string> => Object.fromEntries(rows(r).map((x) => [x.target, x.status]));
const targetsOut = (r: Result): Record<string, { transfer?: Record<string, number>; labels?: string[]; probe: Record<string, string> }> =>
  r.outputs.targets as never;
const contentGets = (p: CountingProxy | FaultProxy): string[] =>
  p.seen.filter((r) => r.method === 'GET' && /\/(manifests|blobs)\//.test(r.path)).map((r) => r.path);

/** A two-platform image with a cosign signature tag and an SBOM referrer, pushed to the anonymous registry. */
async function sourceImage(tag = '1.0.0'): Promise<{ image: OciImage; repo: string; attached: Attached }> {
  const image = await makeOciImage({
    platforms: ['linux/amd64', 'linux/arm64'],
    layers: 3,
    layerSize: 300_000,
    seed: randomBytes(4).toString('hex'),
    tag,
  });
  const repo = `relay-it/mirror-src-${randomBytes(4).toString('hex')}`;
  await pushImage(image, `${reg.anon}/${repo}:${tag}`);
  const attached = await attachSignatureAndSbom(reg.anon, repo, image.top);
  return { image, repo, attached };
}

describe('mirror-artifact sync and check across four registries', () => {
  let src: { image: OciImage; repo: string; attached: Attached };
  let srcProxy: CountingProxy;
  let pBasic: CountingProxy;
  let pToken: CountingProxy;
  let pAnon: CountingProxy;
  let flaky: FaultProxy;
  let file: string;
  let env: Record<string, string>;
  const id = randomBytes(3).toString('hex');
  const repoOf = (t: string): string => `relay-it/m-${id}-${t}/app`;

  beforeAll(async () => {
    src = await sourceImage();
    srcProxy = await startCountingProxy(`http://${reg.anon}`);
    pBasic = await startCountingProxy(`http://${reg.basic}`);
    pToken = await startCountingProxy(`http://${reg.token}`);
    pAnon = await startCountingProxy(`http://${reg.anon}`);
    flaky = await startFaultProxy(`http://${reg.anon}`);
    env = { IT_USER: reg.user, IT_PASS: reg.pass, DOCKER_CONFIG: await dockerConfig({ [pToken.host]: creds }) };
    file = await mirrorFile(
      'mirror',
      `version: 1
targets:
  basic: { registry: "${pBasic.host}", repository: "relay-it/m-${id}-basic/{name}", username-env: IT_USER, password-env: IT_PASS }
  token: { registry: "${pToken.host}", repository: "relay-it/m-${id}-token/{name}" }
  anon: { registry: "${pAnon.host}", repository: "relay-it/m-${id}-anon/{name}" }
  anon2: { registry: "${pAnon.host}", repository: "relay-it/m-${id}-anon2/{name}" }
  flaky: { registry: "${flaky.host}", repository: "relay-it/m-${id}-flaky/{name}" }
tiers:
  gold: [basic, token, anon, anon2, flaky]
images:
  - name: app
    source: "${srcProxy.host}/${src.repo}"
    tier: gold
    tags: ["1.0.0"]
    platforms: [linux/amd64, linux/arm64]
`,
    );
  }, 120_000);

  afterAll(async () => {
    await Promise.all([srcProxy, pBasic, pToken, pAnon, flaky].filter(Boolean).map((p) => p.close()));
  });

  test('source read once, content to every target, tags only where verified; the failing target gets no tag; skopeo confirms every mirror', async () => {
    // The flaky target drops every upload of one layer: it fails mid-run, after other blobs landed.
    const layer = src.image.images[1]!.layers[2]!.digest;
    flaky.inject({
      fault: { kind: 'reset-before' },
      times: 1000,
      method: 'PUT',
      path: new RegExp(`digest=sha256(:|%3A)${layer.slice(7)}`),
    });
    const out = await runMirror(inputs(file), ctx(env));

    expect(out.report.status).toBe('failed');
    expect(byTarget(out)).toEqual({ basic: 'created', token: 'created', anon: 'created', anon2: 'created', flaky: 'failed' });
    expect(rows(out).find((r) => r.target === 'flaky')!.why).toMatch(new RegExp(`^blob ${layer.slice(0, 19)}: `));
    expect(out.outputs.counts).toMatchObject({ created: 4, failed: 1 });
    expect(out.outputs.digests).toEqual(
      ['basic', 'token', 'anon', 'anon2'].map(
        (t) =>
          `${({ basic: pBasic, token: pToken, anon: pAnon, anon2: pAnon } as Record<string, CountingProxy>)[t]!.host}/${repoOf(t)}:1.0.0@${src.image.top.digest}`,
      ),
    );

    // Every source blob crossed the source proxy exactly once, for five targets.
    const blobGets = srcProxy.seen.filter((r) => r.method === 'GET' && r.path.includes('/blobs/'));
    const sizes = new Map<string, number>();
    for (const img of src.image.images) for (const d of [img.config, ...img.layers]) sizes.set(d.digest, d.size);
    for (const b of src.attached.blobs) sizes.set(b.digest, b.size);
    expect(blobGets.map((r) => r.path.split('/blobs/')[1]).sort()).toEqual([...sizes.keys()].sort());
    const total = [...sizes.values()].reduce((a, b) => a + b, 0);
    expect(blobGets.reduce((n, r) => n + r.bytes, 0)).toBe(total);
    expect((out.outputs.counts as Record<string, number>)['source-bytes']).toBe(total);

    // Within one registry the blob is uploaded once and mounted into the other repository.
    const t = targetsOut(out);
    expect(t.anon!.transfer!.blobsCopied! + t.anon2!.transfer!.blobsCopied!).toBe(sizes.size);
    expect(t.anon!.transfer!.blobsMounted! + t.anon2!.transfer!.blobsMounted!).toBe(sizes.size);
    expect(t.anon!.probe.mounts! + t.anon2!.probe.mounts!).toMatch(/honoured/);
    expect(t.basic!.probe.referrers).toMatch(/^missing \(tag fallback\)/);

    // skopeo, straight at each registry: same digests everywhere, signature tag and SBOM referrer carried.
    const hex = src.image.top.digest.slice(7);
    const mirrors: [string, string | undefined][] = [
      [`${reg.basic}/${repoOf('basic')}`, creds],
      [`${reg.token}/${repoOf('token')}`, creds],
      [`${reg.anon}/${repoOf('anon')}`, undefined],
      [`${reg.anon}/${repoOf('anon2')}`, undefined],
    ];
    for (const [m, c] of mirrors) {
      expect(await remoteDigest(`${m}:1.0.0`, c)).toBe(src.image.top.digest);
      for (const img of src.image.images) expect(await remoteDigest(`${m}@${img.manifest.digest}`, c)).toBe(img.manifest.digest);
      expect(await remoteDigest(`${m}:sha256-${hex}.sig`, c)).toBe(src.attached.sig);
      expect(await remoteDigest(`${m}@${src.attached.sbom}`, c)).toBe(src.attached.sbom);
      const index = JSON.parse((await skopeoRaw(`${m}:sha256-${hex}`, c)).toString()) as { manifests: { digest: string }[] };
      expect(index.manifests.map((d) => d.digest)).toEqual([src.attached.sbom]);
    }
    // The failed target shows no tag: neither the version nor the signature.
    expect(await status(`http://${reg.anon}/v2/${repoOf('flaky')}/manifests/1.0.0`)).toBe(404);
    expect(await status(`http://${reg.anon}/v2/${repoOf('flaky')}/manifests/sha256-${hex}.sig`)).toBe(404);

    // The report: a grid of images × targets and the one-line reason.
    const grid = out.report.sections.find((s) => s.heading === 'Mirrors (images × targets)');
    expect(grid && 'table' in grid ? grid.table : undefined).toEqual({
      head: ['image:tag', 'basic', 'token', 'anon', 'anon2', 'flaky'],
      rows: [['app:1.0.0', 'created', 'created', 'created', 'created', 'failed']],
    });
  }, 180_000);

  test('the next run completes the failed target; then a re-run is a no-op with no manifest or blob GET and no write on any target', async () => {
    flaky.reset();
    const again = await runMirror(inputs(file), ctx(env));
    expect(byTarget(again)).toEqual({
      basic: 'up to date',
      token: 'up to date',
      anon: 'up to date',
      anon2: 'up to date',
      flaky: 'created',
    });
    expect(again.report.status).toBe('done');
    expect(await remoteDigest(`${reg.anon}/${repoOf('flaky')}:1.0.0`)).toBe(src.image.top.digest);

    for (const p of [pBasic, pToken, pAnon, flaky, srcProxy]) p.reset();
    const noop = await runMirror(inputs(file), ctx(env));
    expect(noop.report.status).toBe('no-op');
    expect(new Set(Object.values(byTarget(noop)))).toEqual(new Set(['up to date']));
    for (const p of [pBasic, pToken, pAnon, flaky]) {
      expect(contentGets(p)).toEqual([]);
      expect(p.seen.filter((r) => r.method !== 'GET' && r.method !== 'HEAD')).toEqual([]);
    }
    // Nothing was read from the source but manifests: no blob.
    expect(srcProxy.seen.filter((r) => r.method === 'GET' && r.path.includes('/blobs/'))).toEqual([]);
  }, 120_000);

  test('check classifies a deleted tag, a moved tag, a deleted signature and an unreachable mirror, writes nothing, and reports drift', async () => {
    const clean = await runMirror(inputs(file, { mode: 'check' }), ctx(env));
    expect(clean.report.status).toBe('done');
    expect(new Set(Object.values(byTarget(clean)))).toEqual(new Set(['ok']));

    // basic: the tag deleted (with the manifest it named).
    expect(await status(`http://${reg.basic}/v2/${repoOf('basic')}/manifests/${src.image.top.digest}`, 'DELETE', creds)).toBe(202);
    // anon: the tag moved to other content.
    const other = await makeOciImage({ layers: 1, layerSize: 5000, seed: randomBytes(4).toString('hex'), tag: '1.0.0' });
    await pushImage(other, `${reg.anon}/${repoOf('anon')}:1.0.0`);
    // anon2: the signature deleted.
    expect(await status(`http://${reg.anon}/v2/${repoOf('anon2')}/manifests/${src.attached.sig}`, 'DELETE')).toBe(202);

    const withGone = await mirrorFile(
      'mirror-check',
      (await import('node:fs/promises').then((fs) => fs.readFile(path.join(work.dir, file), 'utf8')))
        .replace('tiers:\n  gold: [basic, token, anon, anon2, flaky]', 'tiers:\n  gold: [basic, token, anon, anon2, flaky, gone]')
        .replace('targets:\n', 'targets:\n  gone: { registry: "127.0.0.1:9", repository: "relay-it/gone/{name}" }\n'),
    );
    for (const p of [pBasic, pToken, pAnon, flaky]) p.reset();
    const drift = await runMirror(inputs(withGone, { mode: 'check' }), ctx(env));
    expect(drift.report.status).toBe('drift');
    expect(byTarget(drift)).toEqual({
      basic: 'missing',
      token: 'ok',
      anon: 'moved',
      anon2: 'incomplete',
      flaky: 'ok',
      gone: 'unreachable',
    });
    const why = Object.fromEntries(rows(drift).map((r) => [r.target, r.why]));
    expect(why.anon).toBe(
      `${pAnon.host}/${repoOf('anon')}:1.0.0 is ${other.top.digest.slice(0, 19)}, the source's is ${src.image.top.digest.slice(0, 19)}`,
    );
    expect(why.anon2).toBe(`signature sha256-${src.image.top.digest.slice(7)}.sig missing`);
    expect(why.gone).toMatch(/127\.0\.0\.1:9/);
    expect(drift.outputs.counts).toEqual({ ok: 2, missing: 1, moved: 1, incomplete: 1, unreachable: 1 });
    const grid = drift.report.sections.find((s) => s.heading === 'Drift (images × targets)');
    expect(grid && 'table' in grid ? grid.table.rows : undefined).toEqual([
      ['app:1.0.0', 'missing', 'ok', 'moved', 'incomplete', 'ok', 'unreachable'],
    ]);
    for (const p of [pBasic, pToken, pAnon, flaky]) expect(p.seen.filter((r) => r.method !== 'GET' && r.method !== 'HEAD')).toEqual([]);
  }, 120_000);
});

describe('mirror-artifact refusals before any write', () => {
  let src: { image: OciImage; repo: string; attached: Attached };
  beforeAll(async () => {
    src = await sourceImage();
  }, 60_000);

  test('a Docker Hub-style ratelimit-remaining too low for the plan refuses the run, saying how many pulls it needs, nothing written', async () => {
    const hub = await startCountingProxy(`http://${reg.anon}`);
    try {
      hub.addHeaders({ 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '2;w=21600', 'docker-ratelimit-source': '203.0.113.7' });
      const repo = `relay-it/quota-${randomBytes(3).toString('hex')}`;
      const file = await mirrorFile(
        'quota',
        `targets:\n  hub: { registry: "${hub.host}", repository: "${repo}/{name}" }\ntiers:\n  gold: [hub]\nimages:\n  - { name: app, source: "${reg.anon}/${src.repo}", tier: gold, tags: ["1.0.0"] }\n`,
      );
      const err = await runMirror(inputs(file), ctx()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GateError);
      // index + 2 platform manifests + signature + SBOM: each read back once after it is written.
      expect((err as Error).message).toBe(
        `registry ${hub.host} (target hub): the plan needs 5 pulls (a read-back GET of each manifest it writes) but only 2 remain (ratelimit-remaining: 2;w=21600, limit 100;w=21600); nothing written`,
      );
      expect(writes(hub.seen)).toEqual([]);
      expect(contentGets(hub)).toEqual([]);
      expect(await status(`http://${reg.anon}/v2/${repo}/app/manifests/${src.image.top.digest}`)).toBe(404);
    } finally {
      await hub.close();
    }
  }, 60_000);

  test.each([
    [
      'an unknown field',
      (t: string) => t.replace('tier: gold', 'tier: gold\n    tagz: ["1.0.0"]'),
      /^bad-[0-9a-f]+\.yml:9: images\[0\]\.tagz: unknown field \(did you mean 'tags'\?\)/,
    ],
    [
      'an unknown tier',
      (t: string) => t.replace('tier: gold', 'tier: platinum'),
      /^bad-[0-9a-f]+\.yml:8: images\[0\]\.tier: unknown tier 'platinum' \(tiers: gold\)$/,
    ],
    [
      'a bad template',
      (t: string) => t.replace('/{name}"', '/{nam}"'),
      /^bad-[0-9a-f]+\.yml:2: targets\.hub\.repository: unknown placeholder \{nam\}/,
    ],
    [
      'a missing credential variable',
      (t: string) => t.replace(' }\ntiers', ', username-env: IT_USER, password-env: IT_NOT_SET }\ntiers'),
      /^bad-[0-9a-f]+\.yml:2: targets\.hub\.password-env: environment variable IT_NOT_SET is not set \(target 'hub' needs it\)$/,
    ],
  ])('a mirror file with %s is refused in one line with file and line, before any request', async (_, edit, expected) => {
    const proxy = await startCountingProxy(`http://${reg.anon}`);
    try {
      const good = `targets:\n  hub: { registry: "${proxy.host}", repository: "relay-it/bad/{name}" }\ntiers:\n  gold: [hub]\nimages:\n  - name: app\n    source: "${proxy.host}/${src.repo}"\n    tier: gold\n    tags: ["1.0.0"]\n`;
      const file = await mirrorFile('bad', edit(good));
      const err = await runMirror(inputs(file), ctx({ IT_USER: 'u' })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message.split('\n')).toHaveLength(1);
      expect((err as Error).message).toMatch(expected);
      expect(proxy.seen).toEqual([]);
    } finally {
      await proxy.close();
    }
  });
});

/** Docker Hub's repository API as far as Relay uses it: login, read, PATCH the description. */
class HubStandIn {
  descriptions = new Map<string, string>();
  calls: string[] = [];
  url = '';
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString()) as Record<string, string>) : {};
      this.calls.push(`${req.method} ${req.url}`);
      const json = (status: number, v: unknown): void =>
        void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(v));
      if (req.method === 'POST' && req.url === '/v2/users/login') {
        return body.username === 'hubuser' && body.password === 'hubtoken-standin'
          ? json(200, { token: 'jwt-standin' })
          : json(401, { detail: 'Incorrect authentication credentials' });
      }
      if (req.headers.authorization !== 'Bearer jwt-standin') return json(401, { detail: 'authentication required' });
      const m = /^\/v2\/repositories\/(.+)\/$/.exec(req.url ?? '');
      if (!m) return json(404, { detail: 'not found' });
      if (req.method === 'PATCH') this.descriptions.set(m[1]!, body.description!);
      return json(200, { name: m[1], description: this.descriptions.get(m[1]!) ?? '' });
    });
  });
  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** quay.io's repository API: GET and PUT /api/v1/repository/<ns>/<name> with an OAuth bearer token. */
class QuayStandIn {
  descriptions = new Map<string, string>();
  calls: string[] = [];
  url = '';
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      this.calls.push(`${req.method} ${req.url}`);
      const json = (status: number, v: unknown): void =>
        void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(v));
      if (req.headers.authorization !== 'Bearer quay-oauth-standin') return json(401, { error: 'invalid token' });
      const m = /^\/api\/v1\/repository\/(.+)$/.exec(req.url ?? '');
      if (!m) return json(404, { error: 'not found' });
      if (req.method === 'PUT')
        this.descriptions.set(m[1]!, (JSON.parse(Buffer.concat(chunks).toString()) as { description: string }).description);
      return json(200, { namespace: m[1]!.split('/')[0], description: this.descriptions.get(m[1]!) ?? null });
    });
  });
  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

describe('mirror-artifact labels, filters, shards, dry run, fail-fast', () => {
  let src: { image: OciImage; repo: string; attached: Attached };
  beforeAll(async () => {
    src = await sourceImage();
  }, 60_000);

  test('labels: the Docker Hub and quay description API stand-ins get the mirror label once; a registry without one is reported', async () => {
    const hub = new HubStandIn();
    const quay = new QuayStandIn();
    await hub.start();
    await quay.start();
    try {
      const id = randomBytes(3).toString('hex');
      const file = await mirrorFile(
        'labels',
        `label: "Mirror of {source} ({target}). Not run by the vendor."
targets:
  hubby: { registry: "${reg.anon}", repository: "relay-it/l-${id}-hub/{name}", username-env: HUB_USER, password-env: HUB_TOKEN, description-api: { kind: dockerhub, url: "${hub.url}" } }
  quayish: { registry: "${reg.anon}", repository: "relay-it/l-${id}-quay/{name}", description-api: { kind: quay, url: "${quay.url}", token-env: QUAY_TOKEN } }
  plain: { registry: "${reg.basic}", repository: "relay-it/l-${id}-plain/{name}", username-env: IT_USER, password-env: IT_PASS }
tiers:
  gold: [hubby, quayish, plain]
images:
  - { name: app, source: "${reg.anon}/${src.repo}", tier: gold, tags: ["1.0.0"] }
`,
      );
      const env = {
        HUB_USER: 'hubuser',
        HUB_TOKEN: secret('hubtoken-standin'),
        QUAY_TOKEN: secret('quay-oauth-standin'),
        IT_USER: reg.user,
        IT_PASS: reg.pass,
      };
      secret('jwt-standin');
      const c = ctx(env);
      const out = await runMirror(inputs(file), c);
      expect(out.report.status).toBe('done');
      const source = `${reg.anon}/${src.repo}`;
      expect(hub.descriptions.get(`relay-it/l-${id}-hub/app`)).toBe(`Mirror of ${source} (hubby). Not run by the vendor.`);
      expect(quay.descriptions.get(`relay-it/l-${id}-quay/app`)).toBe(`Mirror of ${source} (quayish). Not run by the vendor.`);
      const t = targetsOut(out);
      expect(t.hubby!.labels).toEqual(['set']);
      expect(t.quayish!.labels).toEqual(['set']);
      expect(t.plain!.labels).toEqual([`unsupported: ${reg.basic} has no repository-description API Relay knows`]);
      expect(JSON.stringify(c.log.lines)).not.toContain('jwt-standin');

      hub.calls = [];
      quay.calls = [];
      const again = await runMirror(inputs(file), ctx(env));
      expect(targetsOut(again).hubby!.labels).toEqual(['unchanged']);
      expect(targetsOut(again).quayish!.labels).toEqual(['unchanged']);
      expect(hub.calls.filter((x) => x.startsWith('PATCH'))).toEqual([]);
      expect(quay.calls.filter((x) => x.startsWith('PUT'))).toEqual([]);
    } finally {
      await hub.close();
      await quay.close();
    }
  }, 120_000);

  test('a semver tag filter, a version, shards that split the list, and a dry run that writes nothing', async () => {
    const repo = `relay-it/mirror-tags-${randomBytes(3).toString('hex')}`;
    const digests: Record<string, string> = {};
    for (const tag of ['1.0.0', '1.1.0', '2.0.0']) {
      const img = await makeOciImage({ layers: 1, layerSize: 2000, seed: randomBytes(4).toString('hex'), tag });
      await pushImage(img, `${reg.anon}/${repo}:${tag}`);
      digests[tag] = img.top.digest;
    }
    const target = await startCountingProxy(`http://${reg.anon}`);
    try {
      const dst = `relay-it/mirror-tags-dst-${randomBytes(3).toString('hex')}`;
      const file = await mirrorFile(
        'tags',
        `targets:\n  t: { registry: "${target.host}", repository: "${dst}/{name}" }\ntiers:\n  gold: [t]\nimages:\n  - { name: app, source: "${reg.anon}/${repo}", tier: gold, tag-filter: { semver: "^1" } }\n`,
      );
      const dry = await runMirror(inputs(file, { 'dry-run': true }), ctx());
      expect(dry.report.status).toBe('dry-run');
      expect(rows(dry).map((r) => [r.tag, r.status])).toEqual([
        ['1.0.0', 'would create'],
        ['1.1.0', 'would create'],
      ]);
      expect(writes(target.seen)).toEqual([]);

      // The approved dry run binds the apply: another hash refuses before writing, the same one runs.
      const err = await runMirror(inputs(file, { 'expect-plan': '0'.repeat(64) }), ctx()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConflictError);
      expect((err as Error).message).toMatch(
        /^plan changed since it was approved: expected 0{64}, now [0-9a-f]{64} \(the files, the signing key, the store or a registry changed in between; run the plan again\)$/,
      );
      expect(writes(target.seen)).toEqual([]);
      expect(dry.outputs['plan-hash']).toBe(planHash(dry.plan));
      const applied = await runMirror(inputs(file, { 'expect-plan': dry.outputs['plan-hash'] as string }), ctx());
      expect(applied.report.status).toBe('done');
      expect(applied.outputs['plan-hash']).toBe(dry.outputs['plan-hash']);

      const one = await runMirror(inputs(file, { shard: '1/2' }), ctx());
      const two = await runMirror(inputs(file, { shard: '2/2' }), ctx());
      expect(rows(one).map((r) => r.tag)).toEqual(['1.0.0']);
      expect(rows(two).map((r) => r.tag)).toEqual(['1.1.0']);
      expect(await remoteDigest(`${reg.anon}/${dst}/app:1.0.0`)).toBe(digests['1.0.0']);
      expect(await remoteDigest(`${reg.anon}/${dst}/app:1.1.0`)).toBe(digests['1.1.0']);
      expect(await status(`http://${reg.anon}/v2/${dst}/app/manifests/2.0.0`)).toBe(404);

      const v = await runMirror(inputs(file, { version: 'v1.1.0', mode: 'check' }), ctx());
      expect(rows(v).map((r) => [r.tag, r.status])).toEqual([['1.1.0', 'ok']]);
      await expect(runMirror(inputs(file, { version: '2.0.0' }), ctx())).rejects.toThrow(
        `input 'version': expected a version named by an image's tags or tag-filter in this run's tiers, got "2.0.0"`,
      );
    } finally {
      await target.close();
    }
  }, 120_000);

  test('fail-fast: the first failure stops the run before any tag moves anywhere', async () => {
    const flaky = await startFaultProxy(`http://${reg.anon}`);
    try {
      flaky.inject({ fault: { kind: 'status', status: 500 }, times: 1000, method: 'PUT', path: /\/blobs\/uploads\// });
      const id = randomBytes(3).toString('hex');
      const file = await mirrorFile(
        'failfast',
        `targets:\n  good: { registry: "${reg.anon}", repository: "relay-it/ff-${id}-good/{name}" }\n  bad: { registry: "${flaky.host}", repository: "relay-it/ff-${id}-bad/{name}" }\ntiers:\n  gold: [good, bad]\nimages:\n  - { name: app, source: "${reg.anon}/${src.repo}", tier: gold, tags: ["1.0.0"] }\n`,
      );
      const out = await runMirror(inputs(file, { 'fail-fast': true, parallel: 1 }), ctx());
      expect(out.report.status).toBe('failed');
      expect(byTarget(out).bad).toBe('failed');
      expect(byTarget(out).good).toBe('skipped');
      expect(await status(`http://${reg.anon}/v2/relay-it/ff-${id}-good/app/manifests/1.0.0`)).toBe(404);
    } finally {
      await flaky.close();
    }
  }, 60_000);
});

describe('mirror-artifact: a tag that still resolves over content deleted under it', () => {
  test('a platform manifest and a referrer deleted from a mirror: check names each (exit 4), sync puts them back, the next sync is a no-op', async () => {
    const src = await sourceImage();
    const target = await startCountingProxy(`http://${reg.anon}`);
    try {
      const id = randomBytes(3).toString('hex');
      const repo = `relay-it/r-${id}/app`;
      const file = await mirrorFile(
        'repair',
        `targets:\n  t: { registry: "${target.host}", repository: "relay-it/r-${id}/{name}" }\ntiers:\n  gold: [t]\nimages:\n  - { name: app, source: "${reg.anon}/${src.repo}", tier: gold, tags: ["1.0.0"], platforms: [linux/amd64, linux/arm64] }\n`,
      );
      const first = await runMirror(inputs(file), ctx());
      expect(byTarget(first)).toEqual({ t: 'created' });
      const clean = await runMirror(inputs(file, { mode: 'check' }), ctx());
      expect(rows(clean).map((r) => [r.status, r.why])).toEqual([['ok', '']]);
      expect(exitCodeOfStatus(statusOf(clean))).toBe(0);

      // Straight at the registry, under the proxy: the tag keeps resolving to the index.
      const arm64 = src.image.images[1]!;
      const at = `http://${reg.anon}/v2/${repo}`;
      expect(await status(`${at}/manifests/${arm64.manifest.digest}`, 'DELETE')).toBe(202);
      expect(await status(`${at}/manifests/${src.attached.sbom}`, 'DELETE')).toBe(202);
      expect(await remoteDigest(`${reg.anon}/${repo}:1.0.0`)).toBe(src.image.top.digest);
      expect(await status(`${at}/manifests/${arm64.manifest.digest}`)).toBe(404);

      target.reset();
      const drift = await runMirror(inputs(file, { mode: 'check' }), ctx());
      expect(drift.report.status).toBe('drift');
      expect(exitCodeOfStatus(statusOf(drift))).toBe(4);
      const [row] = rows(drift);
      expect(rows(drift)).toHaveLength(1);
      expect(row).toMatchObject({ tag: '1.0.0', reference: `${target.host}/${repo}:1.0.0`, status: 'incomplete' });
      expect(row!.why.split('; ').sort()).toEqual(
        [
          `platform linux/arm64 manifest ${arm64.manifest.digest} missing`,
          `referrer (application/spdx+json) manifest ${src.attached.sbom} missing`,
        ].sort(),
      );
      expect(writes(target.seen)).toEqual([]);

      // sync sees the same gaps and fills them: the tags stay where they are.
      const repair = await runMirror(inputs(file), ctx());
      expect(byTarget(repair)).toEqual({ t: 'created' });
      expect(repair.report.status).toBe('done');
      const put = repair.plan.filter((r) => r.action !== 'skip').map((r) => r.object);
      expect(put.sort()).toEqual([arm64.manifest.digest, src.attached.sbom].map((d) => `${target.host}/${repo}@${d}`).sort());
      expect(await status(`${at}/manifests/${arm64.manifest.digest}`)).toBe(200);
      expect(await status(`${at}/manifests/${src.attached.sbom}`)).toBe(200);
      expect(await remoteDigest(`${reg.anon}/${repo}@${arm64.manifest.digest}`)).toBe(arm64.manifest.digest);

      const after = await runMirror(inputs(file, { mode: 'check' }), ctx());
      expect(rows(after).map((r) => [r.status, r.why])).toEqual([['ok', '']]);

      // Repaired: the next sync writes nothing and reads nothing but by HEAD.
      target.reset();
      const noop = await runMirror(inputs(file), ctx());
      expect(noop.report.status).toBe('no-op');
      expect(byTarget(noop)).toEqual({ t: 'up to date' });
      expect(writes(target.seen)).toEqual([]);
      expect(contentGets(target)).toEqual([]);
    } finally {
      await target.close();
    }
  }, 120_000);
});
