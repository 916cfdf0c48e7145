import type { Context, Result } from '../context.js';
import { badInput } from '../errors.js';
import { actionsOf, awsRegistry, grantsFor, OPERATION_RESOURCES, s3Location, writes, type Grant } from '../iam/grants.js';
import { identityPolicy, trustPolicy, writeOnceBucketPolicy, type PolicyDocument } from '../iam/policy.js';
import { defineSpec } from '../inputs/spec.js';
import { defineOperation } from '../operation.js';
import type { ReportSection } from '../report/report.js';

const RESOURCE_INPUTS = ['store', 'from', 'source', 'destination'] as const;

const spec = defineSpec({
  name: 'iam-policy',
  description:
    "Prints the least-privilege AWS policies an operation needs for the given buckets and repositories, for two roles: the reader, which the plan (a dry run) assumes outside any environment, and the writer, which only the approved environment's job can assume; the bucket policy that makes store/ and audit/ write-once; and each role's OIDC trust policy.",
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
      description:
        'GitHub environments whose jobs assume the writer role, one per line (`sub` …:environment:NAME): the writer trusts these alone. Required with `repository` for an operation that writes.',
      type: 'list',
    },
    ref: {
      description:
        'Git refs whose jobs outside an environment assume the reader role, one per line, wildcards allowed (`sub` …:ref:REF), e.g. `refs/heads/main` or `refs/tags/terraform-provider-*`.',
      type: 'list',
    },
    workflow: {
      description:
        'The reusable workflow the job must run, `owner/repo/.github/workflows/<file>.yml@<ref>` (wildcards allowed): a `job_workflow_ref` condition.',
    },
  },
  branding: { icon: 'shield', color: 'gray-dark' },
  outputs: {
    'reader-policy': {
      description:
        "The reader role's permissions policy (JSON): what the plan calls, reads only; for an operation that only reads, its one role. `{}` when the inputs name no AWS resource.",
      type: 'json',
    },
    'reader-trust-policy': {
      description: "The reader role's trust policy (JSON): jobs on the given refs; `{}` without `repository`.",
      type: 'json',
    },
    'reader-actions': { description: 'Every IAM action the reader role is allowed, one per line.', type: 'list' },
    'writer-policy': {
      description:
        "The writer role's permissions policy (JSON): what the apply job calls; `{}` for an operation that only reads, or when the inputs name no AWS resource.",
      type: 'json',
    },
    'writer-trust-policy': {
      description: "The writer role's trust policy (JSON): jobs in the given environments only; `{}` without `repository`.",
      type: 'json',
    },
    'writer-actions': { description: 'Every IAM action the writer role is allowed, one per line.', type: 'list' },
    'bucket-policy': { description: "The store bucket's write-once policy (JSON); `{}` when there is none to apply.", type: 'json' },
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

  const res = {
    values: { store: inp.store, from: inp.from, source: inp.source, destination: inp.destination },
    account: account ?? '*',
  };
  const writing = writes(operation);
  const readerGrants = grantsFor(operation, res, 'reader');
  const writerGrants = writing ? grantsFor(operation, res, 'writer') : [];
  const reader = readerGrants.length ? identityPolicy(readerGrants) : undefined;
  const writer = writerGrants.length ? identityPolicy(writerGrants) : undefined;
  const written = OPERATION_RESOURCES[operation]!.find((r) => r.use === 's3-write');
  const store = written && inp[written.input as 'store'] ? s3Location(inp[written.input as 'store']!, written.input) : undefined;
  const bucket = store ? writeOnceBucketPolicy(store, inp.immutable) : undefined;
  let readerTrust: PolicyDocument | undefined;
  let writerTrust: PolicyDocument | undefined;
  if (inp.repository) {
    if (!account) badInput('account-id', 'the AWS account of the OIDC provider (no private ECR image among the inputs names it)');
    const who = {
      account,
      repository: inp.repository,
      ...(inp['repository-owner-id'] && { ownerId: inp['repository-owner-id'] }),
      ...(inp['repository-id'] && { repositoryId: inp['repository-id'] }),
      ...(inp.workflow && { workflow: inp.workflow }),
    };
    if (writing) {
      // The writer trusts the approved environment alone: a job on a ref (main, a tag) outside it can never write.
      if (inp.environment.length === 0)
        badInput(
          'environment',
          `the GitHub environment whose approved jobs may write (${operation} writes); the writer role trusts it alone`,
        );
      writerTrust = trustPolicy({ ...who, environments: inp.environment, refs: [] });
      if (inp.ref.length === 0)
        badInput('ref', `the refs whose plan jobs (dry runs, outside the environment) assume the reader role, e.g. refs/heads/main`);
      readerTrust = trustPolicy({ ...who, environments: [], refs: inp.ref });
    } else readerTrust = trustPolicy({ ...who, environments: inp.environment, refs: inp.ref });
  }

  const sections: ReportSection[] = [];
  const roleSections = (role: string, policy: PolicyDocument | undefined, grants: Grant[], trust: PolicyDocument | undefined): void => {
    if (policy) {
      sections.push({ heading: `${role} role policy`, code: pretty(policy), lang: 'json' });
      sections.push({
        heading: `${role} role: why each action`,
        table: { head: ['statement', 'action: why'], rows: grants.flatMap((g) => g.why.map((w) => [g.sid, w])) },
        collapsed: true,
      });
    } else
      sections.push({ heading: `${role} role policy`, text: `needs no AWS permissions for these inputs (no s3://, ECR or ECR Public).` });
    if (trust) sections.push({ heading: `${role} role trust policy (GitHub OIDC)`, code: pretty(trust), lang: 'json' });
  };
  roleSections(writing ? 'Reader (plan)' : 'Reader', reader, readerGrants, readerTrust);
  if (writing) roleSections('Writer (apply, in the environment)', writer, writerGrants, writerTrust);
  if (bucket)
    sections.push({
      heading: inp.immutable
        ? 'Bucket policy (store/ and audit/ are write-once for every writer)'
        : 'Bucket policy (audit/ is write-once; store/ is not: with immutable false a republished version replaces its objects)',
      code: pretty(bucket),
      lang: 'json',
    });
  if (readerTrust) {
    const notes = [
      'both `sub` forms are listed: repositories created from 2026-07-15, or opted in, send the immutable form repo:OWNER@OWNER_ID/REPO@REPO_ID:…',
    ];
    if (writing)
      notes.push(
        'the writer trusts only `…:environment:NAME`: give the environment required reviewers, and keep the signing key and registry credentials as its environment secrets',
      );
    if (!inp['repository-owner-id'] || !inp['repository-id'])
      notes.push('give repository-owner-id and repository-id to pin the immutable form to this repository instead of `*`');
    if (!inp.workflow)
      notes.push('with a reusable workflow, give workflow to require it (job_workflow_ref): `sub` names the caller, not the workflow');
    sections.push({ heading: 'Notes', text: notes.join('; ') + '.' });
  }
  return {
    outputs: {
      'reader-policy': reader ?? {},
      'reader-trust-policy': readerTrust ?? {},
      'reader-actions': actionsOf(readerGrants),
      'writer-policy': writer ?? {},
      'writer-trust-policy': writerTrust ?? {},
      'writer-actions': actionsOf(writerGrants),
      'bucket-policy': bucket ?? {},
    },
    plan: [],
    report: { title: `IAM policies for ${operation}`, sections },
  };
});
