import { badInput } from '../errors.js';
import { ecrRegistry, isEcrPublic } from '../oci/ref/hosts.js';
import { parseReference } from '../oci/ref/reference.js';

/**
 * What AWS access each operation needs, as one static table: the IAM actions
 * of each kind of resource an operation touches, each with why Relay calls
 * it. `relay iam-policy` turns it into policies for given buckets and
 * repositories, and the README's Permissions section is rendered from it
 * (drift-tested), so the two cannot disagree.
 */

/** How an operation uses what one of its inputs names. */
export type Use =
  | 's3-read' // a store or staging prefix it reads
  | 's3-write' // a registry store it writes (conditional writes, probe included)
  | 'image-pull' // an image it reads
  | 'image-push' // a repository it writes
  | 'ecr-gated-pull'; // promote-ecr-image's source: read, plus the scan gate and repository settings

export interface ActionNeed {
  action: string;
  /** Which resource of the input it is granted on. */
  on: 'bucket' | 'objects' | 'probe' | 'repository' | 'any';
  why: string;
  /** The plan (a dry run) makes this call too, so the reader role gets it; otherwise only the writer does. */
  plan?: true;
}

/**
 * The two roles of a writing operation: the reader runs the plan (a dry run, outside any environment, trusted by
 * ref), the writer runs the apply job (inside the approved environment, trusted by that environment alone). A
 * read-only operation has the reader only.
 */
export type Role = 'reader' | 'writer';

/** The actions each use needs, per kind of resource. */
export const NEEDS: Record<
  's3-read' | 's3-write' | 'ecr-pull' | 'ecr-push' | 'ecr-gate' | 'ecr-public-push' | 'ecr-public-token',
  ActionNeed[]
> = {
  's3-read': [
    { action: 's3:GetObject', on: 'objects', why: 'reads (GET and HEAD) the tree and the files', plan: true },
    { action: 's3:ListBucket', on: 'bucket', why: 'lists keys; without it S3 answers 403 instead of 404 for a missing key', plan: true },
  ],
  's3-write': [
    { action: 's3:GetObject', on: 'objects', why: 'plans against what exists (HEAD), reads back what it wrote', plan: true },
    { action: 's3:PutObject', on: 'objects', why: 'writes store objects with If-None-Match, the index with If-Match' },
    { action: 's3:ListBucket', on: 'bucket', why: 'lists keys; without it S3 answers 403 instead of 404 for a missing key', plan: true },
    { action: 's3:DeleteObject', on: 'probe', why: 'removes the object of the conditional-write probe (under .relay/ only)' },
  ],
  'ecr-pull': [
    { action: 'ecr:GetAuthorizationToken', on: 'any', why: 'the registry token (not scoped to a repository by AWS)', plan: true },
    { action: 'ecr:BatchGetImage', on: 'repository', why: 'reads manifests, indexes and tags', plan: true },
    { action: 'ecr:GetDownloadUrlForLayer', on: 'repository', why: 'reads blobs', plan: true },
    { action: 'ecr:BatchCheckLayerAvailability', on: 'repository', why: 'checks which blobs exist (HEAD)', plan: true },
  ],
  'ecr-push': [
    { action: 'ecr:GetAuthorizationToken', on: 'any', why: 'the registry token (not scoped to a repository by AWS)', plan: true },
    { action: 'ecr:BatchGetImage', on: 'repository', why: 'plans against existing tags and reads back what it wrote', plan: true },
    { action: 'ecr:GetDownloadUrlForLayer', on: 'repository', why: 'reads back blobs' },
    { action: 'ecr:BatchCheckLayerAvailability', on: 'repository', why: 'skips blobs that exist', plan: true },
    { action: 'ecr:InitiateLayerUpload', on: 'repository', why: 'uploads blobs' },
    { action: 'ecr:UploadLayerPart', on: 'repository', why: 'uploads blobs' },
    { action: 'ecr:CompleteLayerUpload', on: 'repository', why: 'uploads blobs (digest checked)' },
    { action: 'ecr:PutImage', on: 'repository', why: 'writes manifests and tags' },
    { action: 'ecr:DescribeRepositories', on: 'repository', why: 'asks whether tags are immutable', plan: true },
  ],
  'ecr-gate': [
    { action: 'ecr:DescribeImageScanFindings', on: 'repository', why: 'the scan gate (max-severity)', plan: true },
    { action: 'ecr:DescribeRepositories', on: 'repository', why: 'repository settings (tag immutability)', plan: true },
    { action: 'ecr:DescribeImages', on: 'repository', why: 'image details for the gates', plan: true },
  ],
  'ecr-public-token': [
    { action: 'ecr-public:GetAuthorizationToken', on: 'any', why: 'the ECR Public token (us-east-1 only)', plan: true },
    { action: 'sts:GetServiceBearerToken', on: 'any', why: 'ECR Public tokens are STS bearer tokens', plan: true },
  ],
  'ecr-public-push': [
    { action: 'ecr-public:GetAuthorizationToken', on: 'any', why: 'the ECR Public token (us-east-1 only)', plan: true },
    { action: 'sts:GetServiceBearerToken', on: 'any', why: 'ECR Public tokens are STS bearer tokens', plan: true },
    { action: 'ecr-public:BatchCheckLayerAvailability', on: 'repository', why: 'skips blobs that exist', plan: true },
    { action: 'ecr-public:InitiateLayerUpload', on: 'repository', why: 'uploads blobs' },
    { action: 'ecr-public:UploadLayerPart', on: 'repository', why: 'uploads blobs' },
    { action: 'ecr-public:CompleteLayerUpload', on: 'repository', why: 'uploads blobs (digest checked)' },
    { action: 'ecr-public:PutImage', on: 'repository', why: 'writes manifests and tags' },
    { action: 'ecr-public:DescribeRepositories', on: 'repository', why: 'finds the repository and its settings', plan: true },
    { action: 'ecr-public:DescribeImages', on: 'repository', why: 'plans against existing tags', plan: true },
  ],
};

/** Per operation: which inputs name AWS resources, and how the operation uses them. */
export const OPERATION_RESOURCES: Record<string, { input: string; use: Use; what: string }[]> = {
  'publish-terraform-registry': [
    { input: 'store', use: 's3-write', what: 'the registry store' },
    { input: 'source', use: 's3-read', what: 'where the build staged the archives' },
  ],
  'promote-terraform-provider': [
    { input: 'from', use: 's3-read', what: 'the staging store' },
    { input: 'store', use: 's3-write', what: 'the production store' },
  ],
  'verify-terraform-registry': [{ input: 'store', use: 's3-read', what: 'the registry store, when read directly' }],
  'copy-image': [
    { input: 'source', use: 'image-pull', what: 'the source image, when in ECR' },
    { input: 'destination', use: 'image-push', what: 'the destination repository, when in ECR or ECR Public' },
  ],
  'promote-ecr-image': [
    { input: 'source', use: 'ecr-gated-pull', what: 'the private ECR image' },
    { input: 'destination', use: 'image-push', what: 'the ECR Public repository' },
  ],
  'mirror-artifact': [
    { input: 'source', use: 'image-pull', what: "the images' source repository, when in ECR or ECR Public" },
    { input: 'destination', use: 'image-push', what: 'a mirror target in ECR or ECR Public' },
    { input: 'store', use: 's3-read', what: 'the provider registry store the files come from' },
  ],
};

/** One Allow statement's worth: actions on resources, and why. */
export interface Grant {
  sid: string;
  actions: string[];
  resources: string[];
  condition?: Record<string, Record<string, string | string[]>>;
  why: string[];
}

export interface S3Location {
  bucket: string;
  prefix: string;
}

/** `s3://bucket/prefix` as a location; anything else (file://, a path) needs no AWS access. */
export function s3Location(url: string, input: string): S3Location | undefined {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url.trim());
  if (m) return { bucket: m[1]!, prefix: (m[2] ?? '').replace(/\/+$/, '') };
  if (url.startsWith('s3://')) badInput(input, 's3://<bucket>/<prefix> with a valid bucket name', url);
  return undefined;
}

/** `arn:aws:s3:::bucket/prefix/<rest>` (no prefix: `bucket/<rest>`). */
export const objectArn = (l: S3Location, rest: string): string => `arn:aws:s3:::${l.bucket}/${l.prefix ? l.prefix + '/' : ''}${rest}`;
export const bucketArn = (l: S3Location): string => `arn:aws:s3:::${l.bucket}`;

type Registry = { kind: 'ecr'; account: string; region: string; repository: string } | { kind: 'ecr-public'; repository: string };

/** The AWS registry an image reference names (by tag, digest or neither), or undefined for any other registry. */
export function awsRegistry(ref: string, input: string): Registry | undefined {
  const r = parseReference(ref, input);
  if (r.kind !== 'registry') return undefined;
  const ecr = ecrRegistry(r.registry);
  if (ecr) return { kind: 'ecr', ...ecr, repository: r.repository };
  if (isEcrPublic(r.registry)) {
    // public.ecr.aws/<alias>/<repository>: the alias is not part of the repository's ARN
    const [, ...name] = r.repository.split('/');
    if (name.length === 0) badInput(input, 'public.ecr.aws/<alias>/<repository>', ref);
    return { kind: 'ecr-public', repository: name.join('/') };
  }
  return undefined;
}

export interface Resources {
  /** Input values by name (store, from, source, destination). */
  values: Record<string, string | undefined>;
  /** AWS account of ECR Public repositories; `*` when unknown. */
  account: string;
}

const SID = (s: string): string => s.replace(/[^A-Za-z0-9]/g, '');

function grantOf(sid: string, needs: ActionNeed[], resourceOf: (on: ActionNeed['on']) => string): Grant[] {
  const byResource = new Map<string, ActionNeed[]>();
  for (const n of needs) byResource.set(resourceOf(n.on), [...(byResource.get(resourceOf(n.on)) ?? []), n]);
  return [...byResource].map(([resource, ns], i) => ({
    sid: SID(`${sid}${byResource.size > 1 ? i + 1 : ''}`),
    actions: [...new Set(ns.map((n) => n.action))],
    resources: [resource],
    why: [...new Set(ns.map((n) => `${n.action}: ${n.why}`))],
  }));
}

/** Whether an operation writes: it has an input it uses to write (a store or a repository). */
export const writes = (operation: string): boolean =>
  (OPERATION_RESOURCES[operation] ?? []).some((r) => r.use === 's3-write' || r.use === 'image-push');

/**
 * The grants one role of an operation needs for the resources its inputs
 * name, merged by resource: an input that names no AWS resource (a file://
 * store, a Docker Hub image) adds nothing. The reader gets only what the plan
 * calls; the writer everything, since the apply job plans again before it writes.
 */
export function grantsFor(operation: string, res: Resources, role: Role = 'writer'): Grant[] {
  const table = OPERATION_RESOURCES[operation];
  if (!table) badInput('operation', `one of ${Object.keys(OPERATION_RESOURCES).join(', ')}`, operation);
  const grants: Grant[] = [];
  for (const { input, use } of table) {
    const value = res.values[input];
    if (!value) continue;
    const title = input.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase());
    if (use === 's3-read' || use === 's3-write') {
      const loc = s3Location(value, input);
      if (!loc) continue;
      grants.push(
        ...grantOf(`${title}${use === 's3-read' || role === 'reader' ? 'Read' : 'Write'}`, forRole(NEEDS[use], role), (on) =>
          on === 'bucket' ? bucketArn(loc) : on === 'probe' ? objectArn(loc, '.relay/*') : objectArn(loc, '*'),
        ),
      );
      continue;
    }
    const reg = awsRegistry(value, input);
    if (!reg) continue;
    const repoArn =
      reg.kind === 'ecr'
        ? `arn:aws:ecr:${reg.region}:${reg.account}:repository/${reg.repository}`
        : `arn:aws:ecr-public::${res.account}:repository/${reg.repository}`;
    const needs =
      reg.kind === 'ecr'
        ? use === 'image-push'
          ? NEEDS['ecr-push']
          : use === 'ecr-gated-pull'
            ? [...NEEDS['ecr-pull'], ...NEEDS['ecr-gate']]
            : NEEDS['ecr-pull']
        : use === 'image-push'
          ? NEEDS['ecr-public-push']
          : NEEDS['ecr-public-token'];
    if (use === 'ecr-gated-pull' && reg.kind !== 'ecr') badInput(input, 'a private ECR image', value);
    grants.push(
      ...grantOf(`${title}${use === 'image-push' && role === 'writer' ? 'Push' : 'Pull'}`, forRole(needs, role), (on) =>
        on === 'any' ? '*' : repoArn,
      ),
    );
  }
  return mergeAnyResource(grants);
}

const forRole = (needs: ActionNeed[], role: Role): ActionNeed[] => (role === 'writer' ? needs : needs.filter((n) => n.plan));

/** Actions granted on `*` (registry tokens) gathered into one statement, once each. */
function mergeAnyResource(grants: Grant[]): Grant[] {
  const any = grants.filter((g) => g.resources[0] === '*');
  const rest = grants.filter((g) => g.resources[0] !== '*');
  if (any.length === 0) return rest;
  const actions = [...new Set(any.flatMap((g) => g.actions))].sort();
  const why = [...new Set(any.flatMap((g) => g.why))];
  return [{ sid: 'RegistryTokens', actions, resources: ['*'], why }, ...rest];
}

/** Every IAM action a set of grants allows, sorted, once each. */
export function actionsOf(grants: readonly Grant[]): string[] {
  return [...new Set(grants.flatMap((g) => g.actions))].sort();
}
