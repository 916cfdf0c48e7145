import { IntegrityError } from '../../errors.js';
import { mapLimit } from '../../concurrency.js';
import { joinRef } from '../ref/reference.js';
import type { Repo } from '../repo/repo.js';
import type { Plan } from './plan.js';

export interface Verified {
  reference: string;
  digest: string;
}

/**
 * Reads back what the copy promised: every planned tag resolves (by GET and
 * our own hash, not a header) to its digest, the image exists by digest, and
 * a target with the referrers API lists every referrer brought.
 */
export async function verifyCopy(plan: Plan, target: Repo, referrers: Map<string, string[]>, parallel: number): Promise<Verified[]> {
  const refs = [plan.root.digest, ...plan.tags.map((t) => t.tag)];
  const want = [plan.root.digest, ...plan.tags.map((t) => t.digest)];
  const got = await mapLimit(refs, parallel, (r) => target.getManifest(r));
  const out: Verified[] = [];
  for (const [i, r] of refs.entries()) {
    const at = got[i]?.digest;
    const reference = joinRef(target.name, r);
    if (at !== want[i]) throw new IntegrityError(`verify: ${reference} resolves to ${at ?? 'nothing'}, expected ${want[i]}`);
    out.push({ reference, digest: at as string });
  }
  if (plan.targetReferrersApi) {
    for (const [subject, digests] of referrers) {
      const listed = new Set(((await target.referrers(subject)) ?? []).map((d) => d.digest));
      const missing = digests.filter((d) => !listed.has(d));
      if (missing.length) throw new IntegrityError(`verify: ${target.name} does not list referrer ${missing[0]} of ${subject}`);
    }
  }
  return out;
}
