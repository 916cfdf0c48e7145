import type { Context } from '../context.js';
import { ecrKeychain } from '../oci/ecr/auth.js';
import { awsConfigFromEnv } from '../oci/ecr/client.js';
import type { AwsConfig } from '../oci/ecr/client.js';
import type { InputCredentials } from '../oci/repo/auth/credentials.js';
import { OciSession } from '../oci/repo/session.js';
import { httpOptions } from './common.js';

/**
 * How every OCI operation opens its session: the AWS settings read once
 * (ctx.clients.aws for stand-ins, else ctx.env) and shared by ECR's keychain
 * and the ECR calls the operation makes itself (gates, tag immutability).
 */
export function openOciSession(
  ctx: Context,
  opts: { insecureRegistries: readonly string[]; credentials?: InputCredentials },
): { session: OciSession; aws: AwsConfig } {
  const base = ctx.clients?.aws ?? awsConfigFromEnv(ctx.env);
  // The SDK bounds each attempt, not the call: the request-timeout input is that bound.
  const requestMs = ctx.limits?.requestMs;
  const aws = requestMs === undefined ? base : { ...base, net: { ...base.net, attemptLimitMs: requestMs } };
  const session = new OciSession({
    env: ctx.env,
    signal: ctx.signal,
    log: ctx.log,
    cwd: ctx.cwd,
    insecureRegistries: opts.insecureRegistries,
    ...(opts.credentials && { credentials: opts.credentials }),
    keychain: ecrKeychain(aws, ctx.log),
    http: httpOptions(ctx),
    ...(ctx.limits?.subprocessMs !== undefined && { subprocessTimeoutMs: ctx.limits.subprocessMs }),
  });
  return { session, aws };
}

/** Inputs and outputs every OCI operation declares the same way. */
export const insecureRegistriesInput = {
  description: 'Registry hosts (host[:port]) spoken to over plain HTTP; loopback always may.',
  type: 'list',
} as const;
export const imagesOutput = {
  description: 'Every reference written, one per line (`repo:tag@digest`, then `repo@digest`).',
  type: 'list',
} as const;

/**
 * The signature inputs copy-image, promote-ecr-image and mirror-artifact
 * share (the mirror file may set them per image): what a cosign signature
 * must satisfy, checked on the source before the first write and on the
 * target after the copy (oci/signatures/).
 */
export const signatureInputs = {
  'require-signature': {
    description:
      'Refuse unless a cosign signature of the image digest verifies (legacy `sha256-<hex>.sig` tag or Sigstore bundle referrer); needs `signature-key` or `signature-identity` and `signature-issuer`, which imply it.',
    type: 'boolean',
    default: 'false',
  },
  'signature-key': {
    description:
      'PEM public key (its contents or a file path) a signature must verify with, offline, as `cosign verify --key … --insecure-ignore-tlog`; a Rekor bundle it carries is checked against `trusted-root` when given.',
  },
  'signature-identity': {
    description:
      'Keyless: the signer certificate identity (SAN email or URI), exact, or `/regex/` (unanchored, as `--certificate-identity-regexp`); its transparency-log proof is checked offline against the trust root.',
  },
  'signature-issuer': {
    description: 'Keyless: the OIDC issuer in the signer certificate, exact or `/regex/` (as `--certificate-oidc-issuer[-regexp]`).',
  },
  'trusted-root': {
    description: 'Sigstore trusted-root JSON file (TrustedRoot: Fulcio CAs, Rekor and CT log keys) for a private deployment.',
    defaultNote: "Sigstore's public trust root, through TUF (keyless only)",
  },
} as const;
