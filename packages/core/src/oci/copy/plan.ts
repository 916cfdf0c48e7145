import { ConflictError } from '../../errors.js';
import { mapLimit } from '../../concurrency.js';
import type { Node, SourceGraph, Role } from './graph.js';
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
  /** The manifest the tag pointed at when planned; undefined when it did not exist. */
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

/** What a target holds of a graph's manifests and their blobs, as seen by HEAD. */
export interface Presence {
  /** Digests of the manifests the target holds (asked, or known from a tag that resolves to them). */
  manifests: Set<string>;
  /** The blobs asked about, each once, in the order the manifests list them. */
  blobs: { descriptor: Descriptor; present: boolean }[];
}

export interface PresenceOptions {
  parallel: number;
  /**
   * Which blobs to ask about: only those of the manifests the target lacks
   * (`missing`: a registry checks a manifest's blobs when it is put), or
   * those of every manifest (`all`: a blob deleted from a repository whose
   * manifest is still there is found too, as a mirror that must prove itself
   * complete needs).
   */
  blobs: 'missing' | 'all';
  /** Manifests known to be there (a tag resolves to them): not asked again, their blobs still are. */
  known?: ReadonlySet<string>;
  signal?: AbortSignal;
}

/**
 * The one walk that compares a graph with a target, HEAD only, `parallel`
 * at a time: each manifest by digest (never implied by an index or a tag
 * above it, as a child may have been deleted under a tag that still
 * resolves), and then the blobs `opts.blobs` asks for. With `all`, manifests
 * and blobs are asked about together.
 */
export async function targetPresence(
  nodes: readonly Node[],
  target: Pick<Repo, 'headManifest' | 'hasBlob'>,
  opts: PresenceOptions,
): Promise<Presence> {
  const known = opts.known ?? new Set<string>();
  const manifests = new Set(nodes.map((n) => n.manifest.digest).filter((d) => known.has(d)));
  const ask = nodes.filter((n) => !known.has(n.manifest.digest));
  const blobsOf = (list: readonly Node[]): Descriptor[] => {
    const m = new Map<string, Descriptor>();
    for (const n of list) for (const b of n.parts.blobs) if (!m.has(b.digest)) m.set(b.digest, b);
    return [...m.values()];
  };
  type Job = { node: Node } | { blob: Descriptor };
  const run = (jobs: Job[]): Promise<boolean[]> =>
    mapLimit(
      jobs,
      opts.parallel,
      async (j) =>
        'node' in j ? (await target.headManifest(j.node.manifest.digest))?.digest === j.node.manifest.digest : await target.hasBlob(j.blob),
      opts.signal,
    );
  if (opts.blobs === 'all') {
    const blobs = blobsOf(nodes);
    const got = await run([...ask.map((node) => ({ node })), ...blobs.map((blob) => ({ blob }))]);
    ask.forEach((n, i) => got[i] && manifests.add(n.manifest.digest));
    return { manifests, blobs: blobs.map((descriptor, i) => ({ descriptor, present: got[ask.length + i]! })) };
  }
  const got = await run(ask.map((node) => ({ node })));
  ask.forEach((n, i) => got[i] && manifests.add(n.manifest.digest));
  const blobs = blobsOf(nodes.filter((n) => !manifests.has(n.manifest.digest)));
  const have = await run(blobs.map((blob) => ({ blob })));
  return { manifests, blobs: blobs.map((descriptor, i) => ({ descriptor, present: have[i]! })) };
}

/**
 * Compares the source graph with the target (reads only) and decides each
 * object's fate. Conflicts refuse here, before anything is written.
 */
export async function planCopy(g: SourceGraph, source: Repo, target: Repo, opts: PlanOptions): Promise<Plan> {
  const nodes = [...g.nodes.values()];
  // A manifest the target has implies its blobs (registries check them at PUT): only the others' are asked about.
  const presence = await targetPresence(nodes, target, {
    parallel: opts.parallel,
    blobs: 'missing',
    ...(opts.signal && { signal: opts.signal }),
  });
  const manifests: PlannedManifest[] = nodes.map((n) => ({
    manifest: n.manifest,
    role: n.role,
    action: presence.manifests.has(n.manifest.digest) ? 'present' : 'put',
    ...(n.subject && { subject: n.subject }),
    children: n.parts.manifests.map((d) => d.digest),
  }));
  const sameRegistry = source.registry !== undefined && source.registry === target.registry && source.repository !== target.repository;
  const blobs: PlannedBlob[] = presence.blobs.map((b) => ({
    descriptor: b.descriptor,
    action: b.present ? 'present' : sameRegistry ? 'mount' : 'copy',
  }));

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
          tags.push({ tag, digest: existing.digest, kind: 'referrers', action: 'present', manifest: existing, current: existing.digest });
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
