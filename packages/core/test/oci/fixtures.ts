// Small OCI layouts written by hand (not by the code under test): an index of
// two platforms, a cosign signature tag and an SBOM referrer in the fallback index.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { tmpDir } from '../fixtures.js';

export const T = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  empty: 'application/vnd.oci.empty.v1+json',
};

export interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  platform?: { os: string; architecture: string };
  annotations?: Record<string, string>;
}

const sha = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex');

export class LayoutWriter {
  readonly tags: Desc[] = [];
  constructor(readonly dir: string) {}
  async blob(bytes: Buffer, mediaType: string): Promise<Desc> {
    await mkdir(path.join(this.dir, 'blobs', 'sha256'), { recursive: true });
    const digest = sha(bytes);
    await writeFile(path.join(this.dir, 'blobs', 'sha256', digest.slice(7)), bytes);
    return { mediaType, digest, size: bytes.length };
  }
  json(v: unknown, mediaType: string): Promise<Desc> {
    return this.blob(Buffer.from(JSON.stringify(v)), mediaType);
  }
  tag(d: Desc, tag: string): void {
    this.tags.push({ ...d, annotations: { 'org.opencontainers.image.ref.name': tag } });
  }
  async close(): Promise<void> {
    await writeFile(path.join(this.dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await writeFile(path.join(this.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: T.index, manifests: this.tags }));
  }
}

export interface Fixture {
  dir: string;
  index: Desc;
  children: Desc[];
  layers: Desc[];
  sig: Desc;
  sbom: Desc;
}

/** Index `tag` of linux/amd64 + linux/arm64, 2 layers each, a .sig tag and an SBOM referrer. */
export async function makeFixture(opts: { tag?: string; layerSize?: number; seed?: string } = {}): Promise<Fixture> {
  const dir = await tmpDir();
  const w = new LayoutWriter(dir);
  const layers: Desc[] = [];
  const children: Desc[] = [];
  for (const arch of ['amd64', 'arm64']) {
    const ls = [];
    for (let i = 0; i < 2; i++) ls.push(await w.blob(randomBytes(opts.layerSize ?? 3000), T.layer));
    layers.push(...ls);
    const config = await w.json({ architecture: arch, os: 'linux', seed: opts.seed ?? Math.random() }, T.config);
    const m = await w.json({ schemaVersion: 2, mediaType: T.manifest, config, layers: ls }, T.manifest);
    children.push({ ...m, platform: { os: 'linux', architecture: arch } });
  }
  const index = await w.json({ schemaVersion: 2, mediaType: T.index, manifests: children }, T.index);
  w.tag(index, opts.tag ?? 'v1');
  const empty = await w.blob(Buffer.from('{}'), T.empty);

  const payload = await w.blob(
    Buffer.from(JSON.stringify({ critical: { image: { 'docker-manifest-digest': index.digest } } })),
    'application/vnd.dev.cosign.simplesigning.v1+json',
  );
  const sig = await w.json(
    {
      schemaVersion: 2,
      mediaType: T.manifest,
      config: empty,
      layers: [{ ...payload, annotations: { 'dev.cosignproject.cosign/signature': 'MEUCIQ' } }],
    },
    T.manifest,
  );
  w.tag(sig, `sha256-${index.digest.slice(7)}.sig`);

  const doc = await w.blob(Buffer.from('{"spdxVersion":"SPDX-2.3"}'), 'application/spdx+json');
  const sbom = await w.json(
    { schemaVersion: 2, mediaType: T.manifest, artifactType: 'application/spdx+json', subject: index, config: empty, layers: [doc] },
    T.manifest,
  );
  const fallback = await w.json(
    { schemaVersion: 2, mediaType: T.index, manifests: [{ ...sbom, artifactType: 'application/spdx+json' }] },
    T.index,
  );
  w.tag(fallback, `sha256-${index.digest.slice(7)}`);
  await w.close();
  return { dir, index, children, layers, sig, sbom };
}

export async function readIndexJson(dir: string): Promise<{ manifests: Desc[] }> {
  return JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8')) as { manifests: Desc[] };
}
