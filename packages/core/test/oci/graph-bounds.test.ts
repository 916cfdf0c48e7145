import { describe, expect, jest, test } from '@jest/globals';
import { readdir } from 'node:fs/promises';
import { DEFAULTS } from '../../src/defaults.js';
import { InputError } from '../../src/errors.js';
import { NullLogger } from '../../src/log/logger.js';
import { ociCopy } from '../../src/oci/copy/copy.js';
import { levels } from '../../src/oci/copy/execute.js';
import { readGraph } from '../../src/oci/copy/graph.js';
import type { PlannedManifest } from '../../src/oci/copy/plan.js';
import { parseReference } from '../../src/oci/ref/reference.js';
import { LayoutRepo } from '../../src/oci/repo/layout.js';
import type { Repo } from '../../src/oci/repo/repo.js';
import { OciSession } from '../../src/oci/repo/session.js';
import { tmpDir } from '../fixtures.js';
import { LayoutWriter, T, makeFixture } from './fixtures.js';

// Waits on the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(30_000);

/** A layout whose index `v1` lists `n` children sharing one config and one layer. */
async function wideLayout(n: number): Promise<string> {
  const dir = await tmpDir();
  const w = new LayoutWriter(dir);
  const layer = await w.blob(Buffer.from('layer'), T.layer);
  const config = await w.json({ os: 'linux', architecture: 'amd64' }, T.config);
  const children = [];
  for (let i = 0; i < n; i++) {
    children.push(
      await w.json({ schemaVersion: 2, mediaType: T.manifest, config, layers: [layer], annotations: { i: String(i) } }, T.manifest),
    );
  }
  w.tag(await w.json({ schemaVersion: 2, mediaType: T.index, manifests: children }, T.index), 'v1');
  await w.close();
  return dir;
}

/** `repo` with its reads counted: how many were in flight at most. */
function counting(repo: Repo): { repo: Repo; peak: () => number } {
  let now = 0;
  let peak = 0;
  const counted =
    <A extends unknown[], R>(fn: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      peak = Math.max(peak, ++now);
      try {
        return await fn(...a);
      } finally {
        now--;
      }
    };
  const proxy = Object.create(repo) as Repo;
  Object.assign(proxy, {
    getManifest: counted(repo.getManifest.bind(repo)),
    referrers: counted(repo.referrers.bind(repo)),
  });
  return { repo: proxy, peak: () => peak };
}

describe('huge graphs: bounded reads, a documented limit', () => {
  test('an index of 300 children is read with at most `parallel` source reads in flight', async () => {
    const dir = await wideLayout(300);
    const c = counting(new LayoutRepo(dir));
    const g = await readGraph(c.repo, 'v1', { parallel: 4 });
    expect(g.nodes.size).toBe(301);
    expect(g.blobs.size).toBe(2);
    expect(c.peak()).toBeLessThanOrEqual(4);
  });

  test('a graph over the limit is refused as soon as its index says so, naming the index and the limit', async () => {
    const f = await makeFixture();
    const err = await readGraph(new LayoutRepo(f.dir), 'v1', { maxManifests: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toBe(
      `source oci:${f.dir}:v1: index ${f.index.digest} lists 2 manifests; Relay copies at most 2 manifests per image (index, children, referrers and signatures together)`,
    );
    // Referrers and signatures count too.
    await expect(readGraph(new LayoutRepo(f.dir), 'v1', { maxManifests: 4 })).rejects.toThrow(
      /^source oci:.*:v1: more than 4 manifests reached from it \(at (child|referrer|cosign) sha256:[0-9a-f]{64}\); Relay copies at most 4 manifests per image/,
    );
    expect((await readGraph(new LayoutRepo(f.dir), 'v1', { maxManifests: 5 })).nodes.size).toBe(5);
    await expect(readGraph(new LayoutRepo(f.dir), 'v1', { maxManifestBytes: 500 })).rejects.toThrow(
      /its manifests come to more than 500 bytes \(at (image|child|referrer|cosign) sha256:[0-9a-f]{64}\); Relay copies at most 500 bytes of manifests per image/,
    );
    expect(DEFAULTS.ociMaxGraphManifests).toBeGreaterThan(10_001);
  });

  test('a copy over the limit writes nothing', async () => {
    const f = await makeFixture();
    const out = await tmpDir();
    const log = new NullLogger();
    const session = new OciSession({ env: {}, log });
    try {
      const req = { source: parseReference(`oci:${f.dir}:v1`), destination: parseReference(`oci:${out}`), tags: [], dryRun: false };
      await expect(ociCopy({ ...req, immutable: false, maxManifests: 3 }, session, log)).rejects.toThrow(InputError);
    } finally {
      session.close();
    }
    expect(await readdir(out)).toEqual([]);
  });

  test('manifests are written in levels: children before their index, referrers after their subject', () => {
    const m = (digest: string, children: string[] = [], subject?: string): PlannedManifest => ({
      manifest: { digest, mediaType: T.manifest, bytes: Buffer.alloc(0) },
      role: 'child',
      action: 'put',
      children,
      ...(subject && { subject }),
    });
    const plan = [m('sbom', [], 'index'), m('index', ['a', 'b']), m('sig'), m('a'), m('b'), m('att', [], 'a'), m('nested', ['index'])];
    const order = levels(plan).map((l) => l.map((x) => x.manifest.digest).sort());
    expect(order).toEqual([
      ['a', 'b', 'sig'],
      ['att', 'index'],
      ['nested', 'sbom'],
    ]);
  });
});
