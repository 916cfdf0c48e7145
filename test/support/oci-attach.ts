// Attaches what signers attach, by plain HTTP (not Relay), to an image already
// in a registry: a cosign-style signature tag `sha256-<hex>.sig` and an SPDX
// SBOM referrer (manifest with `subject`) listed in the `sha256-<hex>`
// fallback index, as cosign and oras do on registries without the referrers
// API. No relative imports: bench scripts run it under Node's type stripping.
import { createHash, randomBytes } from 'node:crypto';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const sha = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex');

function authHeaders(auth?: string): Record<string, string> {
  return auth ? { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {};
}

/** Blobs (POST then PUT), then the manifest under `ref`; returns its digest. */
export async function rawPush(
  host: string,
  repo: string,
  ref: string,
  manifest: Buffer,
  mediaType: string,
  blobs: Buffer[],
  auth?: string,
): Promise<string> {
  const headers = authHeaders(auth);
  for (const b of blobs) {
    const start = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers });
    if (start.status !== 202) throw new Error(`POST upload to ${host}/${repo}: HTTP ${start.status}`);
    const loc = new URL(start.headers.get('location')!, `http://${host}`);
    loc.searchParams.set('digest', sha(b));
    const put = await fetch(loc, { method: 'PUT', headers: { ...headers, 'content-type': 'application/octet-stream' }, body: b });
    if (put.status !== 201) throw new Error(`PUT blob to ${host}/${repo}: HTTP ${put.status}`);
  }
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${ref}`, {
    method: 'PUT',
    headers: { ...headers, 'content-type': mediaType },
    body: manifest,
  });
  if (res.status !== 201) throw new Error(`PUT manifest ${host}/${repo}:${ref}: HTTP ${res.status} ${await res.text()}`);
  return sha(manifest);
}

export interface Attached {
  sig: string;
  sbom: string;
  /** Digest of the fallback index at `sha256-<hex>` on the source. */
  fallback: string;
  /** Every blob the attachments add (config `{}`, payload, SBOM document). */
  blobs: { digest: string; size: number }[];
}

export async function attachSignatureAndSbom(
  host: string,
  repo: string,
  subject: { digest: string; size: number; mediaType: string },
  auth?: string,
  opts: { sbom?: boolean } = {},
): Promise<Attached> {
  const hex = subject.digest.slice(7);
  const empty = Buffer.from('{}');
  const payload = Buffer.from(
    JSON.stringify({ critical: { image: { 'docker-manifest-digest': subject.digest }, type: 'cosign container image signature' } }),
  );
  const sigManifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(empty), size: 2 },
      layers: [
        {
          mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
          digest: sha(payload),
          size: payload.length,
          annotations: { 'dev.cosignproject.cosign/signature': randomBytes(32).toString('base64') },
        },
      ],
    }),
  );
  const sig = await rawPush(host, repo, `sha256-${hex}.sig`, sigManifest, OCI_MANIFEST, [empty, payload], auth);
  if (opts.sbom === false) return { sig, sbom: '', fallback: '', blobs: [empty, payload].map((b) => ({ digest: sha(b), size: b.length })) };
  const doc = Buffer.from(JSON.stringify({ spdxVersion: 'SPDX-2.3', name: randomBytes(4).toString('hex') }));
  const sbomManifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/spdx+json',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha(empty), size: 2 },
      layers: [{ mediaType: 'application/spdx+json', digest: sha(doc), size: doc.length }],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    }),
  );
  const sbom = await rawPush(host, repo, sha(sbomManifest), sbomManifest, OCI_MANIFEST, [empty, doc], auth);
  const fallbackIndex = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ mediaType: OCI_MANIFEST, digest: sbom, size: sbomManifest.length, artifactType: 'application/spdx+json' }],
    }),
  );
  const fallback = await rawPush(host, repo, `sha256-${hex}`, fallbackIndex, OCI_INDEX, [], auth);
  const blobs = [empty, payload, doc].map((b) => ({ digest: sha(b), size: b.length }));
  return { sig, sbom, fallback, blobs };
}
