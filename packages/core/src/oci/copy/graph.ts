import { mapLimit, Semaphore } from '../../concurrency.js';
import { DEFAULTS } from '../../defaults.js';
import { InputError, IntegrityError } from '../../errors.js';
import { parseManifest } from '../ref/media.js';
import type { Descriptor, Manifest, ManifestParts } from '../ref/media.js';
import { joinRef } from '../ref/reference.js';
import type { Repo } from '../repo/repo.js';
import { COSIGN_SUFFIXES, cosignTag, listReferrers } from './referrers.js';

/** Why a manifest is part of the copy. */
export type Role = 'image' | 'child' | 'referrer' | 'cosign';

export interface Node {
  manifest: Manifest;
  /** Parsed from the bytes on each read, not held: a graph of 10,000 manifests keeps only their bytes. */
  readonly parts: ManifestParts;
  role: Role;
  /** For referrers: the manifest they refer to. */
  subject?: string;
}

/** Everything that belongs to an image in its source: manifests, blobs, and the tags that attach to it. */
export interface SourceGraph {
  root: Manifest;
  /** By digest, each once. */
  nodes: Map<string, Node>;
  /** Blobs of all nodes, by digest, each once. */
  blobs: Map<string, Descriptor>;
  /** cosign's `sha256-<hex>.sig|att|sbom` tags found on the source, with what they point at. */
  cosignTags: { tag: string; digest: string }[];
  /** Referrer digests per subject digest. */
  referrers: Map<string, string[]>;
}

export interface ReadGraphOptions {
  /** Referrers and cosign tags too (default). */
  withAttachments?: boolean;
  /** Source reads in flight at once, however wide or deep the graph. */
  parallel?: number;
  /** Manifests a graph may hold before it is refused (DEFAULTS.ociMaxGraphManifests). */
  maxManifests?: number;
  /** What all its manifests may come to, in bytes (DEFAULTS.ociMaxGraphManifestBytes). */
  maxManifestBytes?: number;
  signal?: AbortSignal;
}

/**
 * Reads the image at `ref` and everything that belongs to it: an index's
 * children by digest, OCI referrers (API or fallback tag) and cosign tags for
 * the index and each child, referrers of referrers. Reads only, at most
 * `parallel` at a time; a graph of more than `maxManifests` manifests is
 * refused as soon as an index says it would be, before anything is written.
 */
export async function readGraph(source: Repo, ref: string, opts: ReadGraphOptions = {}): Promise<SourceGraph> {
  const parallel = opts.parallel ?? DEFAULTS.ociParallel;
  const max = opts.maxManifests ?? DEFAULTS.ociMaxGraphManifests;
  const maxBytes = opts.maxManifestBytes ?? DEFAULTS.ociMaxGraphManifestBytes;
  const maxSize = maxBytes % 1048576 === 0 ? `${maxBytes / 1048576} MiB` : `${maxBytes} bytes`;
  let bytes = 0;
  const io = new Semaphore(parallel);
  const read = async <T>(fn: () => Promise<T>): Promise<T> => {
    const release = await io.acquire(opts.signal);
    try {
      return await fn();
    } finally {
      release();
    }
  };
  const image = joinRef(source.name, ref);
  const tooBig = (what: string, limit = `${max} manifests`): InputError =>
    new InputError(
      `source ${image}: ${what}; Relay copies at most ${limit} per image (index, children, referrers and signatures together)`,
    );

  const root = await read(() => source.getManifest(ref));
  if (!root) throw new InputError(`source ${image}: not found`);
  const g: SourceGraph = { root, nodes: new Map(), blobs: new Map(), cosignTags: [], referrers: new Map() };
  const seen = new Set<string>();

  const visit = async (m: Manifest, role: Role, subject?: string): Promise<void> => {
    if (seen.has(m.digest)) return;
    if (seen.size >= max) throw tooBig(`more than ${max} manifests reached from it (at ${role} ${m.digest})`);
    seen.add(m.digest);
    bytes += m.bytes.length;
    if (bytes > maxBytes) throw tooBig(`its manifests come to more than ${maxSize} (at ${role} ${m.digest})`, `${maxSize} of manifests`);
    const parts = parseManifest(m);
    if (seen.size + parts.manifests.length > max) throw tooBig(`index ${m.digest} lists ${parts.manifests.length} manifests`);
    g.nodes.set(m.digest, {
      manifest: m,
      get parts() {
        return parseManifest(m);
      },
      role,
      ...(subject && { subject }),
    });
    for (const b of parts.blobs) g.blobs.set(b.digest, b);
    const children = mapLimit(
      parts.manifests,
      parallel,
      async (d) => {
        const child = await read(() => source.getManifest(d.digest));
        if (!child) throw new IntegrityError(`source ${source.name}: ${m.digest} lists ${d.digest}, which the source does not have`);
        if (child.mediaType !== d.mediaType)
          throw new IntegrityError(`source ${source.name}: ${d.digest} is ${child.mediaType}, its index says ${d.mediaType}`);
        await visit(child, 'child');
      },
      opts.signal,
    );
    const attached = opts.withAttachments === false || role === 'cosign' ? [] : [attachments(m.digest)];
    await Promise.all([children, ...attached]);
  };

  const attachments = async (digest: string): Promise<void> => {
    const cosign = COSIGN_SUFFIXES.map(async (suffix) => {
      const tag = cosignTag(digest, suffix);
      const m = await read(() => source.getManifest(tag));
      if (!m) return;
      g.cosignTags.push({ tag, digest: m.digest });
      await visit(m, 'cosign');
    });
    const refs = (async () => {
      const found: string[] = [];
      for (const d of await read(() => listReferrers(source, digest))) {
        const m = await read(() => source.getManifest(d.digest));
        // Listed but absent, or not really about this subject: not ours to carry.
        if (!m || parseManifest(m).subject?.digest !== digest) continue;
        found.push(m.digest);
        await visit(m, 'referrer', digest);
      }
      if (found.length) g.referrers.set(digest, found);
    })();
    await Promise.all([...cosign, refs]);
  };

  await visit(root, 'image');
  g.cosignTags.sort((a, b) => a.tag.localeCompare(b.tag));
  return g;
}
