import { AUDIT_HEAD_KEY } from '../audit/chain.js';
import { badInput } from '../errors.js';
import { objectArn, type Grant, type S3Location } from './grants.js';

/** An IAM policy document: what `aws iam put-role-policy` and `aws s3api put-bucket-policy` take (a type, so that it is an output value). */
export type PolicyDocument = {
  Version: '2012-10-17';
  Statement: Statement[];
};

export type Statement = {
  Sid: string;
  Effect: 'Allow' | 'Deny';
  Principal?: '*' | { Federated: string } | { AWS: string };
  Action: string | string[];
  Resource?: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
};

/** The role's permissions policy: one Allow per resource. */
export function identityPolicy(grants: readonly Grant[]): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: grants.map((g) => ({
      Sid: g.sid,
      Effect: 'Allow',
      Action: g.actions.length === 1 ? g.actions[0]! : g.actions,
      Resource: g.resources.length === 1 ? g.resources[0]! : g.resources,
      ...(g.condition && { Condition: g.condition }),
    })),
  };
}

/**
 * The bucket policy that makes a registry's `store/` and its audit trail
 * write-once for every principal, not only Relay (a Deny binds every role,
 * the writer's included, and an administrator's too until removed):
 *
 * - an upload (PutObject, CompleteMultipartUpload) under `store/` or `audit/`
 *   without `If-None-Match` is denied (condition key `s3:if-none-match`, as
 *   S3's "Enforce conditional writes" guide does; `s3:ObjectCreationOperation`
 *   leaves the multipart parts, which cannot carry the header, alone). `store/`
 *   only for stores whose versions are immutable: staging replaces objects
 *   when a version is republished. Audit records are written once in every store;
 * - nothing under `audit/` can be deleted, nor any version of it;
 * - the chain's head (`audit-head.json`, audit/chain.ts), the one audit
 *   object that moves, moves only by compare-and-swap: an upload without
 *   `If-Match` or `If-None-Match` is denied (the guide's third example), and
 *   it cannot be deleted. It lives outside `audit/` so that the write-once
 *   rule there needs no exception. A writer can still move it by CAS onto a
 *   record of its own making; the records it would leave behind stay, and
 *   verify-terraform-registry reports them outside the chain.
 */
export function writeOnceBucketPolicy(store: S3Location, immutable = true): PolicyDocument {
  const creation = { Bool: { 's3:ObjectCreationOperation': 'true' } };
  const deny = (sid: string, under: string): Statement => ({
    Sid: sid,
    Effect: 'Deny',
    Principal: '*',
    Action: 's3:PutObject',
    Resource: objectArn(store, under),
    Condition: { Null: { 's3:if-none-match': 'true' }, ...creation },
  });
  const head = objectArn(store, AUDIT_HEAD_KEY);
  return {
    Version: '2012-10-17',
    Statement: [
      ...(immutable ? [deny('RelayStoreIsWriteOnce', 'store/*')] : []),
      deny('RelayAuditIsWriteOnce', 'audit/*'),
      {
        Sid: 'RelayAuditIsNeverDeleted',
        Effect: 'Deny',
        Principal: '*',
        Action: ['s3:DeleteObject', 's3:DeleteObjectVersion'],
        Resource: [objectArn(store, 'audit/*'), head],
      },
      {
        Sid: 'RelayAuditHeadMovesByCompareAndSwap',
        Effect: 'Deny',
        Principal: '*',
        Action: 's3:PutObject',
        Resource: head,
        Condition: { Null: { 's3:if-none-match': 'true', 's3:if-match': 'true' }, ...creation },
      },
    ],
  };
}

export interface TrustOptions {
  /** AWS account holding the IAM OIDC provider for token.actions.githubusercontent.com. */
  account: string;
  /** `owner/repo` whose workflows assume the role (for a reusable workflow: the caller's repository). */
  repository: string;
  /** Numeric ids for the immutable `sub` format; `*` when not given. */
  ownerId?: string;
  repositoryId?: string;
  /** GitHub environments whose jobs assume the role (`sub` …:environment:NAME). */
  environments: string[];
  /** Refs whose jobs without an environment assume the role (`sub` …:ref:refs/tags/…), wildcards allowed. */
  refs: string[];
  /** The reusable workflow the job must run: `owner/repo/.github/workflows/file.yml@ref` (wildcards allowed). */
  workflow?: string;
}

const OIDC_HOST = 'token.actions.githubusercontent.com';

/**
 * The `sub` values a job can present, in both forms GitHub issues: the name
 * form `repo:ORG/REPO:…`, and the immutable form `repo:ORG@ORG_ID/REPO@REPO_ID:…`
 * that repositories created from 2026-07-15 (or opted in) send instead. A
 * trust policy that lists only the first fails for those with "Not authorized
 * to perform sts:AssumeRoleWithWebIdentity".
 */
export function subjects(o: TrustOptions): string[] {
  const [owner, repo] = o.repository.split('/') as [string, string];
  const contexts = [...o.environments.map((e) => `environment:${e}`), ...o.refs.map((r) => `ref:${r}`)];
  const out: string[] = [];
  for (const c of contexts)
    out.push(`repo:${owner}/${repo}:${c}`, `repo:${owner}@${o.ownerId ?? '*'}/${repo}@${o.repositoryId ?? '*'}:${c}`);
  return out;
}

/** The role's trust policy: GitHub's OIDC tokens for this audience, these subjects and (for a reusable workflow) this workflow. */
export function trustPolicy(o: TrustOptions): PolicyDocument {
  if (!/^[A-Za-z0-9-]+\/[A-Za-z0-9._-]+$/.test(o.repository)) badInput('repository', 'owner/repo', o.repository);
  if (o.environments.length + o.refs.length === 0)
    badInput(
      'environment',
      'an environment or a ref (or both) to bind the role to; a role any job of the repository can assume is not least privilege',
    );
  const like: Record<string, string | string[]> = { [`${OIDC_HOST}:sub`]: subjects(o) };
  if (o.workflow) like[`${OIDC_HOST}:job_workflow_ref`] = o.workflow;
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'GitHubActionsOidc',
        Effect: 'Allow',
        Principal: { Federated: `arn:aws:iam::${o.account}:oidc-provider/${OIDC_HOST}` },
        Action: 'sts:AssumeRoleWithWebIdentity',
        // StringEquals/StringLike, never ForAllValues: which is true when the claim is absent
        Condition: { StringEquals: { [`${OIDC_HOST}:aud`]: 'sts.amazonaws.com' }, StringLike: like },
      },
    ],
  };
}
