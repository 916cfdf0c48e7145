import { Buffer } from 'node:buffer';
import { IntegrityError } from '../../errors.js';
import { cosignTag, listReferrers } from '../copy/referrers.js';
import { sha256Digest } from '../ref/digest.js';
import { parseManifest } from '../ref/media.js';
import type { Descriptor } from '../ref/media.js';
import type { Repo } from '../repo/repo.js';

/** cosign's legacy signature layer and its annotations (cosign pkg/oci/static/signature.go). */
export const SIMPLESIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const ANN_SIGNATURE = 'dev.cosignproject.cosign/signature';
export const ANN_CERTIFICATE = 'dev.sigstore.cosign/certificate';
export const ANN_CHAIN = 'dev.sigstore.cosign/chain';
export const ANN_BUNDLE = 'dev.sigstore.cosign/bundle';
/** cosign 3's signature referrer: a Sigstore bundle as the layer (cosign pkg/oci/remote/write.go WriteAttestationNewBundleFormat). */
export const BUNDLE_ARTIFACT = /^application\/vnd\.dev\.sigstore\.bundle\.v0\.\d+\+json$/;

/** A signature found for an image digest, with the bytes it covers, not yet verified. */
export type FoundSignature =
  | {
      form: 'tag';
      /** `repo:sha256-<hex>.sig` layer n, for messages. */
      where: string;
      payload: Buffer;
      annotations: Record<string, string>;
    }
  | { form: 'bundle'; where: string; bundle: Buffer };

/** Payloads and bundles are small JSON documents; cosign refuses payloads over 128 MiB, Relay over this. */
const MAX_SIGNATURE_BLOB = 4 * 1024 * 1024;

async function readBlob(repo: Repo, d: Descriptor, what: string): Promise<Buffer> {
  if (d.size > MAX_SIGNATURE_BLOB)
    throw new IntegrityError(`${what}: ${d.size} bytes, more than a signature should be (${MAX_SIGNATURE_BLOB})`);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of await repo.openBlob(d)) {
    n += (c as Buffer).length;
    if (n > d.size) throw new IntegrityError(`${what}: longer than its descriptor's ${d.size} bytes`);
    chunks.push(c as Buffer);
  }
  const bytes = Buffer.concat(chunks);
  if (sha256Digest(bytes) !== d.digest) throw new IntegrityError(`${what}: its bytes do not hash to ${d.digest}`);
  return bytes;
}

/**
 * Every signature `repo` holds for `digest`, in both forms cosign writes: the
 * layers of the legacy `sha256-<hex>.sig` tag, and Sigstore bundles attached
 * as referrers (API or fallback index). Reads only; blobs digest-checked.
 */
export async function findSignatures(repo: Repo, digest: string): Promise<FoundSignature[]> {
  const found: FoundSignature[] = [];
  const tag = cosignTag(digest, 'sig');
  const sig = await repo.getManifest(tag);
  if (sig) {
    const layers = parseManifest(sig).blobs.filter((b) => b.mediaType === SIMPLESIGNING);
    for (const [i, layer] of layers.entries()) {
      const where = `${repo.name}:${tag} layer ${i + 1}`;
      found.push({ form: 'tag', where, payload: await readBlob(repo, layer, where), annotations: layer.annotations ?? {} });
    }
  }
  for (const d of await listReferrers(repo, digest)) {
    // The index entry's artifactType may be missing or wrong (GHCR's fallback says oci.empty): the manifest decides.
    const m = await repo.getManifest(d.digest);
    if (!m) continue;
    const parts = parseManifest(m);
    if (parts.subject?.digest !== digest || !BUNDLE_ARTIFACT.test(parts.artifactType ?? '')) continue;
    const layer = parts.blobs.find((b) => BUNDLE_ARTIFACT.test(b.mediaType));
    if (!layer) continue;
    const where = `${repo.name}@${m.digest} (Sigstore bundle referrer)`;
    found.push({ form: 'bundle', where, bundle: await readBlob(repo, layer, where) });
  }
  return found;
}
