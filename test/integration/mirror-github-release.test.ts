// mirror-artifact's github-release target: provider versions from a store
// written by a real publish-terraform-registry run, released on GitHub.
// github.com cannot be reached here: every test runs against the local
// stand-in of the releases REST API (test/support/github-standin.ts) and says
// "(GitHub stand-in)".
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import path from 'node:path';
import { InputError, NullLogger, renderText } from '../../packages/core/src/index.js';
import type { Clients, Context, Result } from '../../packages/core/src/index.js';
import { mirrorArtifact, publishTerraformRegistry } from '../../packages/core/src/operations/index.js';
import { providerTarball, rsaKey, tmpDir } from '../../packages/core/test/fixtures.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { GithubStandin } from '../support/github-standin.js';
import { captured, secret, secretKey } from '../support/leaks.js';

// Waits on servers, processes and the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(120_000);

type Inputs = Parameters<typeof mirrorArtifact.run>[0];
type Row = { image: string; tag: string; target: string; status: string; why: string; reference: string; kind?: string };

const TOKEN = secret(`ghs_${randomBytes(18).toString('hex')}`);
const PLATFORMS = [
  ['linux', 'amd64'],
  ['darwin', 'arm64'],
  ['windows', 'amd64'],
] as const;
const VERSIONS = ['1.0.0', '1.1.0', '1.2.0', '1.3.0'];
const fast: Clients = { http: { retry: { baseMs: 20, maxMs: 200 } } };

let gh: GithubStandin;
let work: string;
let storeDir: string;

/** The store's bytes of one version's file. */
const storeFile = (version: string, file: string): Promise<Buffer> =>
  fs.readFile(path.join(storeDir, `store/acme/demo/${version}/${file}`));
const assetNames = (v: string): string[] =>
  [
    ...PLATFORMS.map(([os, arch]) => `terraform-provider-demo_${v}_${os}_${arch}.zip`),
    `terraform-provider-demo_${v}_manifest.json`,
    `terraform-provider-demo_${v}_SHA256SUMS`,
    `terraform-provider-demo_${v}_SHA256SUMS.sig`,
  ].sort();

beforeAll(async () => {
  gh = await GithubStandin.start(TOKEN);
  work = await tmpDir('relay-ghr-it-');
  storeDir = path.join(work, 'registry');
  const key = secretKey(await rsaKey());
  for (const version of VERSIONS) {
    const tarballs = await Promise.all(
      PLATFORMS.map(([os, arch]) => providerTarball(work, 'demo', version, os, arch, randomBytes(48 * 1024).toString('base64'))),
    );
    await publishTerraformRegistry.run(
      {
        namespace: 'acme',
        name: 'demo',
        version,
        tarballs,
        source: undefined,
        store: `file://${storeDir}`,
        'registry-url': 'https://registry.example.com/',
        'signing-key': key,
        'signing-key-passphrase': undefined,
        protocols: ['6.0'],
        immutable: true,
        'dry-run': false,
        's3-endpoint': undefined,
      } as Parameters<typeof publishTerraformRegistry.run>[0],
      { log: new NullLogger(), env: {}, cwd: '/' },
    );
  }
}, 120_000);
afterAll(async () => {
  await gh?.close();
});

function inputs(config: string, more: Partial<Inputs> = {}): Inputs {
  return {
    config,
    version: undefined,
    tiers: [],
    mode: 'sync',
    'dry-run': false,
    'require-signature': false,
    parallel: 4,
    shard: undefined,
    'fail-fast': false,
    'expect-plan': undefined,
    'insecure-registries': [],
    ...more,
  };
}

function ctx(env: Record<string, string | undefined> = { GH_RELEASE_TOKEN: TOKEN }): Context & { log: NullLogger } {
  return { log: new NullLogger(), env, cwd: work, clients: fast };
}

/** Runs the operation and hands everything it said to the suite's secret scan; also checks the token here. */
async function run(inp: Inputs, c = ctx()): Promise<Result> {
  try {
    const r = await mirrorArtifact.run(inp, c);
    const said = [JSON.stringify(r.outputs), renderText(r.report), ...c.log.lines];
    captured(...said);
    for (const s of said) expect(s).not.toContain(TOKEN);
    return r;
  } catch (err) {
    captured((err as Error).message, ...c.log.lines);
    expect((err as Error).message).not.toContain(TOKEN);
    throw err;
  }
}

/** A mirror file with one github-release target per repository given, all in tier gold. */
async function mirrorFile(repos: Record<string, string>, versions: string[], extra = '', api = gh.api): Promise<string> {
  const file = `gh-${randomBytes(3).toString('hex')}.yml`;
  const targets = Object.entries(repos)
    .map(
      ([name, repo]) =>
        `  ${name}:\n    kind: github-release\n    repository: ${repo}\n    token-env: GH_RELEASE_TOKEN\n    api-url: ${api}\n    uploads-url: ${gh.uploads}\n${extra}`,
    )
    .join('');
  await fs.writeFile(
    path.join(work, file),
    `targets:\n${targets}tiers:\n  gold: [${Object.keys(repos).join(', ')}]\nproviders:\n  - name: demo\n    namespace: acme\n    store: file://${storeDir}\n    registry-url: https://registry.example.com/\n    tier: gold\n    versions: [${versions.map((v) => `"${v}"`).join(', ')}]\n`,
  );
  return file;
}

const rows = (r: Result): Row[] => (r.outputs.results as unknown as { rows: Row[] }).rows;
const repo = (): string => `acme-${randomBytes(3).toString('hex')}/terraform-provider-demo`;

describe('mirror-artifact: providers to GitHub releases', () => {
  test('a first sync creates a draft, uploads every asset byte-identical, reads each back, then publishes; a re-run uploads nothing (GitHub stand-in)', async () => {
    const r0 = repo();
    const file = await mirrorFile({ github: r0 }, ['1.0.0']);
    const before = gh.seen.length;
    const res = await run(inputs(file));
    expect(rows(res)).toEqual([
      expect.objectContaining({ image: 'acme/demo', tag: '1.0.0', target: 'github', status: 'created', kind: 'provider' }),
    ]);
    expect(res.outputs.status).toBe('done');
    const rel = gh.release(r0, 'v1.0.0')!;
    expect(rel.draft).toBe(false);
    expect(rel.immutable).toBe(true);
    expect(rel.assets.map((a) => a.name).sort()).toEqual(assetNames('1.0.0'));
    for (const a of rel.assets) {
      expect(a.bytes.equals(await storeFile('1.0.0', a.name))).toBe(true);
      expect(a.contentType).toBe('application/octet-stream');
    }
    const seen = gh.seen.slice(before);
    // Order: draft created, all uploads, every asset read back, and only then the PATCH that publishes.
    const create = seen.findIndex((s) => s.method === 'POST' && s.host === 'api');
    const uploads = seen.flatMap((s, i) => (s.host === 'uploads' ? [i] : []));
    const reads = seen.flatMap((s, i) => (s.host === 'objects' ? [i] : []));
    const publish = seen.findIndex((s) => s.method === 'PATCH');
    expect(uploads).toHaveLength(6);
    expect(reads).toHaveLength(6);
    expect(create).toBeLessThan(uploads[0]!);
    expect(Math.max(...uploads)).toBeLessThan(reads[0]!);
    expect(Math.max(...reads)).toBeLessThan(publish);
    // Every API and upload request carries GitHub's headers; the objects host (another host, via redirect) never sees the token.
    for (const s of seen.filter((x) => x.host !== 'objects')) {
      expect(s.authorization).toBe(`Bearer ${TOKEN}`);
      expect(s.apiVersion).toBe('2022-11-28');
    }
    for (const s of seen.filter((x) => x.host === 'objects')) expect(s.authorization).toBeUndefined();
    expect(seen.filter((x) => x.host === 'api' && x.method === 'GET' && /\/releases\/assets\/\d+$/.test(x.path))[0]?.accept).toBe(
      'application/octet-stream',
    );

    const mark = gh.seen.length;
    const again = await run(inputs(file));
    expect(rows(again).map((x) => x.status)).toEqual(['up to date']);
    expect(again.outputs.status).toBe('no-op');
    expect(gh.seen.slice(mark).filter((s) => s.method !== 'GET' || s.host !== 'api')).toEqual([]);
  }, 60_000);

  test('a published release whose asset differs is a conflict, left untouched (GitHub stand-in)', async () => {
    const r0 = repo();
    const names = assetNames('1.1.0');
    const files = await Promise.all(names.map(async (name) => ({ name, bytes: await storeFile('1.1.0', name) })));
    files[0] = { name: files[0]!.name, bytes: Buffer.from('another build') };
    const seeded = gh.seed(r0, 'v1.1.0', files);
    const file = await mirrorFile({ github: r0 }, ['1.1.0']);
    const mark = gh.seen.length;
    const res = await run(inputs(file));
    const [row] = rows(res);
    expect(row!.status).toBe('conflict');
    expect(row!.why).toMatch(new RegExp(`^release v1\\.1\\.0 of ${r0} is published and ${names[0]!.replace(/\./g, '\\.')} is 13 bytes`));
    expect(row!.why).not.toContain('\n');
    expect(res.outputs.status).toBe('failed');
    expect(gh.seen.slice(mark).filter((s) => s.method !== 'GET')).toEqual([]);
    expect(gh.release(r0, 'v1.1.0')).toBe(seeded);
    expect(seeded.assets[0]!.bytes.toString()).toBe('another build');
  }, 60_000);

  test('an asset corrupted on upload is caught on read-back: the release stays a draft, the row fails; the next run repairs the draft and publishes (GitHub stand-in)', async () => {
    const r0 = repo();
    const zip = 'terraform-provider-demo_1.2.0_linux_amd64.zip';
    gh.corrupt.add(zip);
    try {
      const file = await mirrorFile({ github: r0 }, ['1.2.0']);
      const res = await run(inputs(file));
      const [row] = rows(res);
      expect(row!.status).toBe('failed');
      expect(row!.why).toMatch(
        new RegExp(
          `^asset ${zip.replace(/\./g, '\\.')} reads back as sha256 [0-9a-f]{12}… \\(\\d+ bytes\\), the store's is [0-9a-f]{12}… \\(\\d+ bytes\\); release v1\\.2\\.0 left a draft$`,
        ),
      );
      expect(res.outputs.status).toBe('failed');
      expect(gh.release(r0, 'v1.2.0')!.draft).toBe(true);
      expect(gh.seen.some((s) => s.method === 'PATCH' && s.path.includes(String(gh.release(r0, 'v1.2.0')!.id)))).toBe(false);

      gh.corrupt.clear();
      const again = await run(inputs(file));
      expect(rows(again).map((x) => x.status)).toEqual(['created']);
      const rel = gh.release(r0, 'v1.2.0')!;
      expect(rel.draft).toBe(false);
      for (const a of rel.assets) expect(a.bytes.equals(await storeFile('1.2.0', a.name))).toBe(true);
    } finally {
      gh.corrupt.clear();
    }
  }, 60_000);

  test('a draft asset of the right size and the wrong content, with no digest from GitHub, is replaced by the next run, which publishes (GitHub stand-in)', async () => {
    const r0 = repo();
    const zip = 'terraform-provider-demo_1.2.0_linux_amd64.zip';
    gh.digests = false;
    gh.corrupt.add(zip);
    try {
      const file = await mirrorFile({ github: r0 }, ['1.2.0']);
      const first = await run(inputs(file));
      expect(rows(first).map((x) => x.status)).toEqual(['failed']);
      const bad = gh.release(r0, 'v1.2.0')!.assets.find((a) => a.name === zip)!;
      expect(bad.bytes.length).toBe((await storeFile('1.2.0', zip)).length);
      expect(bad.bytes.equals(await storeFile('1.2.0', zip))).toBe(false);

      // Nothing says the asset differs but its bytes: the next run reads it, deletes it, uploads it again.
      gh.corrupt.clear();
      gh.seen.length = 0;
      const again = await run(inputs(file));
      expect(rows(again).map((x) => x.status)).toEqual(['created']);
      const rel = gh.release(r0, 'v1.2.0')!;
      expect(rel.draft).toBe(false);
      for (const a of rel.assets) expect(a.bytes.equals(await storeFile('1.2.0', a.name))).toBe(true);
      expect(gh.seen.filter((x) => x.method === 'DELETE').length).toBe(1);
      expect(gh.seen.filter((x) => x.host === 'uploads').map((x) => new URL(x.path, 'http://x').searchParams.get('name'))).toEqual([zip]);
    } finally {
      gh.corrupt.clear();
      gh.digests = true;
    }
  }, 60_000);

  test('check: ok, missing (absent and draft), incomplete and moved (by download when GitHub gives no digest), writing nothing (GitHub stand-in)', async () => {
    const v = '1.3.0';
    const names = assetNames(v);
    const files = await Promise.all(names.map(async (name) => ({ name, bytes: await storeFile(v, name) })));
    const repos = { ok: repo(), absent: repo(), draft: repo(), incomplete: repo(), moved: repo() };
    gh.seed(repos.ok, `v${v}`, files);
    gh.seed(repos.draft, `v${v}`, files, true);
    gh.seed(
      repos.incomplete,
      `v${v}`,
      files.filter((f) => !f.name.endsWith('.sig')),
    );
    const flipped = Buffer.from(files[1]!.bytes);
    flipped[10] = flipped[10]! ^ 1;
    gh.seed(
      repos.moved,
      `v${v}`,
      files.map((f, i) => (i === 1 ? { name: f.name, bytes: flipped } : f)),
    );
    const file = await mirrorFile(repos, [v]);
    gh.digests = false;
    try {
      const mark = gh.seen.length;
      const res = await run(inputs(file, { mode: 'check' }));
      const by = Object.fromEntries(rows(res).map((x) => [x.target, x]));
      expect(Object.fromEntries(Object.entries(by).map(([k, x]) => [k, x.status]))).toEqual({
        ok: 'ok',
        absent: 'missing',
        draft: 'missing',
        incomplete: 'incomplete',
        moved: 'moved',
      });
      expect(by.absent!.why).toBe(`no release v${v} on ${repos.absent}`);
      expect(by.draft!.why).toBe(`release v${v} of ${repos.draft} is a draft (not published)`);
      expect(by.incomplete!.why).toBe(`terraform-provider-demo_${v}_SHA256SUMS.sig is missing`);
      expect(by.moved!.why).toMatch(new RegExp(`^${names[1]!.replace(/\./g, '\\.')} has sha256 [0-9a-f]{12}…, the store's [0-9a-f]{12}…$`));
      expect(res.outputs.status).toBe('drift');
      expect(gh.seen.slice(mark).filter((s) => s.method !== 'GET')).toEqual([]);
      // Same sizes everywhere but the incomplete one: bytes were read (download) only where sizes agree.
      expect(renderText(res.report)).toContain('Drift (provider versions × GitHub releases)');
    } finally {
      gh.digests = true;
    }
  }, 60_000);

  test('watch: on time-out the row says what to check; when the registry lists the version the row is created (GitHub stand-in)', async () => {
    gh.ingest = false;
    try {
      const r0 = repo();
      const file = await mirrorFile(
        { github: r0 },
        ['1.0.0'],
        `    watch: { registry-url: "${gh.api}/registry", timeout-seconds: 1, interval-seconds: 1 }\n`,
      );
      const res = await run(inputs(file));
      const [row] = rows(res);
      expect(row!.status).toBe('failed');
      expect(row!.why).toMatch(
        /^release v1\.0\.0 is published, but .*\/registry\/v1\/providers\/acme\/demo\/versions did not list 1\.0\.0 within 1 s: check the registry's webhook .*signing key registered there signed SHA256SUMS \(key ID [0-9A-Fa-f]+\).*SHA256SUMS lists terraform-provider-demo_1\.0\.0_manifest\.json$/,
      );
      gh.ingest = true;
      const again = await run(inputs(file));
      expect(rows(again).map((x) => x.status)).toEqual(['up to date']);
    } finally {
      gh.ingest = true;
    }
  }, 60_000);

  test('the plan binds each release asset: a dry run lists them, its hash applies, and a release published since is refused under it (GitHub stand-in)', async () => {
    const r0 = repo();
    const file = await mirrorFile({ github: r0 }, ['1.2.0']);
    const dry = await run(inputs(file, { 'dry-run': true }));
    expect(dry.plan.map((x) => [x.object, x.action, x.why, x.bytes]).sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : 1))).toEqual(
      await Promise.all(
        assetNames('1.2.0').map(async (n) => [`github.com/${r0}/releases/v1.2.0/${n}`, 'put', 'new', (await storeFile('1.2.0', n)).length]),
      ),
    );
    expect(gh.release(r0, 'v1.2.0')).toBeUndefined();
    const hash = dry.outputs['plan-hash'] as string;
    const applied = await run(inputs(file, { 'expect-plan': hash }));
    expect(rows(applied).map((x) => x.status)).toEqual(['created']);
    expect(applied.plan.every((x) => x.result === 'written')).toBe(true);
    // The release now exists: the approved plan (put every asset) no longer holds, so nothing is done under it.
    const mark = gh.seen.length;
    const stale = await run(inputs(file, { 'expect-plan': hash })).catch((e: unknown) => e);
    expect((stale as Error).message).toMatch(/^plan changed since it was approved/);
    expect(gh.seen.slice(mark).filter((x) => x.method !== 'GET')).toEqual([]);
    // A providers-only file has a plan too: the re-run's is every asset identical.
    const again = await run(inputs(file));
    expect(again.plan.map((x) => [x.action, x.result])).toEqual(assetNames('1.2.0').map(() => ['skip', 'unchanged']));
  }, 60_000);

  test('an asset URL on another origin gets no token: the read-back there fails and the release stays a draft (GitHub stand-in)', async () => {
    const elsewhere = await startFaultProxy(gh.api);
    gh.assetOrigin = elsewhere.url;
    try {
      const r0 = repo();
      const file = await mirrorFile({ github: r0 }, ['1.3.0']);
      const res = await run(inputs(file));
      const [row] = rows(res);
      expect(row!.status).toBe('failed');
      expect(gh.release(r0, 'v1.3.0')!.draft).toBe(true);
      // The stand-in's API behind that origin answers 401 to a request without the token, and saw no token.
      expect(elsewhere.seen.length).toBeGreaterThan(0);
      for (const s of elsewhere.seen) expect(s.authorization).toBeUndefined();
      expect(elsewhere.seen.every((s) => s.status === 401 || s.status === 404)).toBe(true);
    } finally {
      gh.assetOrigin = undefined;
      await elsewhere.close();
    }
  }, 60_000);

  test('an API trickling its answers a byte at a time fails the run at request-timeout, one line naming it (GitHub stand-in)', async () => {
    const api = await startFaultProxy(gh.api);
    try {
      api.inject({ fault: { kind: 'trickle', intervalMs: 100 }, times: 1000 });
      const file = await mirrorFile({ github: repo() }, ['1.0.0'], '', api.url);
      const t0 = Date.now();
      const res = await run(inputs(file), { ...ctx(), limits: { requestMs: 2000 } }).catch((e: unknown) => e);
      const ms = Date.now() - t0;
      const text =
        res instanceof Error
          ? res.message
          : rows(res as Result)
              .map((x) => x.why)
              .join('\n');
      expect(text).toMatch(
        /(GET|POST) 127\.0\.0\.1:\d+\/repos\/\S+: not done within 2 s \(the body came too slowly; raise request-timeout to wait longer\)/,
      );
      expect(ms).toBeLessThan(20_000);
    } finally {
      await api.close();
    }
  }, 60_000);

  test('a missing token variable is refused in one line naming file:line and the field, before any request (GitHub stand-in)', async () => {
    const file = await mirrorFile({ github: repo() }, ['1.0.0']);
    const mark = gh.seen.length;
    const err = await run(inputs(file), ctx({})).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(
      /^gh-[0-9a-f]{6}\.yml:5: targets\.github\.token-env: environment variable GH_RELEASE_TOKEN is not set \(target 'github' needs it\)$/,
    );
    expect(gh.seen.length).toBe(mark);
  });
});
