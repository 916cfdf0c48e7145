import type { Context, Result } from '../context.js';
import { badInput } from '../errors.js';
import { defineSpec } from '../inputs/spec.js';
import { defineOperation } from '../operation.js';
import { ociCopy } from '../oci/copy/copy.js';
import { copyResult } from '../oci/copy/report.js';
import { SEVERITIES, scanGate } from '../oci/ecr/gates.js';
import { signaturePolicy } from '../oci/signatures/policy.js';
import { requireSignature } from '../oci/signatures/verify.js';
import type { Severity } from '../oci/ecr/gates.js';
import { ECR_PUBLIC_HOST, ecrRegistry, isEcrPublic } from '../oci/ref/hosts.js';
import { parseReference } from '../oci/ref/reference.js';
import { audited } from '../audit/write.js';
import { ImagePromotionStatement } from '../oci/ecr/promotion.js';
import { auditFileInput, planInputs, planOutputs, requestTimeoutInput, subprocessTimeoutInput } from './common.js';
import { imagesOutput, insecureRegistriesInput, openOciSession, signatureInputs } from './oci-session.js';

const spec = defineSpec({
  name: 'promote-ecr-image',
  description:
    'Promotes a tested image from private Amazon ECR to Amazon ECR Public unchanged (same digest, every platform, its signatures and attestations) after scan and signature gates, then verifies it.',
  inputs: {
    source: {
      description: 'Private ECR image by tag or digest: `<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>` or `…@sha256:…`.',
      required: true,
      positional: 0,
    },
    destination: { description: 'ECR Public repository: `public.ecr.aws/<alias>/<repo>`.', required: true, positional: 1 },
    tags: { description: 'Tags to set in ECR Public, one per line.', type: 'list', defaultNote: 'the source tag' },
    ...signatureInputs,
    'max-severity': {
      description: 'Refuse when ECR scan findings of this severity or worse exist (DescribeImageScanFindings); `none` skips the gate.',
      default: 'critical',
      choices: SEVERITIES,
    },
    'dry-run': { description: 'Run the gates and print the plan without writing anything.', type: 'boolean', default: 'false' },
    'insecure-registries': insecureRegistriesInput,
    ...requestTimeoutInput,
    ...subprocessTimeoutInput,
    ...planInputs,
    ...auditFileInput,
  },
  branding: { icon: 'upload-cloud', color: 'orange' },
  outputs: {
    digest: { description: 'Digest of the promoted image (index or manifest), the same in ECR and ECR Public.' },
    images: imagesOutput,
    'promotion-statement': {
      description:
        'Digest of the promotion statement attached to the promoted image as an OCI referrer (an in-toto Statement: from where, the approvers, the plan hash); empty in a dry run.',
    },
    ...planOutputs,
  },
});

export const promoteEcrImage = defineOperation(spec, async (inp, ctx: Context): Promise<Result> => {
  const source = parseReference(inp.source, 'source');
  const destination = parseReference(inp.destination, 'destination');
  if (source.kind !== 'registry' || !ecrRegistry(source.registry)) {
    badInput('source', 'a private ECR image (<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>)', inp.source);
  }
  if (destination.kind !== 'registry' || !isEcrPublic(destination.registry)) {
    badInput('destination', `an ECR Public repository (${ECR_PUBLIC_HOST}/<alias>/<repo>)`, inp.destination);
  }
  if (!source.tag && !source.digest) badInput('source', 'a tag or digest to promote', inp.source);
  if (inp.tags.length === 0 && !destination.tag && !source.tag) badInput('tags', 'at least one tag when the source is given by digest');
  const policy = await signaturePolicy(inp, ctx.cwd);
  const { session, aws } = openOciSession(ctx, { insecureRegistries: inp['insecure-registries'] });
  const gates: string[] = [];
  const statement = new ImagePromotionStatement({ source, destination, tags: inp.tags, env: ctx.env });
  try {
    const r = await ociCopy(
      {
        source,
        destination,
        tags: inp.tags,
        dryRun: inp['dry-run'],
        immutable: false,
        ...(ctx.record && { record: ctx.record }),
        moreRows: (plan, target) => statement.plan(plan, target),
        // Gates run on what would be published, before anything is written.
        gate: async (g, from) => {
          await ctx.log.group('Gates', async () => {
            if (policy) {
              const found = await requireSignature(from, g.root.digest, g.root.bytes, policy, 'source');
              ctx.log.info(`signature: ${found}`);
              gates.push(`signature: ${found}`);
            }
            const scans = await scanGate(source.registry, source.repository, g, inp['max-severity'] as Severity, aws, ctx.log);
            gates.push(...scans.map((s) => `scan ${s}`));
          });
        },
        ...(policy && {
          afterCopy: async (to, digest, bytes) => {
            const found = await requireSignature(to, digest, bytes, policy, 'target');
            ctx.log.info(`signature in ECR Public: ${found}`);
            gates.push(`signature in ECR Public: ${found}`);
          },
        }),
      },
      session,
      ctx.log,
      ctx.signal,
    );
    const gateSection = {
      heading: 'Gates',
      text: gates.length ? gates.join('; ') : `none (no signature policy, max-severity ${inp['max-severity']})`,
    };
    const res = copyResult('promote-ecr-image', r, [gateSection]);
    // After the image is written and verified: the statement names the plan approve() let through.
    const attached = inp['dry-run'] ? '' : await statement.attach(ctx.record?.approved ?? '', ctx.record?.expected !== undefined);
    return await audited(ctx, { ...res, outputs: { ...res.outputs, 'promotion-statement': attached } }, { file: inp['audit-file'] });
  } finally {
    session.close();
  }
});
