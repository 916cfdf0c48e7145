import { mapLimit } from '../concurrency.js';
import type { Node, SourceGraph } from '../oci/copy/graph.js';
import { OCI_INDEX, type Descriptor, type Manifest } from '../oci/ref/media.js';
import { targetPresence, type Plan, type PlannedBlob, type PlannedManifest, type PlannedTag } from '../oci/copy/plan.js';
import { fallbackTag, mergeFallbackIndex, referrerDescriptor } from '../oci/copy/referrers.js';
import type { Registry, RegistryRepo } from '../oci/repo/registry.js';
import type { Repo } from '../oci/repo/repo.js';
import { sha256Digest } from '../oci/ref/digest.js';
import { planRows } from '../oci/copy/report.js';
import type { PlanRow } from '../report/plan.js';
import { registryName, type Target } from './config.js';
import type { Capabilities } from './probe.js';
import type { Unit } from './source.js';

/** How one (image, tag, target) ended, as the summary grid shows it. */
export type PairStatus = 'created' | 'up to date' | 'would create' | 'conflict' | 'failed' | 'skipped';

/** One source image (unit) on one target: what it lacks and, once run, how it ended. */
export interface Pair {
  unit: Unit;
  target: Target;
  caps: Capabilities;
  reg: Registry;
  repo: RegistryRepo;
  repository: string;
  /** `registry/repository` as people write it. */
  name: string;
  scopes: string[];
  manifests: PlannedManifest[];
  tags: PlannedTag[];
  /** Blobs this pair is responsible for delivering (shared ones appear in one pair only). */
  blobs: PlannedBlob[];
  referrers: 'api' | 'fallback' | 'none' | 'dropped';
  status?: PairStatus;
  why?: string;
  /** Something was written for this pair. */
  wrote: boolean;
  rows: PlanRow[];
  /** Manifest GETs the run will make on this target (read-back of what it writes). */
  pulls: number;
}

export function newPair(unit: Unit, target: Target, caps: Capabilities, reg: Registry, repository: string, access: 'pull' | 'push'): Pair {
  return {
    unit,
    target,
    caps,
    reg,
    repo: reg.repo(repository, access),
    repository,
    name: `${registryName(target.registry)}/${repository}`,
    scopes: [`repository:${repository}:${access === 'push' ? 'pull,push' : 'pull'}`],
    manifests: [],
    tags: [],
    blobs: [],
    referrers: 'none',
    wrote: false,
    rows: [],
    pulls: 0,
  };
}

export function fail(p: Pair, why: string): void {
  if (p.status === 'failed' || p.status === 'conflict') return;
  p.status = 'failed';
  p.why = why;
}

/**
 * The graph's nodes a target receives: everything, or without referrers
 * (and what hangs off them) when the target refuses artifact manifests.
 */
export function keptNodes(g: SourceGraph, withReferrers: boolean): Node[] {
  if (withReferrers) return [...g.nodes.values()];
  const keep = new Set<string>();
  const visit = (digest: string): void => {
    const n = g.nodes.get(digest);
    if (!n || keep.has(digest)) return;
    keep.add(digest);
    for (const c of n.parts.manifests) visit(c.digest);
  };
  visit(g.root.digest);
  for (const c of g.cosignTags) visit(c.digest);
  return [...keep].map((d) => g.nodes.get(d)!);
}

/** The fallback index Relay writes for a subject on a target that has none: deterministic, so a HEAD proves it current. */
export function expectedFallback(g: SourceGraph, subject: string, digests: string[]): Manifest {
  const bytes = mergeFallbackIndex(
    undefined,
    digests.map((d) => referrerDescriptor(g.nodes.get(d)!.manifest)),
  )!;
  return { digest: sha256Digest(bytes), mediaType: OCI_INDEX, bytes };
}

const short = (d: string | undefined): string => (d ? d.slice(0, 19) : 'nothing');

/**
 * Compares one unit with one target, by HEAD only (HEADs are free on Docker
 * Hub); GET only for a fallback index that must be merged. A tag at its
 * expected digest proves that manifest there, not the manifests under it: a
 * platform or a referrer may have been deleted from the repository since, so
 * each is asked about by digest (the copy engine's targetPresence, which
 * `check` uses as well), and whatever is missing is put back under the tags
 * that stay. A manifest present vouches for its blobs (the registry checked
 * them at its PUT): only the missing manifests' blobs are asked about, which
 * keeps a no-op to a few HEADs per image.
 * Decides each manifest, tag and blob; refusals (a tag at other content)
 * make the pair a conflict. Never writes.
 */
export async function planPair(p: Pair, parallel: number): Promise<void> {
  const g = p.unit.graph!;
  const dropReferrers = p.target.overrides.artifacts === false;
  const nodes = keptNodes(g, !dropReferrers);
  const kept = new Set(nodes.map((n) => n.manifest.digest));
  const wanted: Omit<PlannedTag, 'action' | 'current'>[] = [
    ...p.unit.tags.map((tag) => ({ tag, digest: g.root.digest, kind: 'tag' as const, manifest: g.root })),
    ...g.cosignTags.map((c) => ({ tag: c.tag, digest: c.digest, kind: 'cosign' as const, manifest: g.nodes.get(c.digest)!.manifest })),
  ];
  const subjects = [...g.referrers].filter(([s]) => kept.has(s));
  const referrers = dropReferrers ? [] : subjects;
  const expected = referrers.map(([s, ds]) => ({ subject: s, tag: fallbackTag(s), manifest: expectedFallback(g, s, ds), digests: ds }));
  // First the tags; a tag at its expected digest spares that manifest's own HEAD.
  const tagRefs = [...wanted.map((t) => t.tag), ...expected.map((e) => e.tag)];
  const tagHeads = await mapLimit(tagRefs, parallel, (r) => p.repo.headManifest(r));
  const current = tagHeads.slice(0, wanted.length);
  const fallbackNow = tagHeads.slice(wanted.length);
  const known = new Set(wanted.filter((t, i) => current[i]?.digest === t.digest).map((t) => t.digest));
  // Then every other manifest by digest, and every blob of every manifest.
  const presence = await targetPresence(nodes, p.repo, { parallel, blobs: 'missing', known });
  p.manifests = nodes.map((n) => ({
    manifest: n.manifest,
    role: n.role,
    action: presence.manifests.has(n.manifest.digest) ? 'present' : 'put',
    ...(n.subject && { subject: n.subject }),
    children: n.parts.manifests.map((d) => d.digest),
  }));

  p.tags = wanted.map((t, i) => {
    const at = current[i]?.digest;
    return { ...t, action: at === undefined ? 'put' : at === t.digest ? 'present' : 'move', ...(at !== undefined && { current: at }) };
  });

  if (dropReferrers && g.referrers.size > 0) p.referrers = 'dropped';
  else if (expected.length > 0) await planReferrers(p, g, expected, fallbackNow);

  // Tags at other content: a version tag moves only when allowed; nothing moves on an immutable target.
  const moveTags = p.unit.image.moveTags ?? p.target.moveTags;
  const immutable = p.caps.immutability;
  for (const t of p.tags) {
    if (t.action !== 'move' || t.kind === 'referrers') continue;
    if (immutable?.immutable(t.tag)) {
      p.status = 'conflict';
      p.why = `${p.name}:${t.tag} is ${short(t.current)}, not ${short(t.digest)}, and the target's tags are immutable (${immutable.from})`;
      break;
    }
    if (t.kind === 'tag' && !moveTags) {
      p.status = 'conflict';
      p.why = `${p.name}:${t.tag} is ${short(t.current)}, not ${short(t.digest)} (other content under this tag; move-tags is off)`;
      break;
    }
  }
  if (p.status === 'conflict') return;

  p.blobs = presence.blobs.map((b) => ({ descriptor: b.descriptor, action: b.present ? 'present' : 'copy' }));
  p.pulls = p.manifests.filter((m) => m.action === 'put').length;
}

async function planReferrers(
  p: Pair,
  g: SourceGraph,
  expected: { subject: string; tag: string; manifest: Manifest; digests: string[] }[],
  current: (Descriptor | undefined)[],
): Promise<void> {
  const upToDate = expected.every((e, i) => current[i]?.digest === e.manifest.digest);
  let support: string;
  if (upToDate && !p.target.overrides.referrers) support = 'missing';
  else support = await p.caps.referrersApi(p.reg, p.repository, expected[0]!.subject, p.scopes);
  if (support === 'api') {
    p.referrers = 'api';
    return;
  }
  p.referrers = 'fallback';
  for (const [i, e] of expected.entries()) {
    const at = current[i]?.digest;
    if (at === e.manifest.digest) {
      p.tags.push({ tag: e.tag, digest: at, kind: 'referrers', action: 'present', manifest: e.manifest, current: at });
      continue;
    }
    if (at === undefined) {
      p.tags.push({ tag: e.tag, digest: e.manifest.digest, kind: 'referrers', action: 'put', manifest: e.manifest });
      continue;
    }
    // Someone else's index (or an older one of ours): keep what it lists, add ours.
    const existing = await p.repo.getManifest(e.tag);
    const merged = mergeFallbackIndex(
      existing,
      e.digests.map((d) => referrerDescriptor(g.nodes.get(d)!.manifest)),
    );
    if (!merged && existing) {
      p.tags.push({
        tag: e.tag,
        digest: existing.digest,
        kind: 'referrers',
        action: 'present',
        manifest: existing,
        current: existing.digest,
      });
      continue;
    }
    const m: Manifest = { digest: sha256Digest(merged!), mediaType: OCI_INDEX, bytes: merged! };
    p.tags.push({ tag: e.tag, digest: m.digest, kind: 'referrers', action: existing ? 'move' : 'put', manifest: m, current: at });
  }
}

/** Where a blob can be mounted from within one registry: a repository known to hold it. */
export type Holders = Map<string, Map<string, { repository: string; repo: Repo }>>;

export function addHolder(h: Holders, registry: string, digest: string, repository: string, repo: Repo): void {
  let m = h.get(registry);
  if (!m) h.set(registry, (m = new Map()));
  if (!m.has(digest)) m.set(digest, { repository, repo });
}

/** One target repository's delivery of one blob. */
export interface Delivery {
  repo: RegistryRepo;
  registry: string;
  repository: string;
  /** Pairs waiting for this blob in this repository. */
  pairs: Pair[];
  action: 'copy' | 'mount';
  /** Mount source: a repository known to hold it, or the delivery that uploads it first in this registry. */
  from?: { repository: string; repo: Repo };
  after?: Delivery;
  /** Resolves true once the blob is in this repository. */
  landed?: Promise<boolean>;
}

/** One source blob and every target repository that lacks it: read once, delivered to each. */
export interface BlobJob {
  descriptor: Descriptor;
  unit: Unit;
  deliveries: Delivery[];
}

/**
 * Groups what every pair lacks by blob: one source read per blob. In each
 * registry the blob is uploaded once and mounted into its other
 * repositories; a repository already holding it (seen by HEAD, implied by a
 * manifest present, or the source itself) is mounted from directly.
 */
export function scheduleBlobs(pairs: Pair[], holders: Holders): BlobJob[] {
  const jobs = new Map<string, BlobJob>();
  const byRepo = new Map<string, Delivery>();
  for (const p of pairs) {
    if (p.status) continue;
    const mine: PlannedBlob[] = [];
    for (const b of p.blobs) {
      if (b.action === 'present') {
        mine.push(b);
        continue;
      }
      const key = `${p.target.registry}/${p.repository}@${b.descriptor.digest}`;
      const shared = byRepo.get(key);
      if (shared) {
        shared.pairs.push(p);
        continue;
      }
      let job = jobs.get(b.descriptor.digest);
      if (!job) jobs.set(b.descriptor.digest, (job = { descriptor: b.descriptor, unit: p.unit, deliveries: [] }));
      const mounts = p.target.overrides.mounts !== false;
      const holder = holders.get(p.target.registry)?.get(b.descriptor.digest);
      const leader = job.deliveries.find((d) => d.registry === p.target.registry && d.action === 'copy');
      const d: Delivery = {
        repo: p.repo,
        registry: p.target.registry,
        repository: p.repository,
        pairs: [p],
        action: 'copy',
      };
      if (mounts && holder && holder.repository !== p.repository) {
        d.action = 'mount';
        d.from = holder;
      } else if (mounts && leader) {
        d.action = 'mount';
        d.from = { repository: leader.repository, repo: leader.repo };
        d.after = leader;
      }
      job.deliveries.push(d);
      byRepo.set(key, d);
      mine.push({ descriptor: b.descriptor, action: d.action });
    }
    p.blobs = mine;
  }
  return [...jobs.values()];
}

/** The pair's plan as rows of the shared vocabulary (blobs, manifests by digest, then tags). */
export function pairRows(p: Pair): PlanRow[] {
  const plan: Plan = {
    source: p.unit.source.name,
    target: p.name,
    root: { mediaType: p.unit.graph!.root.mediaType, digest: p.unit.digest, size: p.unit.graph!.root.bytes.length },
    manifests: p.manifests,
    blobs: p.blobs,
    tags: p.tags,
    targetReferrersApi: p.referrers === 'api',
  };
  return planRows(plan);
}

/** Whether the pair has nothing to write. */
export function upToDate(p: Pair): boolean {
  return (
    p.manifests.every((m) => m.action === 'present') &&
    p.tags.every((t) => t.action === 'present') &&
    p.blobs.every((b) => b.action === 'present')
  );
}
