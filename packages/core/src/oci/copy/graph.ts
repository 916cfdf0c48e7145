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
  parts: ManifestParts;
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

/**
 * Reads the image at `ref` and everything that belongs to it: an index's
 * children by digest, OCI referrers (API or fallback tag) and cosign tags for
 * the index and each child, referrers of referrers. Reads only.
 */
export async function readGraph(source: Repo, ref: string, opts: { withAttachments?: boolean } = {}): Promise<SourceGraph> {
  const root = await source.getManifest(ref);
  if (!root) throw new InputError(`source ${joinRef(source.name, ref)}: not found`);
  const g: SourceGraph = { root, nodes: new Map(), blobs: new Map(), cosignTags: [], referrers: new Map() };
  const seen = new Set<string>();

  const visit = async (m: Manifest, role: Role, subject?: string): Promise<void> => {
    if (seen.has(m.digest)) return;
    seen.add(m.digest);
    const parts = parseManifest(m);
    g.nodes.set(m.digest, { manifest: m, parts, role, ...(subject && { subject }) });
    for (const b of parts.blobs) g.blobs.set(b.digest, b);
    const children = parts.manifests.map(async (d) => {
      const child = await source.getManifest(d.digest);
      if (!child) throw new IntegrityError(`source ${source.name}: ${m.digest} lists ${d.digest}, which the source does not have`);
      if (child.mediaType !== d.mediaType)
        throw new IntegrityError(`source ${source.name}: ${d.digest} is ${child.mediaType}, its index says ${d.mediaType}`);
      await visit(child, 'child');
    });
    const attached = opts.withAttachments === false || role === 'cosign' ? [] : [attachments(m.digest)];
    await Promise.all([...children, ...attached]);
  };

  const attachments = async (digest: string): Promise<void> => {
    const cosign = COSIGN_SUFFIXES.map(async (suffix) => {
      const tag = cosignTag(digest, suffix);
      const m = await source.getManifest(tag);
      if (!m) return;
      g.cosignTags.push({ tag, digest: m.digest });
      await visit(m, 'cosign');
    });
    const refs = (async () => {
      const found: string[] = [];
      for (const d of await listReferrers(source, digest)) {
        const m = await source.getManifest(d.digest);
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
