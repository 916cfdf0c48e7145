import type { Context, Result } from '../context.js';
import { defineOperation } from '../inputs/spec.js';
import type { InputValues } from '../inputs/spec.js';
import { defineRunnable } from '../operation.js';
import type { Credential } from './auth/credentials.js';
import { ecrTagImmutability } from './ecr-gates.js';
import { awsConfigFromEnv } from './auth/ecr.js';
import { copyImage as copy } from './copy.js';
import { parseReference } from './reference.js';
import type { Reference } from './reference.js';
import { OciSession } from './session.js';
import type { OciSessionOptions } from './session.js';
import { badInput } from '../errors.js';

export const copyImageSpec = defineOperation({
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
    'insecure-registries': { description: 'Registry hosts (host[:port]) spoken to over plain HTTP; loopback always may.', type: 'list' },
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
  },
  outputs: {
    digest: { description: 'Digest of the image (index or manifest) copied.' },
    images: { description: 'Every reference written, one per line (`repo:tag@digest`, then `repo@digest`).' },
  },
});

type CopyInputs = InputValues<typeof copyImageSpec.inputs>;

/** Overrides for tests and stand-ins; the faces pass none. */
export interface OciDeps {
  http?: OciSessionOptions['http'];
  aws?: OciSessionOptions['aws'];
}

/** Username/password pairs given as inputs, keyed by the registry they are for. */
export function inputCredentials(
  pairs: { ref: Reference; user: string | undefined; pass: string | undefined; input: string }[],
): OciSessionOptions['credentials'] {
  const out: NonNullable<OciSessionOptions['credentials']> = {};
  for (const p of pairs) {
    if (!p.user && !p.pass) continue;
    if (!p.user || !p.pass) badInput(`${p.input}-username`, `both ${p.input}-username and ${p.input}-password, or neither`);
    if (p.ref.kind !== 'registry') badInput(`${p.input}-username`, `a registry ${p.input}, not an OCI layout`);
    const credential: Credential = { kind: 'basic', username: p.user, password: p.pass };
    out[p.ref.registry] = { credential, source: `input '${p.input}-password'` };
  }
  return out;
}

export async function runCopyImage(inp: CopyInputs, ctx: Context, deps: OciDeps = {}): Promise<Result> {
  const source = parseReference(inp.source, 'source');
  const destination = parseReference(inp.destination, 'destination');
  const credentials = inputCredentials([
    { ref: source, user: inp['source-username'], pass: inp['source-password'], input: 'source' },
    { ref: destination, user: inp['destination-username'], pass: inp['destination-password'], input: 'destination' },
  ]);
  const aws = deps.aws ?? awsConfigFromEnv(ctx.env);
  const session = new OciSession({
    env: ctx.env,
    log: ctx.log,
    cwd: ctx.cwd,
    insecureRegistries: inp['insecure-registries'],
    credentials,
    aws,
    ...(deps.http && { http: deps.http }),
  });
  try {
    const fromEcr =
      destination.kind === 'registry' ? await ecrTagImmutability(destination.registry, destination.repository, aws, ctx.log) : undefined;
    const immutable = inp['immutable-tags'] ? true : (fromEcr ?? false);
    const r = await copy({ source, destination, tags: inp.tags, dryRun: inp['dry-run'], immutable }, session, ctx.log, ctx.signal);
    return {
      outputs: { digest: r.digest, images: r.images.join('\n') },
      report: { title: `copy-image ${r.plan.source} → ${r.plan.target}`, sections: r.sections },
    };
  } finally {
    session.close();
  }
}

export const copyImage = defineRunnable(copyImageSpec, (inp, ctx) => runCopyImage(inp, ctx));
