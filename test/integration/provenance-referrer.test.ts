// A promotion statement attached to an image as an OCI referrer, on the
// loopback distribution registry (no referrers API there, so the
// `sha256-<hex>` fallback index is what lists it): found again by Relay's
// reader, listed in the fallback index as oras/cosign read it (raw HTTP),
// parsed, and valid against the in-toto Statement v1 schema. A second
// statement for the same image is merged into the index, not replacing the first.
import { beforeAll, describe, expect, test } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { NullLogger } from '../../packages/core/src/index.js';
import { attachStatement, findStatements, statementArtifact } from '../../packages/core/src/oci/copy/statement-referrer.js';
import { OciSession } from '../../packages/core/src/oci/repo/session.js';
import { parseReference } from '../../packages/core/src/oci/ref/reference.js';
import { builderOf } from '../../packages/core/src/provenance/builder.js';
import { parsePromotion, renderPromotion, samePromotion } from '../../packages/core/src/provenance/promotion.js';
import { LOCAL_BUILDER, PROMOTION_PREDICATE } from '../../packages/core/src/provenance/statement.js';
import { statementErrors } from '../../packages/core/test/provenance/validate.js';
import { makeOciImage, pushImage } from '../support/oci-images.js';
import type { OciImage } from '../support/oci-images.js';
import { registries } from '../support/servers.js';

let reg: ReturnType<typeof registries>;
let image: OciImage;
let repo: string;
beforeAll(async () => {
  reg = registries();
  image = await makeOciImage({ platforms: ['linux/amd64'], layers: 1, layerSize: 10_000, seed: randomBytes(4).toString('hex'), tag: 'v1' });
  repo = `relay-it/provenance-${randomBytes(4).toString('hex')}`;
  await pushImage(image, `${reg.anon}/${repo}:v1`);
}, 60_000);

const statementFor = (digest: string, approver: string): Buffer =>
  renderPromotion({
    artifact: 'oci-image',
    subjects: [{ name: `public.ecr.aws/acme/${repo}`, digest: { sha256: digest.slice(7) } }],
    from: {
      location: `123456789012.dkr.ecr.us-east-1.amazonaws.com/${repo}:v1`,
      artifacts: [{ name: 'src', digest: { sha256: digest.slice(7) } }],
    },
    to: { location: `public.ecr.aws/acme/${repo}`, artifacts: [{ name: 'dst', digest: { sha256: digest.slice(7) } }] },
    approvers: [{ login: approver }],
    plan: { sha256: createHash('sha256').update(approver).digest('hex'), approved: true },
    builder: builderOf({}, LOCAL_BUILDER),
  });

describe('promotion statement as an OCI referrer (loopback registry)', () => {
  test('attached after the image, listed by the fallback index, read back and parsed; a second one is merged', async () => {
    const session = new OciSession({ env: {}, log: new NullLogger() });
    try {
      const target = session.open(parseReference(`${reg.anon}/${repo}`), 'push');
      const subject = { mediaType: image.top.mediaType, digest: image.top.digest, size: image.top.size };
      expect(await findStatements(target, subject.digest, PROMOTION_PREDICATE)).toEqual([]);

      const first = statementFor(subject.digest, 'alice');
      const a = statementArtifact(subject, first, PROMOTION_PREDICATE);
      await attachStatement(target, subject, a, PROMOTION_PREDICATE);

      // What a consumer reads without Relay: the fallback index lists the referrer with its artifactType.
      const res = await fetch(`http://${reg.anon}/v2/${repo}/manifests/sha256-${subject.digest.slice(7)}`, {
        headers: { accept: 'application/vnd.oci.image.index.v1+json' },
        signal: AbortSignal.timeout(15_000),
      });
      expect(res.status).toBe(200);
      const index = (await res.json()) as { manifests: { digest: string; artifactType?: string; annotations?: Record<string, string> }[] };
      expect(index.manifests).toEqual([
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: a.manifest.digest,
          size: a.manifest.bytes.length,
          artifactType: 'application/vnd.in-toto+json',
          annotations: { 'in-toto.io/predicate-type': PROMOTION_PREDICATE },
        },
      ]);
      const manifest = (await (
        await fetch(`http://${reg.anon}/v2/${repo}/manifests/${a.manifest.digest}`, {
          headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
          signal: AbortSignal.timeout(15_000),
        })
      ).json()) as { subject: { digest: string }; layers: { digest: string; mediaType: string }[] };
      expect(manifest.subject.digest).toBe(subject.digest);
      expect(manifest.layers.map((l) => l.mediaType)).toEqual(['application/vnd.in-toto+json']);

      const found = await findStatements(target, subject.digest, PROMOTION_PREDICATE);
      expect(found.map((f) => f.manifest.digest)).toEqual([a.manifest.digest]);
      expect(found[0]!.statement.equals(first)).toBe(true);
      const st = parsePromotion(`${repo}@${a.manifest.digest}`, found[0]!.statement);
      expect(statementErrors(JSON.parse(found[0]!.statement.toString()), 'in-toto')).toEqual([]);
      expect(st.subject[0]!.digest.sha256).toBe(subject.digest.slice(7));
      expect(st.predicate.approvers).toEqual([{ login: 'alice' }]);
      // A re-run's statement (other approvers, other plan) is judged the same promotion.
      expect(samePromotion(found[0]!.statement, statementFor(subject.digest, 'bob'))).toMatch(/^same promotion already recorded/);

      // Another statement for the same image: the fallback index keeps both.
      const b = statementArtifact(subject, statementFor(subject.digest, 'carol'), PROMOTION_PREDICATE);
      await attachStatement(target, subject, b, PROMOTION_PREDICATE);
      const both = await findStatements(target, subject.digest, PROMOTION_PREDICATE);
      expect(both.map((f) => f.manifest.digest).sort()).toEqual([a.manifest.digest, b.manifest.digest].sort());
    } finally {
      session.close();
    }
  }, 60_000);
});
