import { describe, expect, jest, test } from '@jest/globals';
import { iamWildcard } from '../../../../test/support/iam-match.js';
import { parseInputs, type RawInputs } from '../../src/inputs/spec.js';
import { NullLogger } from '../../src/log/logger.js';
import { iamPolicy } from '../../src/operations/iam-policy.js';
import { OPERATION_RESOURCES } from '../../src/iam/grants.js';
import type { PolicyDocument, Statement } from '../../src/iam/policy.js';

// Waits on the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(30_000);

const ctx = { log: new NullLogger(), env: {}, cwd: '/' };
interface Printed {
  /** The writer's documents (the reader's for an operation that only reads). */
  policy: PolicyDocument;
  trust: PolicyDocument;
  actions: string[];
  reader: { policy: PolicyDocument; trust: PolicyDocument; actions: string[] };
  bucket: PolicyDocument;
}
async function run(raw: RawInputs): Promise<Printed> {
  const res = await iamPolicy.run(parseInputs(iamPolicy.spec, raw, ctx.log), ctx);
  // what --json and the action print: the documents survive a JSON round trip unchanged
  const o = JSON.parse(JSON.stringify(res.outputs)) as Record<string, unknown>;
  const reader = {
    policy: o['reader-policy'] as PolicyDocument,
    trust: o['reader-trust-policy'] as PolicyDocument,
    actions: o['reader-actions'] as string[],
  };
  const writes = (o['writer-actions'] as string[]).length > 0 || JSON.stringify(o['writer-trust-policy']) !== '{}';
  return {
    ...(writes
      ? {
          policy: o['writer-policy'] as PolicyDocument,
          trust: o['writer-trust-policy'] as PolicyDocument,
          actions: o['writer-actions'] as string[],
        }
      : reader),
    reader,
    bucket: o['bucket-policy'] as PolicyDocument,
  };
}
const asList = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const statement = (d: PolicyDocument, resource: string): Statement | undefined =>
  d.Statement.find((s) => asList(s.Resource).includes(resource));

const ECR = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme/app:1.4.0';
const ECR_ARN = 'arn:aws:ecr:eu-west-1:123456789012:repository/acme/app';

describe('iam-policy', () => {
  test('publish-terraform-registry: the store read and written (probe delete only under .relay/), the source read, the write-once bucket policy', async () => {
    const r = await run({ operation: 'publish-terraform-registry', store: 's3://acme-registry/tf', source: 's3://acme-builds/teleport/' });
    expect(r.actions).toEqual(['s3:DeleteObject', 's3:GetObject', 's3:ListBucket', 's3:PutObject']);
    expect(r.policy.Version).toBe('2012-10-17');
    expect(asList(statement(r.policy, 'arn:aws:s3:::acme-registry/tf/*')!.Action).sort()).toEqual(['s3:GetObject', 's3:PutObject']);
    expect(statement(r.policy, 'arn:aws:s3:::acme-registry/tf/.relay/*')!.Action).toBe('s3:DeleteObject');
    expect(statement(r.policy, 'arn:aws:s3:::acme-registry')!.Action).toBe('s3:ListBucket');
    expect(statement(r.policy, 'arn:aws:s3:::acme-builds/teleport/*')!.Action).toBe('s3:GetObject');
    expect(statement(r.policy, 'arn:aws:s3:::acme-builds')!.Action).toBe('s3:ListBucket');
    expect(r.policy.Statement.every((s) => s.Effect === 'Allow' && !asList(s.Action).some((a) => a.endsWith('*')))).toBe(true);
    expect(r.bucket.Statement).toEqual([
      {
        Sid: 'RelayStoreIsWriteOnce',
        Effect: 'Deny',
        Principal: '*',
        Action: 's3:PutObject',
        Resource: 'arn:aws:s3:::acme-registry/tf/store/*',
        Condition: { Null: { 's3:if-none-match': 'true' }, Bool: { 's3:ObjectCreationOperation': 'true' } },
      },
      {
        Sid: 'RelayAuditIsWriteOnce',
        Effect: 'Deny',
        Principal: '*',
        Action: 's3:PutObject',
        Resource: 'arn:aws:s3:::acme-registry/tf/audit/*',
        Condition: { Null: { 's3:if-none-match': 'true' }, Bool: { 's3:ObjectCreationOperation': 'true' } },
      },
      {
        Sid: 'RelayAuditIsNeverDeleted',
        Effect: 'Deny',
        Principal: '*',
        Action: ['s3:DeleteObject', 's3:DeleteObjectVersion'],
        Resource: ['arn:aws:s3:::acme-registry/tf/audit/*', 'arn:aws:s3:::acme-registry/tf/audit-head.json'],
      },
      {
        // The chain's head is outside audit/ (so audit/ needs no exception) and moves only by compare-and-swap.
        Sid: 'RelayAuditHeadMovesByCompareAndSwap',
        Effect: 'Deny',
        Principal: '*',
        Action: 's3:PutObject',
        Resource: 'arn:aws:s3:::acme-registry/tf/audit-head.json',
        Condition: { Null: { 's3:if-none-match': 'true', 's3:if-match': 'true' }, Bool: { 's3:ObjectCreationOperation': 'true' } },
      },
    ]);
    expect(r.trust).toEqual({});
  });

  test('a staging store (immutable false): only audit/ is write-once; a file:// store needs no AWS at all', async () => {
    const staging = (await run({ operation: 'publish-terraform-registry', store: 's3://acme-staging', immutable: 'false' })).bucket;
    expect(staging.Statement.map((s) => [s.Sid, s.Resource])).toEqual([
      ['RelayAuditIsWriteOnce', 'arn:aws:s3:::acme-staging/audit/*'],
      ['RelayAuditIsNeverDeleted', ['arn:aws:s3:::acme-staging/audit/*', 'arn:aws:s3:::acme-staging/audit-head.json']],
      ['RelayAuditHeadMovesByCompareAndSwap', 'arn:aws:s3:::acme-staging/audit-head.json'],
    ]);
    const local = await run({ operation: 'publish-terraform-registry', store: 'file://reg' });
    expect(local).toMatchObject({ policy: {}, bucket: {}, actions: [] });
  });

  test('promote-ecr-image: pull and gates on the ECR repository, push to the ECR Public repository, tokens on *', async () => {
    const r = await run({ operation: 'promote-ecr-image', source: ECR, destination: 'public.ecr.aws/acme/app' });
    const ecr = ['BatchCheckLayerAvailability', 'BatchGetImage', 'DescribeImageScanFindings', 'DescribeImages', 'DescribeRepositories'];
    expect(asList(statement(r.policy, ECR_ARN)!.Action).sort()).toEqual([...ecr, 'GetDownloadUrlForLayer'].map((a) => `ecr:${a}`).sort());
    // ECR Public ARNs have no region; the account is the source's unless given
    const pub = statement(r.policy, 'arn:aws:ecr-public::123456789012:repository/app')!;
    expect(asList(pub.Action).sort()).toEqual(
      [
        'BatchCheckLayerAvailability',
        'CompleteLayerUpload',
        'DescribeImages',
        'DescribeRepositories',
        'InitiateLayerUpload',
        'PutImage',
        'UploadLayerPart',
      ].map((a) => `ecr-public:${a}`),
    );
    expect(statement(r.policy, '*')!.Action).toEqual([
      'ecr-public:GetAuthorizationToken',
      'ecr:GetAuthorizationToken',
      'sts:GetServiceBearerToken',
    ]);
    expect(r.bucket).toEqual({});
  });

  test('copy-image between registries that are not AWS needs nothing; into ECR it needs the push actions', async () => {
    expect(
      (await run({ operation: 'copy-image', source: 'docker.io/library/alpine:3', destination: 'ghcr.io/acme/alpine' })).actions,
    ).toEqual([]);
    const r = await run({
      operation: 'copy-image',
      source: 'docker.io/library/alpine:3',
      destination: '210987654321.dkr.ecr.us-east-2.amazonaws.com/alpine',
    });
    expect(r.actions).toContain('ecr:PutImage');
    expect(r.actions).toContain('ecr:DescribeRepositories');
    expect(r.actions).not.toContain('ecr:DescribeImageScanFindings');
    expect(statement(r.policy, 'arn:aws:ecr:us-east-2:210987654321:repository/alpine')).toBeDefined();
  });

  test('the trust policy: both sub forms per environment and ref, the audience, the reusable workflow', async () => {
    const r = await run({
      operation: 'promote-ecr-image',
      source: ECR,
      destination: 'public.ecr.aws/acme/app',
      repository: 'acme/app',
      'repository-owner-id': '1111',
      'repository-id': '2222',
      environment: 'production',
      ref: 'refs/heads/main',
      workflow: 'your-org/relay/.github/workflows/reusable-promote-image.yml@refs/tags/v0*',
    });
    expect(r.trust.Statement).toEqual([
      {
        Sid: 'GitHubActionsOidc',
        Effect: 'Allow',
        Principal: { Federated: 'arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com' },
        Action: 'sts:AssumeRoleWithWebIdentity',
        Condition: {
          StringEquals: { 'token.actions.githubusercontent.com:aud': 'sts.amazonaws.com' },
          StringLike: {
            'token.actions.githubusercontent.com:sub': [
              'repo:acme/app:environment:production',
              'repo:acme@1111/app@2222:environment:production',
            ],
            'token.actions.githubusercontent.com:job_workflow_ref':
              'your-org/relay/.github/workflows/reusable-promote-image.yml@refs/tags/v0*',
          },
        },
      },
    ]);
    expect(JSON.stringify(r.trust)).not.toContain('ForAllValues');
    expect(r.reader.trust.Statement[0]!.Condition!.StringLike!['token.actions.githubusercontent.com:sub']).toEqual([
      'repo:acme/app:ref:refs/heads/main',
      'repo:acme@1111/app@2222:ref:refs/heads/main',
    ]);
    // without ids, the immutable form still matches (any id), and the report says how to pin it
    const loose = await run({
      operation: 'publish-terraform-registry',
      store: 's3://acme-reg',
      'account-id': '123456789012',
      repository: 'acme/tp',
      environment: 'staging',
      ref: 'refs/tags/*',
    });
    expect(loose.reader.trust.Statement[0]!.Condition!.StringLike!['token.actions.githubusercontent.com:sub']).toEqual([
      'repo:acme/tp:ref:refs/tags/*',
      'repo:acme@*/tp@*:ref:refs/tags/*',
    ]);
  });

  test('refusals: an input the operation does not use, a trust policy bound to nothing, no account, a bad bucket', async () => {
    await expect(run({ operation: 'publish-terraform-registry', store: 's3://acme-reg', from: 's3://x' })).rejects.toThrow(
      "input 'from': expected no value: publish-terraform-registry uses only --store, --source",
    );
    await expect(
      run({ operation: 'publish-terraform-registry', store: 's3://acme-reg', 'account-id': '123456789012', repository: 'acme/tp' }),
    ).rejects.toThrow("input 'environment': expected the GitHub environment whose approved jobs may write");
    await expect(
      run({
        operation: 'publish-terraform-registry',
        store: 's3://acme-reg',
        'account-id': '123456789012',
        repository: 'acme/tp',
        environment: 'production',
      }),
    ).rejects.toThrow("input 'ref': expected the refs whose plan jobs");
    await expect(
      run({ operation: 'verify-terraform-registry', store: 's3://acme-reg', 'account-id': '123456789012', repository: 'acme/tp' }),
    ).rejects.toThrow("input 'environment': expected an environment or a ref");
    await expect(
      run({ operation: 'publish-terraform-registry', store: 's3://acme-reg', repository: 'acme/tp', ref: 'refs/tags/*' }),
    ).rejects.toThrow("input 'account-id'");
    await expect(run({ operation: 'publish-terraform-registry', store: 's3://Bad_Bucket' })).rejects.toThrow("input 'store'");
    await expect(
      run({ operation: 'promote-ecr-image', source: 'public.ecr.aws/acme/app:1', destination: 'public.ecr.aws/acme/app' }),
    ).rejects.toThrow("input 'source': expected a private ECR image");
    await expect(run({ operation: 'nope' })).rejects.toThrow("input 'operation'");
  });

  test('every operation in the table yields policies that are valid JSON with only Allow statements on ARNs or *', async () => {
    const values: Record<string, string> = {
      store: 's3://acme-registry/p',
      from: 's3://acme-staging',
      source: ECR,
      destination: 'public.ecr.aws/acme/app',
    };
    for (const [operation, inputs] of Object.entries(OPERATION_RESOURCES)) {
      const raw: RawInputs = { operation };
      for (const { input, use } of inputs)
        raw[input] = use.startsWith('s3') ? (input === 'source' ? 's3://acme-builds/x' : values[input]) : values[input];
      if (operation === 'mirror-artifact') raw.destination = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror/app';
      const r = await run(raw);
      expect(r.actions.length).toBeGreaterThan(0);
      for (const s of r.policy.Statement) {
        expect(s.Effect).toBe('Allow');
        for (const res of asList(s.Resource)) expect(res).toMatch(/^(\*|arn:aws:(s3|ecr|ecr-public):)/);
        expect(s.Sid).toMatch(/^[A-Za-z0-9]+$/);
      }
      expect(new Set(r.policy.Statement.map((s) => s.Sid)).size).toBe(r.policy.Statement.length);
    }
  });
});

/** IAM's StringLike/StringEquals against the claims of a GitHub OIDC token, as STS evaluates a trust policy. */
export function trusts(policy: PolicyDocument, claims: Record<string, string>): boolean {
  const like = iamWildcard;
  return policy.Statement.some((s) => {
    if (s.Effect !== 'Allow' || asList(s.Action).indexOf('sts:AssumeRoleWithWebIdentity') < 0) return false;
    return Object.entries(s.Condition ?? {}).every(([op, keys]) =>
      Object.entries(keys).every(([key, want]) => {
        const have = claims[key.replace('token.actions.githubusercontent.com:', '')];
        if (have === undefined) return false;
        if (op === 'StringEquals') return asList(want).includes(have);
        if (op === 'StringLike') return asList(want).some((p) => like(p, have));
        return false;
      }),
    );
  });
}

describe('iam-policy: a reader for the plan, a writer only the approved environment can assume', () => {
  const roles = async (operation: string, values: Record<string, string>): Promise<Printed> =>
    run({
      operation,
      ...values,
      'account-id': '123456789012',
      repository: 'o/r',
      'repository-owner-id': '11',
      'repository-id': '22',
      environment: 'production',
      ref: 'refs/heads/main',
    });
  const token = (sub: string): Record<string, string> => ({ aud: 'sts.amazonaws.com', sub });

  test.each([
    ['publish-terraform-registry', { store: 's3://acme-reg/tf', source: 's3://acme-builds/x/' }],
    ['promote-terraform-provider', { store: 's3://acme-reg/tf', from: 's3://acme-staging/tf' }],
    ['promote-ecr-image', { source: ECR, destination: 'public.ecr.aws/acme/app' }],
    ['copy-image', { source: ECR, destination: '210987654321.dkr.ecr.us-east-2.amazonaws.com/app' }],
    ['mirror-artifact', { source: ECR, destination: '210987654321.dkr.ecr.us-east-2.amazonaws.com/app', store: 's3://acme-reg/tf' }],
  ])('%s: the reader reads only; the writer trusts the environment alone, the reader the ref alone', async (operation, values) => {
    const r = await roles(operation, values);
    const writes = /:(PutObject|DeleteObject|PutImage|InitiateLayerUpload|UploadLayerPart|CompleteLayerUpload)$/;
    expect(r.reader.actions.filter((a) => writes.test(a))).toEqual([]);
    expect(r.actions.some((a) => writes.test(a))).toBe(true);
    expect(r.reader.actions.every((a) => r.actions.includes(a))).toBe(true);
    // The subjects GitHub puts in each job's token: the apply job runs in the environment, the plan job on the ref.
    for (const form of ['repo:o/r', 'repo:o@11/r@22']) {
      const apply = token(`${form}:environment:production`);
      const plan = token(`${form}:ref:refs/heads/main`);
      expect([trusts(r.trust, apply), trusts(r.trust, plan)]).toEqual([true, false]);
      expect([trusts(r.reader.trust, apply), trusts(r.reader.trust, plan)]).toEqual([false, true]);
      for (const other of [`${form}:pull_request`, `${form}:environment:staging`, `${form}:ref:refs/heads/feature`])
        expect([trusts(r.trust, token(other)), trusts(r.reader.trust, token(other))]).toEqual([false, false]);
    }
    // Another repository, another id in the immutable form, or another audience: refused by both.
    for (const claims of [
      token('repo:x/r:environment:production'),
      token('repo:o@99/r@22:environment:production'),
      { aud: 'https://github.com/o', sub: 'repo:o/r:environment:production' },
    ])
      expect([trusts(r.trust, claims), trusts(r.reader.trust, claims)]).toEqual([false, false]);
  });

  test('an operation that only reads has one role, the reader, and no writer', async () => {
    const r = await run({
      operation: 'verify-terraform-registry',
      store: 's3://acme-reg/tf',
      'account-id': '123456789012',
      repository: 'o/r',
      ref: 'refs/heads/main',
    });
    expect(r.reader.actions).toEqual(['s3:GetObject', 's3:ListBucket']);
    expect(r.bucket).toEqual({});
    expect(trusts(r.reader.trust, token('repo:o/r:ref:refs/heads/main'))).toBe(true);
  });
});
