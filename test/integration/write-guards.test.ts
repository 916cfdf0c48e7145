// Two guarantees every writing operation gives, against the real registries:
// a refusal comes before the first write (exit 1 means nothing was written),
// and what was written is read back, blobs included, before a tag moves.
import { beforeAll, describe, expect, jest, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConflictError, exitCodeFor, NullLogger, type Context, type Result } from '../../packages/core/src/index.js';
import { copyImage, mirrorArtifact } from '../../packages/core/src/operations/index.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { makeOciImage, pushImage, type OciImage } from '../support/oci-images.js';
import { registries, type RegistrySettings } from '../support/servers.js';

// Waits on servers, processes and the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(120_000);

let reg: RegistrySettings;
let work: string;
let image: OciImage;
let srcRepo: string;
const id = randomBytes(3).toString('hex');

beforeAll(async () => {
  reg = registries();
  work = await mkdtemp(path.join(tmpdir(), 'relay-guards-'));
  image = await makeOciImage({
    platforms: ['linux/amd64', 'linux/arm64'],
    layers: 2,
    layerSize: 50_000,
    seed: `guards-${id}`,
    tag: '1.0.0',
  });
  srcRepo = `relay-it/guards-${id}-src`;
  await pushImage(image, `${reg.anon}/${srcRepo}:1.0.0`);
}, 120_000);

const ctx = (): Context & { log: NullLogger } => ({
  log: new NullLogger(),
  env: {},
  cwd: work,
  clients: { http: { retry: { baseMs: 20, maxMs: 200 } } },
});

/** Every tag of a repository with the digest it resolves to, and whether each of the image's manifests is there: the registry as a client sees it. */
async function registryState(repo: string): Promise<Record<string, string>> {
  const base = `http://${reg.anon}/v2/${repo}`;
  const accept = { accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' };
  const out: Record<string, string> = {};
  const list = await fetch(`${base}/tags/list`);
  const tags = list.status === 200 ? (((await list.json()) as { tags: string[] | null }).tags ?? []) : [];
  for (const t of tags.sort())
    out[`tag ${t}`] =
      (await fetch(`${base}/manifests/${t}`, { method: 'HEAD', headers: accept })).headers.get('docker-content-digest') ?? '?';
  for (const m of [image.top, ...image.images.map((i) => i.manifest)])
    out[`manifest ${m.digest}`] = String((await fetch(`${base}/manifests/${m.digest}`, { method: 'HEAD', headers: accept })).status);
  return out;
}

async function refusal(run: Promise<Result>): Promise<unknown> {
  return run.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('refusals before writes: an audit-file that exists', () => {
  test('copy-image: exit 1, the registry unchanged (no manifest, no tag moved)', async () => {
    const dst = `relay-it/guards-${id}-copy`;
    // The destination already holds another image under `latest`, which the copy would move.
    const other = await makeOciImage({ seed: `guards-other-${id}`, tag: 'latest' });
    await pushImage(other, `${reg.anon}/${dst}:latest`);
    const audit = path.join(work, 'copy-audit.json');
    await writeFile(audit, '{"an":"earlier record"}\n');
    const before = await registryState(dst);
    expect(before['tag latest']).toBe(other.top.digest);

    const err = await refusal(
      copyImage.run(
        {
          source: `${reg.anon}/${srcRepo}:1.0.0`,
          destination: `${reg.anon}/${dst}`,
          'require-signature': false,
          tags: ['1.0.0', 'latest'],
          'immutable-tags': false,
          'dry-run': false,
          'insecure-registries': [],
          'audit-file': audit,
        } as Parameters<typeof copyImage.run>[0],
        ctx(),
      ),
    );
    expect(err).toBeInstanceOf(ConflictError);
    expect(exitCodeFor(err)).toBe(1);
    expect((err as Error).message).toBe(`${audit} exists (audit records are written once; give a new audit-file); nothing written`);
    expect(await registryState(dst)).toEqual(before);
  }, 120_000);

  test('mirror-artifact: exit 1, no target touched', async () => {
    const dst = `relay-it/guards-${id}-mirror`;
    const repo = `${dst}/app`;
    const file = path.join(work, `mirror-${id}.yml`);
    await writeFile(
      file,
      `targets:\n  t: { registry: "${reg.anon}", repository: "${dst}/{name}" }\ntiers:\n  gold: [t]\nimages:\n  - { name: app, source: "${reg.anon}/${srcRepo}", tier: gold, tags: ["1.0.0"] }\n`,
    );
    const audit = path.join(work, 'mirror-audit.json');
    await writeFile(audit, '{}\n');
    const before = await registryState(repo);
    const err = await refusal(mirrorArtifact.run(mirrorInputs(file, { 'audit-file': audit }), ctx()));
    expect(err).toBeInstanceOf(ConflictError);
    expect(exitCodeFor(err)).toBe(1);
    expect(await registryState(repo)).toEqual(before);
    // A dry run writes nothing, so the same audit-file does not stop it.
    const dry = await mirrorArtifact.run(mirrorInputs(file, { 'audit-file': audit, 'dry-run': true }), ctx());
    expect(dry.report.status).toBe('dry-run');
  }, 120_000);
});

type MirrorInputs = Parameters<typeof mirrorArtifact.run>[0];
function mirrorInputs(config: string, more: Partial<MirrorInputs> = {}): MirrorInputs {
  return {
    config,
    version: undefined,
    tiers: [],
    mode: 'sync',
    'dry-run': false,
    parallel: 4,
    shard: undefined,
    'fail-fast': false,
    'expect-plan': undefined,
    'insecure-registries': [],
    ...more,
  } as MirrorInputs;
}

describe('every write read back: blobs too', () => {
  test('mirror-artifact on a target that takes blob uploads but keeps none (stand-in proxy): fails naming the blob, no tag moved', async () => {
    // A proxy in front of a real registry: uploads go through, but every blob HEAD or GET answers 404.
    const forgetful = await startFaultProxy(`http://${reg.anon}`);
    try {
      for (const method of ['HEAD', 'GET'])
        forgetful.inject({ fault: { kind: 'status', status: 404 }, times: 100_000, method, path: /\/blobs\/sha256:/ });
      const dst = `relay-it/guards-${id}-forgetful`;
      const repo = `${dst}/app`;
      const file = path.join(work, `forgetful-${id}.yml`);
      await writeFile(
        file,
        `targets:\n  t: { registry: "${forgetful.host}", repository: "${dst}/{name}" }\ntiers:\n  gold: [t]\nimages:\n  - { name: app, source: "${reg.anon}/${srcRepo}", tier: gold, tags: ["1.0.0"] }\n`,
      );
      const out = await mirrorArtifact.run(mirrorInputs(file), ctx());
      expect(out.report.status).toBe('failed');
      const rows = (out.outputs.results as unknown as { rows: { target: string; status: string; why: string }[] }).rows;
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ target: 't', status: 'failed' });
      expect(rows[0]!.why).toMatch(
        new RegExp(`^verify: blob ${forgetful.host.replace(/\./g, '\\.')}/${repo}@sha256:[0-9a-f]{64} is missing from the target$`),
      );
      // Checked before tags: the tag never moved (straight at the registry, under the proxy).
      const tag = await fetch(`http://${reg.anon}/v2/${repo}/manifests/1.0.0`, {
        method: 'HEAD',
        headers: { accept: 'application/vnd.oci.image.index.v1+json' },
      });
      expect(tag.status).toBe(404);
      expect(forgetful.seen.filter((r) => r.method === 'PUT' && r.path.includes('/manifests/1.0.0'))).toEqual([]);
    } finally {
      await forgetful.close();
    }
  }, 120_000);
});
