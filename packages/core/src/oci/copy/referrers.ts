import { digestHex } from '../ref/digest.js';
import { OCI_INDEX, isIndexType, parseManifest } from '../ref/media.js';
import type { Descriptor, Manifest } from '../ref/media.js';
import type { Repo } from '../repo/repo.js';

/** The referrers tag schema: `sha256-<hex>` (distribution-spec "Referrers Tag Schema"). */
export function fallbackTag(digest: string): string {
  return `sha256-${digestHex(digest)}`;
}

/** cosign's legacy tags for a digest: signatures, attestations, SBOMs. */
export const COSIGN_SUFFIXES = ['sig', 'att', 'sbom'] as const;
export function cosignTag(digest: string, suffix: (typeof COSIGN_SUFFIXES)[number]): string {
  return `${fallbackTag(digest)}.${suffix}`;
}

/**
 * Descriptors of a digest's referrers: the API when the store has one, else
 * the fallback index, trusted only when it is an index other than the subject
 * itself (GitLab answers `sha256-<hex>` with the subject: oras-go #1396).
 */
export async function listReferrers(repo: Repo, subject: string): Promise<Descriptor[]> {
  const viaApi = await repo.referrers(subject);
  if (viaApi) return viaApi;
  const fallback = await repo.getManifest(fallbackTag(subject));
  if (!fallback || fallback.digest === subject || !isIndexType(fallback.mediaType)) return [];
  return parseManifest(fallback).manifests;
}

/** The descriptor a referrers index lists for a manifest (artifactType and annotations carried). */
export function referrerDescriptor(m: Manifest): Descriptor {
  const parts = parseManifest(m);
  return {
    mediaType: m.mediaType,
    digest: m.digest,
    size: m.bytes.length,
    ...(parts.artifactType !== undefined && { artifactType: parts.artifactType }),
    ...(parts.annotations && { annotations: parts.annotations }),
  };
}

/** A fallback index holding `existing` plus `added`, de-duplicated by digest; undefined when nothing changes. */
export function mergeFallbackIndex(existing: Manifest | undefined, added: Descriptor[]): Buffer | undefined {
  const current = existing && isIndexType(existing.mediaType) ? parseManifest(existing).manifests : [];
  const have = new Set(current.map((d) => d.digest));
  const fresh = added.filter((d) => !have.has(d.digest));
  if (fresh.length === 0 && existing) return undefined;
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [...current, ...fresh] }));
}
