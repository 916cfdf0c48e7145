import type { ECRClient } from '@aws-sdk/client-ecr';
import { InputError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import type { Credential, CredentialProvider } from './credentials.js';

const ECR_HOST = /^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?(?::\d+)?$/;
export const ECR_PUBLIC_HOST = 'public.ecr.aws';

/** Account and region of a private ECR registry host. */
export function ecrRegistry(host: string): { account: string; region: string } | undefined {
  const m = ECR_HOST.exec(host);
  return m ? { account: m[1] as string, region: m[2] as string } : undefined;
}

export function isEcrPublic(host: string): boolean {
  return host === ECR_PUBLIC_HOST;
}

/**
 * How the SDK clients are built. Core never reads process.env: the endpoint
 * and static keys come from ctx.env; without keys the SDK's own chain runs.
 */
export interface AwsConfig {
  /** AWS_ENDPOINT_URL_ECR (stand-ins, VPC endpoints). */
  ecrEndpoint?: string;
  /** AWS_ENDPOINT_URL_ECR_PUBLIC. */
  ecrPublicEndpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

export function awsConfigFromEnv(env: Record<string, string | undefined>): AwsConfig {
  const cfg: AwsConfig = {};
  const ecr = env.AWS_ENDPOINT_URL_ECR ?? env.AWS_ENDPOINT_URL;
  const pub = env.AWS_ENDPOINT_URL_ECR_PUBLIC ?? env.AWS_ENDPOINT_URL;
  if (ecr) cfg.ecrEndpoint = ecr;
  if (pub) cfg.ecrPublicEndpoint = pub;
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    cfg.credentials = {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      ...(env.AWS_SESSION_TOKEN && { sessionToken: env.AWS_SESSION_TOKEN }),
    };
  }
  return cfg;
}

/** The SDKs load only when an ECR host is involved: they are most of the CLI's start-up time. */
export const loadEcrSdk = (): Promise<typeof import('@aws-sdk/client-ecr')> => import('@aws-sdk/client-ecr');

export async function ecrClient(region: string, aws: AwsConfig): Promise<ECRClient> {
  const { ECRClient } = await loadEcrSdk();
  return new ECRClient({
    region,
    ...(aws.ecrEndpoint && { endpoint: aws.ecrEndpoint }),
    ...(aws.credentials && { credentials: aws.credentials }),
    maxAttempts: 4,
  });
}

function awsFailure(what: string, err: unknown): InputError {
  const e = err as { name?: string; message?: string };
  return new InputError(`${what}: ${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${(e.message ?? String(err)).split('\n')[0]}`);
}

/** Native private ECR: GetAuthorizationToken in the registry's region, used as Basic AWS:<password>. */
export function ecrProvider(host: string, aws: AwsConfig, log: Logger): CredentialProvider {
  const reg = ecrRegistry(host);
  if (!reg) throw new Error(`not an ECR host: ${host}`);
  const fetchToken = async (): Promise<Credential> => {
    let out;
    try {
      const { GetAuthorizationTokenCommand } = await loadEcrSdk();
      out = await (await ecrClient(reg.region, aws)).send(new GetAuthorizationTokenCommand({}));
    } catch (err) {
      throw awsFailure(`registry ${host}: ECR GetAuthorizationToken (${reg.region}) failed`, err);
    }
    const token = out.authorizationData?.[0]?.authorizationToken;
    if (!token) throw new InputError(`registry ${host}: ECR GetAuthorizationToken returned no token`);
    log.mask(token);
    const decoded = Buffer.from(token, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i <= 0) throw new InputError(`registry ${host}: ECR token is not base64 of user:password`);
    log.mask(decoded.slice(i + 1));
    return { kind: 'basic', username: decoded.slice(0, i), password: decoded.slice(i + 1) };
  };
  return cachedProvider('ECR GetAuthorizationToken', fetchToken);
}

/**
 * ECR Public: GetAuthorizationToken exists only in us-east-1; the token goes
 * out as `Bearer <token>` (Basic earns a 400 DENIED).
 */
export function ecrPublicProvider(aws: AwsConfig, log: Logger): CredentialProvider {
  const fetchToken = async (): Promise<Credential> => {
    let out;
    try {
      const { ECRPUBLICClient, GetAuthorizationTokenCommand: GetPublicTokenCommand } = await import('@aws-sdk/client-ecr-public');
      const client = new ECRPUBLICClient({
        region: 'us-east-1',
        ...(aws.ecrPublicEndpoint && { endpoint: aws.ecrPublicEndpoint }),
        ...(aws.credentials && { credentials: aws.credentials }),
        maxAttempts: 4,
      });
      out = await client.send(new GetPublicTokenCommand({}));
    } catch (err) {
      throw awsFailure(`registry ${ECR_PUBLIC_HOST}: ECR Public GetAuthorizationToken (us-east-1) failed`, err);
    }
    const token = out.authorizationData?.authorizationToken;
    if (!token) throw new InputError(`registry ${ECR_PUBLIC_HOST}: ECR Public GetAuthorizationToken returned no token`);
    log.mask(token);
    return { kind: 'bearer', token };
  };
  return cachedProvider('ECR Public GetAuthorizationToken', fetchToken);
}

/** One token shared by every request until the registry refuses it; then one fresh one. */
function cachedProvider(source: string, fetchToken: () => Promise<Credential>): CredentialProvider {
  let current: Promise<Credential> | undefined;
  return {
    source,
    get: () => (current ??= fetchToken()),
    refresh: () => (current = fetchToken()),
  };
}
