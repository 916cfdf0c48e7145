// OCI image layouts for tests, made without docker (none on CI runners we
// control, and it would hide what bytes we push): gzip'd tar layers + config +
// manifest, and an image index when there are several platforms. Everything is
// derived from `seed`, so the same options always give the same digests, and a
// test can state an expected digest or build an image that differs by one byte.
// Plus skopeo helpers to push a layout and read a remote digest.
import { createCipheriv, createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

export const MT = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}

export interface OciImageOptions {
  /** Layout directory; created with mkdtemp when absent. An existing layout gets one more tag. */
  dir?: string;
  tag?: string;
  layers?: number;
  /** Random (incompressible) payload bytes per layer. */
  layerSize?: number;
  /** 'os/arch[/variant]'. More than one, or `index: true`, makes an image index. */
  platforms?: string[];
  index?: boolean;
  seed?: string;
}

export interface OciImage {
  dir: string;
  tag: string;
  /** skopeo source reference: oci:DIR:TAG */
  ref: string;
  /** The tagged top-level descriptor (manifest or index). */
  top: Descriptor;
  /** One per platform, in the order given. */
  images: Array<{ platform: string; manifest: Descriptor; config: Descriptor; layers: Descriptor[] }>;
}

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function putBlob(dir: string, data: Buffer, mediaType: string): Promise<Descriptor> {
  const digest = sha256(data);
  await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), data);
  return { mediaType, digest, size: data.length };
}

// AES-CTR keystream: a seeded, fast (GB/s), incompressible byte source.
function* randomPayload(seed: string, size: number): Generator<Buffer> {
  const cipher = createCipheriv('aes-256-ctr', createHash('sha256').update(seed).digest(), Buffer.alloc(16));
  const zeros = Buffer.alloc(1 << 20);
  for (let left = size; left > 0; left -= zeros.length) yield cipher.update(zeros.subarray(0, Math.min(left, zeros.length)));
}

// One-file ustar archive, fixed mtime/owner, so the bytes depend on the seed only.
function tarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  const put = (s: string, at: number) => h.write(s, at, 'ascii');
  put(name, 0);
  put('0000644\0', 100);
  put('0000000\0', 108);
  put('0000000\0', 116);
  put(`${size.toString(8).padStart(11, '0')}\0`, 124);
  put('00000000000\0', 136);
  put('        ', 148); // checksum is computed over spaces here
  put('0', 156);
  put('ustar\0' + '00', 257);
  let sum = 0;
  for (const b of h) sum += b;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

function* tarStream(name: string, seed: string, size: number): Generator<Buffer> {
  yield tarHeader(name, size);
  yield* randomPayload(seed, size);
  yield Buffer.alloc((512 - (size % 512)) % 512);
  yield Buffer.alloc(1024); // end-of-archive marker
}

function hashing(): { stream: Transform; digest: () => string; size: () => number } {
  const h = createHash('sha256');
  let n = 0;
  const stream = new Transform({
    transform(c: Buffer, _e, done) {
      h.update(c);
      n += c.length;
      done(null, c);
    },
  });
  return { stream, digest: () => `sha256:${h.digest('hex')}`, size: () => n };
}

async function makeLayer(dir: string, name: string, seed: string, size: number): Promise<{ desc: Descriptor; diffId: string }> {
  const tmp = join(dir, 'blobs', 'sha256', `.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const raw = hashing(),
    gz = hashing();
  // Streamed end to end: a 1 GiB layer never sits in memory. Level 0 (stored
  // blocks, still valid gzip): the payload is incompressible anyway, and it is
  // ~6x faster than level 1 (200 MiB: 1 s instead of 6 s).
  await pipeline(Readable.from(tarStream(name, seed, size)), raw.stream, createGzip({ level: 0 }), gz.stream, createWriteStream(tmp));
  const desc = { mediaType: MT.layer, digest: gz.digest(), size: gz.size() };
  await rename(tmp, join(dir, 'blobs', 'sha256', desc.digest.slice(7)));
  return { desc, diffId: raw.digest() };
}

export async function makeOciImage(opts: OciImageOptions = {}): Promise<OciImage> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'relay-oci-')));
  const { tag = 'latest', layers = 1, layerSize = 1024, seed = '0' } = opts;
  const platforms = opts.platforms ?? ['linux/amd64'];
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));

  const images: OciImage['images'] = [];
  for (const platform of platforms) {
    const [os = 'linux', architecture = 'amd64', variant] = platform.split('/');
    const layerDescs: Descriptor[] = [],
      diffIds: string[] = [];
    for (let i = 0; i < layers; i++) {
      const name = `data/layer${String(i).padStart(3, '0')}.bin`;
      const { desc, diffId } = await makeLayer(dir, name, `${seed}/${platform}/${i}`, layerSize);
      layerDescs.push(desc);
      diffIds.push(diffId);
    }
    const created = '2024-01-01T00:00:00Z';
    const config = await putBlob(
      dir,
      Buffer.from(
        JSON.stringify({
          created,
          architecture,
          os,
          ...(variant ? { variant } : {}),
          config: { Cmd: ['/bin/true'], Labels: { 'relay.test.seed': seed } },
          rootfs: { type: 'layers', diff_ids: diffIds },
          history: diffIds.map((_, i) => ({ created, created_by: `relay test layer ${i}` })),
        }),
      ),
      MT.config,
    );
    const manifest = await putBlob(
      dir,
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MT.manifest,
          config,
          layers: layerDescs,
        }),
      ),
      MT.manifest,
    );
    manifest.platform = { os, architecture, ...(variant ? { variant } : {}) };
    images.push({ platform, manifest, config, layers: layerDescs });
  }

  let top: Descriptor = { ...images[0]!.manifest };
  if (platforms.length > 1 || opts.index) {
    top = await putBlob(
      dir,
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MT.index,
          manifests: images.map((i) => i.manifest),
        }),
      ),
      MT.index,
    );
  } else {
    delete top.platform;
  }
  top.annotations = { 'org.opencontainers.image.ref.name': tag };

  // index.json lists every tag in the layout; replace this tag, keep the others.
  const indexPath = join(dir, 'index.json');
  const index = await readFile(indexPath, 'utf8')
    .then((t) => JSON.parse(t) as { manifests: Descriptor[] })
    .catch(() => ({ manifests: [] as Descriptor[] }));
  const others = index.manifests.filter((m) => m.annotations?.['org.opencontainers.image.ref.name'] !== tag);
  await writeFile(indexPath, JSON.stringify({ schemaVersion: 2, mediaType: MT.index, manifests: [...others, top] }, null, 1));
  return { dir, tag, ref: `oci:${dir}:${tag}`, top, images };
}

function skopeo(args: string[]): Promise<Buffer> {
  // --insecure-policy: no dependency on /etc/containers/policy.json being present.
  return new Promise((resolve, reject) => {
    execFile('skopeo', ['--insecure-policy', ...args], { encoding: 'buffer', maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`skopeo ${args.join(' ')} failed: ${stderr.toString().trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

/**
 * Pushes a layout tag to `dest` (HOST/REPO:TAG) over plain HTTP, keeping its
 * digests (--all copies every platform of an index, not just the host's).
 */
export async function pushImage(image: Pick<OciImage, 'dir' | 'tag'>, dest: string, creds?: string): Promise<void> {
  await skopeo([
    'copy',
    '--all',
    '--preserve-digests',
    '--dest-tls-verify=false',
    ...(creds ? ['--dest-creds', creds] : []),
    `oci:${image.dir}:${image.tag}`,
    `docker://${dest}`,
  ]);
}

/** Digest of the manifest (or index) that `ref` (HOST/REPO:TAG or @DIGEST) resolves to. */
export async function remoteDigest(ref: string, creds?: string): Promise<string> {
  const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', ...(creds ? ['--creds', creds] : []), `docker://${ref}`]);
  return sha256(raw);
}
