import type { Context, Result } from '../context.js';
import { badInput } from '../errors.js';
import { actionsOf, awsRegistry, grantsFor, OPERATION_RESOURCES, s3Location } from '../iam/grants.js';
import { identityPolicy, trustPolicy, writeOnceBucketPolicy, type PolicyDocument } from '../iam/policy.js';
import { defineSpec } from '../inputs/spec.js';
import { defineOperation } from '../operation.js';
import type { ReportSection } from '../report/report.js';

const RESOURCE_INPUTS = ['store', 'from', 'source', 'destination'] as const;

const spec = defineSpec({
  name: 'iam-policy',
  description:
    'Prints the least-privilege AWS policies an operation needs for the given buckets and repositories: the role policy, the bucket policy that makes store/ write-once, and the OIDC trust policy for the GitHub workflows that assume the role.',
  inputs: {
    operation: {
      description: 'The operation the role runs.',
      required: true,
      positional: 0,
      choices: Object.keys(OPERATION_RESOURCES),
    },
    store: { description: 'The store the operation writes or reads: `s3://bucket/prefix`.' },
    from: { description: 'promote-terraform-provider: the staging store it reads, `s3://bucket/prefix`.' },
    source: {
      description:
        'publish-terraform-registry: the `s3://` prefix the archives are fetched from; copy-image, promote-ecr-image, mirror-artifact: the image read.',
    },
    destination: { description: 'copy-image, promote-ecr-image, mirror-artifact: the image repository written (ECR or ECR Public).' },
    immutable: {
      description:
        'The store is write-once (production): the bucket policy also denies uploads under `store/` without If-None-Match (under `audit/` it always does).',
      type: 'boolean',
      default: 'true',
    },
    'account-id': {
      description: 'AWS account of the IAM OIDC provider and of ECR Public repositories.',
      defaultNote: 'the account of a private ECR image among the inputs',
    },
    repository: {
      description:
        'GitHub `owner/repo` whose workflows assume the role (for a reusable workflow, the calling repository): prints the trust policy.',
    },
    'repository-owner-id': { description: "Numeric id of the repository's owner, for the immutable `sub` form.", defaultNote: '`*`' },
    'repository-id': { description: 'Numeric id of the repository, for the immutable `sub` form.', defaultNote: '`*`' },
    environment: {
      description: 'GitHub environments whose jobs assume the role, one per line (`sub` …:environment:NAME).',
      type: 'list',
    },
    ref: {
      description:
        'Git refs whose jobs outside an environment assume the role, one per line, wildcards allowed (`sub` …:ref:REF), e.g. `refs/tags/terraform-provider-*`.',
      type: 'list',
    },
    workflow: {
      description:
        'The reusable workflow the job must run, `owner/repo/.github/workflows/<file>.yml@<ref>` (wildcards allowed): a `job_workflow_ref` condition.',
    },
  },
  branding: { icon: 'shield', color: 'gray-dark' },
  outputs: {
    policy: { description: "The role's permissions policy (JSON); `{}` when the inputs name no AWS resource.", type: 'json' },
    'bucket-policy': { description: "The store bucket's write-once policy (JSON); `{}` when there is none to apply.", type: 'json' },
    'trust-policy': { description: "The role's trust policy (JSON); `{}` without `repository`.", type: 'json' },
    actions: { description: 'Every IAM action the role is allowed, one per line.', type: 'list' },
  },
});

const pretty = (d: PolicyDocument): string => JSON.stringify(d, null, 2);

export const iamPolicy = defineOperation(spec, async (inp, _ctx: Context): Promise<Result> => {
  const operation = inp.operation;
  const used = OPERATION_RESOURCES[operation]!.map((r) => r.input);
  for (const name of RESOURCE_INPUTS)
    if (inp[name] && !used.includes(name))
      badInput(name, `no value: ${operation} uses only ${used.map((u) => `--${u}`).join(', ')}`, inp[name]);
  const ecrAccount = (['source', 'destination'] as const)
    .map((n) => (inp[n] && used.includes(n) && !inp[n]!.startsWith('s3://') ? awsRegistry(inp[n]!, n) : undefined))
    .find((r) => r?.kind === 'ecr');
  const account = inp['account-id'] ?? (ecrAccount?.kind === 'ecr' ? ecrAccount.account : undefined);
  if (account !== undefined && !/^\d{12}$/.test(account)) badInput('account-id', 'a 12-digit AWS account id', account);

  const grants = grantsFor(operation, {
    values: { store: inp.store, from: inp.from, source: inp.source, destination: inp.destination },
    account: account ?? '*',
  });
  const policy = grants.length ? identityPolicy(grants) : undefined;
  const writes = OPERATION_RESOURCES[operation]!.find((r) => r.use === 's3-write');
  const store = writes && inp[writes.input as 'store'] ? s3Location(inp[writes.input as 'store']!, writes.input) : undefined;
  const bucket = store ? writeOnceBucketPolicy(store, inp.immutable) : undefined;
  let trust: PolicyDocument | undefined;
  if (inp.repository) {
    if (!account) badInput('account-id', 'the AWS account of the OIDC provider (no private ECR image among the inputs names it)');
    trust = trustPolicy({
      account,
      repository: inp.repository,
      ...(inp['repository-owner-id'] && { ownerId: inp['repository-owner-id'] }),
      ...(inp['repository-id'] && { repositoryId: inp['repository-id'] }),
      environments: inp.environment,
      refs: inp.ref,
      ...(inp.workflow && { workflow: inp.workflow }),
    });
  }

  const sections: ReportSection[] = [];
  if (policy) {
    sections.push({ heading: 'Role policy', code: pretty(policy), lang: 'json' });
    sections.push({
      heading: 'Why each action',
      table: { head: ['statement', 'action: why'], rows: grants.flatMap((g) => g.why.map((w) => [g.sid, w])) },
      collapsed: true,
    });
  } else
    sections.push({
      heading: 'Role policy',
      text: `${operation} needs no AWS permissions for these inputs (no s3://, ECR or ECR Public).`,
    });
  if (bucket)
    sections.push({
      heading: inp.immutable
        ? 'Bucket policy (store/ and audit/ are write-once for every writer)'
        : 'Bucket policy (audit/ is write-once; store/ is not: with immutable false a republished version replaces its objects)',
      code: pretty(bucket),
      lang: 'json',
    });
  if (trust) {
    sections.push({ heading: 'Trust policy (GitHub OIDC)', code: pretty(trust), lang: 'json' });
    const notes = [
      'both `sub` forms are listed: repositories created from 2026-07-15, or opted in, send the immutable form repo:OWNER@OWNER_ID/REPO@REPO_ID:…',
    ];
    if (!inp['repository-owner-id'] || !inp['repository-id'])
      notes.push('give repository-owner-id and repository-id to pin the immutable form to this repository instead of `*`');
    if (!inp.workflow)
      notes.push('with a reusable workflow, give workflow to require it (job_workflow_ref): `sub` names the caller, not the workflow');
    sections.push({ heading: 'Notes', text: notes.join('; ') + '.' });
  }
  return {
    outputs: { policy: policy ?? {}, 'bucket-policy': bucket ?? {}, 'trust-policy': trust ?? {}, actions: actionsOf(grants) },
    plan: [],
    report: { title: `IAM policies for ${operation}`, sections },
  };
});
