import { parseApprovers } from '../../audit/record.js';
import { builderOf } from '../../provenance/builder.js';
import { renderPromotion, samePromotion } from '../../provenance/promotion.js';
import { LOCAL_BUILDER, PROMOTION_PREDICATE } from '../../provenance/statement.js';
import type { PlanRow } from '../../report/plan.js';
import { digestHex } from '../ref/digest.js';
import type { Descriptor } from '../ref/media.js';
import { formatReference, type Reference } from '../ref/reference.js';
import type { Plan } from '../copy/plan.js';
import type { Repo } from '../repo/repo.js';
import { attachStatement, planStatement, statementArtifact, type PlannedStatement } from '../copy/statement-referrer.js';

/**
 * The promotion statement an image promotion attaches to the promoted image
 * (docs/provenance.md): from the source repository to the destination, the
 * same digest, who approved it and under which plan. Planned with the copy
 * (one row, so `expect-plan` binds it), attached once the image is written
 * and verified, then read back. A re-run finds the first run's statement for
 * the same promotion and keeps it.
 */
export class ImagePromotionStatement {
  private planned?: { row: PlanRow; existing?: PlannedStatement['existing']; target: Repo; subject: Descriptor };

  constructor(
    private readonly o: {
      source: Reference;
      destination: Reference;
      tags: readonly string[];
      env: Record<string, string | undefined>;
    },
  ) {}

  private render(subject: string, planSha256: string, approved: boolean): Buffer {
    const to = formatReference(this.o.destination, {});
    const digest = { sha256: digestHex(subject) };
    return renderPromotion({
      artifact: 'oci-image',
      subjects: [{ name: to, digest }],
      from: { location: formatReference(this.o.source), artifacts: [{ name: formatReference(this.o.source, {}), digest }] },
      to: {
        location: to,
        artifacts: [{ name: to, digest, ...(this.o.tags.length && { annotations: { tags: [...this.o.tags] } }) }],
      },
      approvers: parseApprovers(this.o.env.RELAY_APPROVERS),
      plan: { sha256: planSha256, approved },
      builder: builderOf(this.o.env, LOCAL_BUILDER),
    });
  }

  /** The row (reads only): for CopyRequest.moreRows. */
  async plan(plan: Plan, target: Repo): Promise<PlanRow[]> {
    const subject = plan.root;
    const ours = this.render(subject.digest, '', false);
    const p = await planStatement(target, subject.digest, PROMOTION_PREDICATE, 'promotion statement', (existing) =>
      samePromotion(existing, ours),
    );
    this.planned = { ...p, target, subject };
    return [p.row];
  }

  /** Attaches it (unless an equivalent one is there) and returns the referrer manifest's digest. */
  async attach(planSha256: string, approved: boolean): Promise<string> {
    const p = this.planned;
    if (!p) throw new Error('ImagePromotionStatement.attach before plan');
    if (p.existing) {
      p.row.result = 'unchanged';
      return p.existing.manifest.digest;
    }
    const a = statementArtifact(p.subject, this.render(p.subject.digest, planSha256, approved), PROMOTION_PREDICATE);
    try {
      await attachStatement(p.target, p.subject, a, PROMOTION_PREDICATE);
    } catch (err) {
      p.row.result = 'failed';
      throw err;
    }
    p.row.result = 'written';
    return a.manifest.digest;
  }
}
