import { describe, expect, test } from '@jest/globals';
import { readGraph } from '../../src/oci/copy/graph.js';
import { targetPresence } from '../../src/oci/copy/plan.js';
import type { Descriptor } from '../../src/oci/ref/media.js';
import { LayoutRepo } from '../../src/oci/repo/layout.js';
import { makeFixture } from './fixtures.js';

/** A target holding `manifests` and `blobs`, answering HEADs only, counting them and how many were in flight at once. */
function target(manifests: Set<string>, blobs: Set<string>) {
  const asked: string[] = [];
  let now = 0;
  let peak = 0;
  const head = async <R>(what: string, answer: () => R): Promise<R> => {
    asked.push(what);
    peak = Math.max(peak, ++now);
    await new Promise((r) => setTimeout(r, 1));
    now--;
    return answer();
  };
  return {
    asked,
    peak: () => peak,
    headManifest: (ref: string) =>
      head(`manifest ${ref}`, (): Descriptor | undefined =>
        manifests.has(ref) ? { digest: ref, size: 1, mediaType: 'application/vnd.oci.image.manifest.v1+json' } : undefined,
      ),
    hasBlob: (d: Descriptor) => head(`blob ${d.digest}`, () => blobs.has(d.digest)),
  };
}

describe('targetPresence: the copy engine walk that compares a graph with a target', () => {
  test('`all` asks about every manifest not known and every blob once, so a platform or a layer deleted under a tag that resolves is found', async () => {
    const f = await makeFixture();
    const g = await readGraph(new LayoutRepo(f.dir), 'v1');
    const nodes = [...g.nodes.values()];
    const everyBlob = [...g.blobs.keys()];
    const [amd64, arm64] = f.children;
    const gone = f.layers[0]!.digest;
    const t = target(
      new Set(nodes.map((n) => n.manifest.digest).filter((d) => d !== arm64!.digest)),
      new Set(everyBlob.filter((d) => d !== gone)),
    );
    const p = await targetPresence(nodes, t, { parallel: 2, blobs: 'all', known: new Set([g.root.digest]) });

    expect(p.manifests.has(g.root.digest)).toBe(true);
    expect(p.manifests.has(amd64!.digest)).toBe(true);
    expect(p.manifests.has(arm64!.digest)).toBe(false);
    expect(p.blobs.filter((b) => !b.present).map((b) => b.descriptor.digest)).toEqual([gone]);
    expect(p.blobs.map((b) => b.descriptor.digest).sort()).toEqual(everyBlob.sort());
    // HEAD each once; the known root not at all; never more than `parallel` in flight.
    expect(t.asked).not.toContain(`manifest ${g.root.digest}`);
    expect(t.asked).toHaveLength(nodes.length - 1 + everyBlob.length);
    expect(new Set(t.asked).size).toBe(t.asked.length);
    expect(t.peak()).toBeLessThanOrEqual(2);
  });

  test('`missing` (copy-image) asks only about the blobs of manifests the target lacks', async () => {
    const f = await makeFixture();
    const g = await readGraph(new LayoutRepo(f.dir), 'v1');
    const nodes = [...g.nodes.values()];
    const arm64 = f.children[1]!;
    const t = target(new Set(nodes.map((n) => n.manifest.digest).filter((d) => d !== arm64.digest)), new Set());
    const p = await targetPresence(nodes, t, { parallel: 4, blobs: 'missing' });

    const armBlobs = g.nodes.get(arm64.digest)!.parts.blobs.map((b) => b.digest);
    expect([...p.manifests].sort()).toEqual(
      nodes
        .map((n) => n.manifest.digest)
        .filter((d) => d !== arm64.digest)
        .sort(),
    );
    expect(p.blobs.map((b) => [b.descriptor.digest, b.present])).toEqual(armBlobs.map((d) => [d, false]));
    expect(t.asked.filter((a) => a.startsWith('blob '))).toEqual(armBlobs.map((d) => `blob ${d}`));
  });
});
