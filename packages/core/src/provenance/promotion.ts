import type { Approval } from '../audit/record.js';
import { VERSION } from '../version.js';
import type { Builder } from './builder.js';
import {
  parseStatement,
  PROMOTION_PREDICATE,
  renderStatement,
  STATEMENT_TYPE,
  type ResourceDescriptor,
  type Statement,
} from './statement.js';

/**
 * The promotion Statement (predicate PROMOTION_PREDICATE, documented in
 * docs/provenance.md): what was taken from where (staging's digests) to where
 * (production's), who approved it, and the plan hash the run was bound to.
 * Shaped after the in-toto Promotion Record (srcRef, dstRef, digest, builder)
 * that kpromo attaches, plus what that record lacks: the approvers and the plan.
 * The subjects are what production now serves; a provider promotion also
 * names the build provenance it copied from staging.
 */
export interface PromotionPredicate {
  /** `terraform-provider` or `oci-image`. */
  artifact: 'terraform-provider' | 'oci-image';
  from: { location: string; artifacts: ResourceDescriptor[] };
  to: { location: string; artifacts: ResourceDescriptor[] };
  /** The approvals of the run's environment (RELAY_APPROVERS, as the reusable workflows pass it); empty for a run by hand. */
  approvers: Approval[];
  /** The plan the run executed: its sha256 (`plan-hash`), and whether an approved `expect-plan` bound the run to it. */
  plan: { sha256: string; approved: boolean };
  /** The build this promotes (a provider's build record ref, its SLSA statement); absent for an image. */
  build?: { ref?: string | null; provenance?: ResourceDescriptor };
  promoter: { id: string; invocationId: string; version: Record<string, string> };
}

export interface Promotion {
  artifact: PromotionPredicate['artifact'];
  /** What production serves now: the Statement's subjects. */
  subjects: (ResourceDescriptor & { digest: Record<string, string> })[];
  from: PromotionPredicate['from'];
  to: PromotionPredicate['to'];
  approvers: Approval[];
  plan: PromotionPredicate['plan'];
  build?: PromotionPredicate['build'];
  builder: Builder;
}

export function promotionStatement(p: Promotion): Statement<PromotionPredicate> {
  return {
    _type: STATEMENT_TYPE,
    subject: p.subjects,
    predicateType: PROMOTION_PREDICATE,
    predicate: {
      artifact: p.artifact,
      from: p.from,
      to: p.to,
      approvers: p.approvers,
      plan: p.plan,
      ...(p.build && { build: p.build }),
      promoter: { id: p.builder.id, invocationId: p.builder.invocationId, version: { relay: VERSION } },
    },
  };
}

export const renderPromotion = (p: Promotion): Buffer => renderStatement(promotionStatement(p));

export function parsePromotion(where: string, bytes: Buffer): Statement<PromotionPredicate> {
  return parseStatement(where, bytes, PROMOTION_PREDICATE) as Statement<PromotionPredicate>;
}

/**
 * Whether a stored promotion statement already records this promotion: the
 * same subjects, arriving as the same artifacts (and, for an image, tags).
 * Its source, approvers, plan and run are the first run's, and stay: a re-run
 * or a retried job does not rewrite who approved what was already promoted,
 * and production, write-once, keeps the record of how its bytes first came
 * (promoting the same bytes again, from anywhere, stays a no-op as it was
 * before statements). Returns why, or undefined.
 */
export function samePromotion(existing: Buffer, ours: Buffer): string | undefined {
  let a: Statement<PromotionPredicate>, b: Statement<PromotionPredicate>;
  try {
    a = parsePromotion('', existing);
    b = parsePromotion('', ours);
  } catch {
    return undefined;
  }
  const key = (s: Statement<PromotionPredicate>): string => JSON.stringify([s.subject, s.predicate.to?.artifacts]);
  if (key(a) !== key(b)) return undefined;
  return `same promotion already recorded (${a.predicate.promoter?.invocationId ?? 'an earlier run'})`;
}
