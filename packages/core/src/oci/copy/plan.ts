import { ConflictError } from '../../errors.js';
import { mapLimit } from '../../concurrency.js';
import type { SourceGraph, Role } from './graph.js';
import type { Descriptor, Manifest } from '../ref/media.js';
import { fallbackTag, mergeFallbackIndex, referrerDescriptor } from './referrers.js';
import type { Repo } from '../repo/repo.js';
import { OCI_INDEX } from '../ref/media.js';
import { sha256Digest } from '../ref/digest.js';

export type BlobAction = 'copy' | 'mount' | 'present';
export type ManifestAction = 'put' | 'present';
export type TagAction = 'put' | 'present' | 'move';

export interface PlannedBlob {
  descriptor: Descriptor;
  action: BlobAction;
}
export interface PlannedManifest {
  manifest: Manifest;
  role: Role;
  action: ManifestAction;
  subject?: string;
  children: string[];
}
export interface PlannedTag {
  tag: string;
  digest: string;
  kind: 'tag' | 'cosign' | 'referrers';
  action: TagAction;
  current?: string;
  manifest: Manifest;
}

export interface Plan {
  source: string;
  target: string;
  root: Descriptor;
  manifests: PlannedManifest[];
  blobs: PlannedBlob[];
  /** Requested tags, then cosign tags, then fallback indexes Relay maintains on targets without the referrers API. */
  tags: PlannedTag[];
  /** Whether the target indexes referrers itself (referrers API). */
  targetReferrersApi: boolean;
}

export interface PlanOptions {
  tags: string[];
  /** Tags the target refuses to move (an immutable repository): a move is a conflict. */
  immutable: (tag: string) => boolean;
  parallel: number;
  signal?: AbortSignal;
}

/**
 * Compares the source graph with the target (reads only) and decides each
 * object's fate. Conflicts refuse here, before anything is written.
 */
export async function planCopy(g: SourceGraph, source: Repo, target: Repo, opts: PlanOptions): Promise<Plan> {
  const nodes = [...g.nodes.values()];
  const presence = await mapLimit(nodes, opts.parallel, (n) => target.headManifest(n.manifest.digest), opts.signal);
  // A manifest the target has implies its blobs (registries check them at PUT): skip their HEADs.
  const needed = new Map<string, Descriptor>();
  const manifests: PlannedManifest[] = nodes.map((n, i) => {
    const parts = n.parts;
    const action = presence[i]?.digest === n.manifest.digest ? 'present' : 'put';
    if (action === 'put') for (const b of parts.blobs) needed.set(b.digest, b);
    return {
      manifest: n.manifest,
      role: n.role,
      action,
      ...(n.subject && { subject: n.subject }),
      children: parts.manifests.map((d) => d.digest),
    };
  });
  const sameRegistry = source.registry !== undefined && source.registry === target.registry && source.repository !== target.repository;
  const blobList = [...needed.values()];
  const have = await mapLimit(blobList, opts.parallel, (b) => target.hasBlob(b), opts.signal);
  const blobs: PlannedBlob[] = blobList.map((b, i) => ({ descriptor: b, action: have[i] ? 'present' : sameRegistry ? 'mount' : 'copy' }));

  const wanted: Omit<PlannedTag, 'action' | 'current'>[] = [
    ...opts.tags.map((tag) => ({ tag, digest: g.root.digest, kind: 'tag' as const, manifest: g.root })),
    ...g.cosignTags.map((c) => ({
      tag: c.tag,
      digest: c.digest,
      kind: 'cosign' as const,
      manifest: (g.nodes.get(c.digest) as { manifest: Manifest }).manifest,
    })),
  ];

  const current = await mapLimit(wanted, opts.parallel, (t) => target.headManifest(t.tag), opts.signal);
  const tags: PlannedTag[] = wanted.map((t, i) => {
    const at = current[i]?.digest;
    return { ...t, action: at === undefined ? 'put' : at === t.digest ? 'present' : 'move', ...(at !== undefined && { current: at }) };
  });

  let targetReferrersApi = false;
  if (g.referrers.size > 0) {
    const first = g.referrers.keys().next().value as string;
    targetReferrersApi = (await target.referrers(first)) !== undefined;
    if (!targetReferrersApi) {
      // Relay keeps the target's fallback index: what it lists plus what we bring.
      for (const [subject, digests] of g.referrers) {
        const tag = fallbackTag(subject);
        const existing = await target.getManifest(tag);
        const merged = mergeFallbackIndex(
          existing,
          digests.map((d) => referrerDescriptor((g.nodes.get(d) as { manifest: Manifest }).manifest)),
        );
        if (!merged && existing) {
          tags.push({ tag, digest: existing.digest, kind: 'referrers', action: 'present', manifest: existing });
          continue;
        }
        const bytes = merged as Buffer;
        const m: Manifest = { digest: sha256Digest(bytes), mediaType: OCI_INDEX, bytes };
        tags.push({
          tag,
          digest: m.digest,
          kind: 'referrers',
          action: existing ? 'move' : 'put',
          manifest: m,
          ...(existing && { current: existing.digest }),
        });
      }
    }
  }

  // Fallback indexes are Relay's own bookkeeping and must move as referrers arrive.
  const blocked = tags.filter((t) => t.action === 'move' && t.kind !== 'referrers' && opts.immutable(t.tag));
  const first = blocked[0];
  if (first) {
    throw new ConflictError(
      `immutable tag conflict: ${target.name}:${first.tag} is ${first.current}, not ${first.digest}` +
        (blocked.length > 1 ? ` (and ${blocked.length - 1} more tags)` : ''),
    );
  }

  return {
    source: source.name,
    target: target.name,
    root: { mediaType: g.root.mediaType, digest: g.root.digest, size: g.root.bytes.length },
    manifests,
    blobs,
    tags,
    targetReferrersApi,
  };
}
