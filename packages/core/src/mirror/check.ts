import { mapLimit } from '../concurrency.js';
import { CancelledError, errorMessage } from '../errors.js';
import { isIndexType, parseManifest } from '../oci/ref/media.js';
import { fallbackTag } from '../oci/copy/referrers.js';
import type { Node, SourceGraph } from '../oci/copy/graph.js';
import { targetPresence } from '../oci/copy/plan.js';
import { expectedFallback, keptNodes, type Pair } from './plan.js';
import { childPlatform } from './source.js';
import type { SignaturePolicy } from '../oci/signatures/policy.js';
import { checkSignatures, refusal } from '../oci/signatures/verify.js';

/** A mirror's state for one (image, version): the drift report's vocabulary. */
export type DriftStatus = 'ok' | 'missing' | 'moved' | 'incomplete' | 'unreachable';

export interface DriftRow {
  pair: Pair;
  tag: string;
  status: DriftStatus;
  why: string;
}

const short = (d: string | undefined): string => (d ? d.slice(0, 19) : 'nothing');
const KIND: Record<string, string> = { sig: 'signature', att: 'attestation', sbom: 'SBOM' };

/**
 * Classifies one unit on one target without writing anything, by HEAD where
 * that suffices: each tag missing, moved (at other content) or present; when
 * present, whether every platform, referrer, cosign tag and blob is there too.
 */
export async function checkPair(p: Pair, parallel: number, signatures?: SignaturePolicy): Promise<DriftRow[]> {
  const u = p.unit;
  if (u.error || !u.graph) return u.tags.map((tag) => ({ pair: p, tag, status: 'unreachable', why: u.error ?? 'source not read' }));
  try {
    const at = await mapLimit(u.tags, parallel, (t) => p.repo.headManifest(t));
    const problems = at.some((d) => d?.digest === u.digest) ? await completeness(p, parallel) : [];
    // A mirror whose signature no longer verifies for its digest (replaced, re-signed by another key) is drift.
    if (signatures && at.some((d) => d?.digest === u.digest)) {
      const c = await checkSignatures(p.repo, u.digest, u.graph.root.bytes, signatures);
      if (!c.verified) problems.push(`signature: ${refusal(c, signatures, fallbackTag(u.digest) + '.sig')}`);
    }
    return u.tags.map((tag, i): DriftRow => {
      const d = at[i]?.digest;
      if (d === undefined) return { pair: p, tag, status: 'missing', why: `${p.name}:${tag} does not exist` };
      if (d !== u.digest)
        return { pair: p, tag, status: 'moved', why: `${p.name}:${tag} is ${short(d)}, the source's is ${short(u.digest)}` };
      if (problems.length) return { pair: p, tag, status: 'incomplete', why: problems.join('; ') };
      return { pair: p, tag, status: 'ok', why: '' };
    });
  } catch (err) {
    if (err instanceof CancelledError) throw err;
    return u.tags.map((tag) => ({ pair: p, tag, status: 'unreachable', why: errorMessage(err) }));
  }
}

/** What a manifest of the graph is, as a drift reason names it: `platform linux/arm64`, `referrer (type)`, `signature <tag>`. */
function owner(g: SourceGraph, n: Node): string {
  const d = n.manifest.digest;
  if (d === g.root.digest) return isIndexType(n.manifest.mediaType) ? 'index' : 'image';
  if (n.role === 'referrer') return `referrer (${parseManifest(n.manifest).artifactType ?? 'artifact'})`;
  if (n.role === 'cosign') {
    const tag = g.cosignTags.find((c) => c.digest === d)?.tag;
    return tag ? `${KIND[tag.split('.').pop()!] ?? 'cosign tag'} ${tag}` : 'cosign manifest';
  }
  const platform = childPlatform(g, d);
  return platform ? `platform ${platform}` : 'child';
}

/**
 * What keeps a mirror whose tag is at the right digest from being complete:
 * each manifest under it (platforms, referrers, signatures), asked about by
 * digest through the copy engine's targetPresence, the walk sync plans with,
 * so what check names sync puts back; then cosign tags and the referrer
 * listing. A manifest present vouches for its blobs, as the registry checked
 * them when it was put (sync and check alike; a registry that loses a blob
 * under a manifest it still serves is not detected).
 */
async function completeness(p: Pair, parallel: number): Promise<string[]> {
  const g = p.unit.graph!;
  const out: string[] = [...p.unit.missingPlatforms.map((pl) => `the source lacks platform ${pl}`)];
  const withReferrers = p.target.overrides.artifacts !== false;
  const cosign = await mapLimit(g.cosignTags, parallel, (c) => p.repo.headManifest(c.tag));
  // The tag at the source's digest (checkPair's condition) and cosign tags where they should be prove those manifests there.
  const known = new Set([g.root.digest, ...g.cosignTags.filter((c, i) => cosign[i]?.digest === c.digest).map((c) => c.digest)]);
  const kept = keptNodes(g, withReferrers);
  const presence = await targetPresence(kept, p.repo, { parallel, blobs: 'missing', known });
  const nodes = kept.filter((n) => n.manifest.digest !== g.root.digest && n.role !== 'cosign');
  const missingReferrers = new Set<string>();
  // A missing cosign manifest is its tag's problem, reported below with the tag.
  for (const n of nodes) {
    if (presence.manifests.has(n.manifest.digest)) continue;
    if (n.role === 'referrer') missingReferrers.add(n.manifest.digest);
    out.push(`${owner(g, n)} manifest ${n.manifest.digest} missing`);
  }
  for (const [i, c] of g.cosignTags.entries()) {
    const what = KIND[c.tag.split('.').pop()!] ?? 'cosign tag';
    const d = cosign[i]?.digest;
    if (d === undefined) out.push(`${what} ${c.tag} missing`);
    else if (d !== c.digest) out.push(`${what} ${c.tag} differs (${short(d)} on the mirror, ${short(c.digest)} at the source)`);
  }
  if (!withReferrers) return out;
  const subjects = [...g.referrers].filter(([s]) => s === g.root.digest || nodes.some((n) => n.manifest.digest === s));
  if (subjects.length === 0) return out;
  const expected = subjects.map(([s, ds]) => ({ subject: s, tag: fallbackTag(s), digest: expectedFallback(g, s, ds).digest, ds }));
  const current = await Promise.all(expected.map((e) => p.repo.headManifest(e.tag)));
  if (expected.every((e, i) => current[i]?.digest === e.digest)) return out;
  const support = await p.caps.referrersApi(p.reg, p.repository, subjects[0]![0], p.scopes);
  for (const [i, e] of expected.entries()) {
    if (current[i]?.digest === e.digest) continue;
    const present = e.ds.filter((d) => !missingReferrers.has(d));
    if (present.length === 0) continue;
    let listed: Set<string>;
    let where: string;
    if (support === 'api') {
      listed = new Set(((await p.repo.referrers(e.subject)) ?? []).map((d) => d.digest));
      where = `the referrers API of ${short(e.subject)}`;
    } else {
      const index = current[i] ? await p.repo.getManifest(e.tag) : undefined;
      if (!index) {
        out.push(`referrers index ${e.tag} missing`);
        continue;
      }
      listed = new Set(isIndexType(index.mediaType) ? parseManifest(index).manifests.map((d) => d.digest) : []);
      where = `the ${short(e.tag)}… index`;
    }
    for (const d of present) if (!listed.has(d)) out.push(`referrer ${short(d)} not listed by ${where}`);
  }
  return out;
}
