import { IntegrityError } from '../../errors.js';
import { mapLimit } from '../../concurrency.js';
import { parseManifest } from '../ref/media.js';
import { joinRef } from '../ref/reference.js';
import type { Repo } from '../repo/repo.js';
import type { Plan } from './plan.js';

export interface Verified {
  reference: string;
  digest: string;
}

export interface VerifyResult {
  /** Tags and the image by digest, each resolved to what it should be. */
  references: Verified[];
  /** Manifests written and found by digest at their size, and the blobs they reference, found at theirs. */
  manifests: number;
  blobs: number;
}

/**
 * Reads back what the copy promised, content first: every manifest written
 * (index, children, referrers, cosign artifacts) is on the target by digest
 * at its size, every blob they reference answers HEAD at its size;
 * then every planned tag resolves (by GET and our own hash, not a header) to
 * its digest, and a target with the referrers API lists every referrer
 * brought. Content is checked by HEAD only: registries such as Docker Hub
 * count GETs against a quota. A store that acknowledged writes and kept
 * nothing fails here, naming the first object missing.
 */
export async function verifyCopy(
  plan: Plan,
  target: Repo,
  referrers: Map<string, string[]>,
  parallel: number,
  signal?: AbortSignal,
): Promise<VerifyResult> {
  const blobs = new Map<string, number>();
  // What the plan found present it has just read by digest; what was written is read back.
  const written = plan.manifests.filter((m) => m.action === 'put');
  await mapLimit(
    written,
    parallel,
    async ({ manifest: m, role }) => {
      const what = `verify: ${role} manifest ${joinRef(target.name, m.digest)}`;
      const at = await target.headManifest(m.digest);
      if (!at) throw new IntegrityError(`${what} is missing from the target`);
      if (at.digest !== m.digest) throw new IntegrityError(`${what} resolves to ${at.digest}`);
      if (at.size !== m.bytes.length) throw new IntegrityError(`${what} is ${at.size} bytes on the target, not ${m.bytes.length}`);
      for (const b of parseManifest(m).blobs) blobs.set(b.digest, b.size);
    },
    signal,
  );
  await verifyBlobs(target, blobs, parallel, signal);

  const refs = [plan.root.digest, ...plan.tags.map((t) => t.tag)];
  const want = [plan.root.digest, ...plan.tags.map((t) => t.digest)];
  // The image by digest answers HEAD like every manifest; tags are read and hashed. Only digests are kept
  // (an index of 10,000 children is megabytes, and each of its tags would bring a copy).
  const got = await mapLimit(
    refs,
    parallel,
    async (r, i) => (i === 0 ? await target.headManifest(r) : await target.getManifest(r))?.digest,
    signal,
  );
  const references: Verified[] = [];
  for (const [i, r] of refs.entries()) {
    const at = got[i];
    const reference = joinRef(target.name, r);
    if (at !== want[i]) throw new IntegrityError(`verify: ${reference} resolves to ${at ?? 'nothing'}, expected ${want[i]}`);
    references.push({ reference, digest: at as string });
  }
  if (plan.targetReferrersApi) {
    for (const [subject, digests] of referrers) {
      const listed = new Set(((await target.referrers(subject)) ?? []).map((d) => d.digest));
      const missing = digests.filter((d) => !listed.has(d));
      if (missing.length) throw new IntegrityError(`verify: ${target.name} does not list referrer ${missing[0]} of ${subject}`);
    }
  }
  return { references, manifests: written.length, blobs: blobs.size };
}

/**
 * Every blob (digest to size) answers HEAD on the target at its size: how
 * copy-image and mirror-artifact read back the blobs under what they wrote.
 * A target that acknowledged uploads and kept nothing fails here, naming the
 * first blob missing.
 */
export async function verifyBlobs(
  target: Pick<Repo, 'name' | 'blobSize'>,
  blobs: Map<string, number>,
  parallel: number,
  signal?: AbortSignal,
): Promise<void> {
  await mapLimit(
    [...blobs],
    parallel,
    async ([digest, size]) => {
      const what = `verify: blob ${joinRef(target.name, digest)}`;
      const got = await target.blobSize(digest);
      if (got === undefined) throw new IntegrityError(`${what} is missing from the target`);
      if (got !== size)
        throw new IntegrityError(`${what} is ${Number.isNaN(got) ? 'of no stated size' : `${got} bytes`} on the target, not ${size}`);
    },
    signal,
  );
}
