import type { Context, Result } from '../context.js';
import { defineSpec } from '../inputs/spec.js';
import { defineOperation } from '../operation.js';
import { ociCopy } from '../oci/copy/copy.js';
import { copyResult } from '../oci/copy/report.js';
import { ecrTagImmutability } from '../oci/ecr/immutability.js';
import { parseReference } from '../oci/ref/reference.js';
import { inputCredentials } from '../oci/repo/auth/credentials.js';
import { audited } from '../audit/write.js';
import { auditFileInput, planInputs, planOutputs, requestTimeoutInput, subprocessTimeoutInput } from './common.js';
import { imagesOutput, insecureRegistriesInput, openOciSession, signatureInputs } from './oci-session.js';
import { signaturePolicy } from '../oci/signatures/policy.js';
import { requireSignature } from '../oci/signatures/verify.js';

const spec = defineSpec({
  name: 'copy-image',
  description:
    'Copies an OCI image (every platform, its signatures, attestations and referrers) digest-unchanged between registries or OCI layout directories, then verifies the target.',
  inputs: {
    source: {
      description: 'Image to copy: `registry/repo:tag`, `registry/repo@sha256:…` (optional `docker://`), or `oci:<dir>[:tag]`.',
      required: true,
      positional: 0,
    },
    destination: { description: 'Where to: `registry/repo[:tag]` or `oci:<dir>[:tag]`.', required: true, positional: 1 },
    tags: {
      description: 'Tags to set on the destination, one per line.',
      type: 'list',
      defaultNote: "the destination's tag, else the source's",
    },
    'immutable-tags': {
      description: 'Refuse to move a destination tag that points at another digest (immutable repository); ECR repositories are asked.',
      type: 'boolean',
      default: 'false',
    },
    'dry-run': {
      description: 'Print the plan (write / mount / already there / conflict) without writing anything.',
      type: 'boolean',
      default: 'false',
    },
    ...signatureInputs,
    'insecure-registries': insecureRegistriesInput,
    'source-username': {
      description: 'Username for the source registry.',
      defaultNote: 'docker config.json, or native ECR / ECR Public auth',
    },
    'source-password': { description: 'Password or token for the source registry.', secret: true },
    'destination-username': {
      description: 'Username for the destination registry.',
      defaultNote: 'docker config.json, or native ECR / ECR Public auth',
    },
    'destination-password': { description: 'Password or token for the destination registry.', secret: true },
    ...requestTimeoutInput,
    ...subprocessTimeoutInput,
    ...planInputs,
    ...auditFileInput,
  },
  branding: { icon: 'copy', color: 'blue' },
  outputs: {
    digest: { description: 'Digest of the image (index or manifest) copied.' },
    images: imagesOutput,
    ...planOutputs,
  },
});

export const copyImage = defineOperation(spec, async (inp, ctx: Context): Promise<Result> => {
  const source = parseReference(inp.source, 'source');
  const destination = parseReference(inp.destination, 'destination');
  const credentials = inputCredentials([
    { ref: source, user: inp['source-username'], pass: inp['source-password'], input: 'source' },
    { ref: destination, user: inp['destination-username'], pass: inp['destination-password'], input: 'destination' },
  ]);
  const policy = await signaturePolicy(inp, ctx.cwd);
  const { session, aws } = openOciSession(ctx, { insecureRegistries: inp['insecure-registries'], credentials });
  const signatures: string[] = [];
  try {
    const fromEcr =
      destination.kind === 'registry' ? await ecrTagImmutability(destination.registry, destination.repository, aws, ctx.log) : undefined;
    const immutable = inp['immutable-tags'] ? true : (fromEcr ?? false);
    const r = await ociCopy(
      {
        source,
        destination,
        tags: inp.tags,
        dryRun: inp['dry-run'],
        immutable,
        ...(ctx.record && { record: ctx.record }),
        ...(policy && {
          gate: async (g, from) => {
            const found = await requireSignature(from, g.root.digest, g.root.bytes, policy, 'source');
            ctx.log.info(`signature: ${found}`);
            signatures.push(`source: ${found}`);
          },
          afterCopy: async (to, digest, bytes) => {
            const found = await requireSignature(to, digest, bytes, policy, 'target');
            ctx.log.info(`signature on the target: ${found}`);
            signatures.push(`target: ${found}`);
          },
        }),
      },
      session,
      ctx.log,
      ctx.signal,
    );
    const sections = signatures.length ? [{ heading: 'Signature', text: signatures.join('; ') }] : [];
    return await audited(ctx, copyResult('copy-image', r, sections), { file: inp['audit-file'] });
  } finally {
    session.close();
  }
});
