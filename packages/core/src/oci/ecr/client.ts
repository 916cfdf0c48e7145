import { cjsExports } from '../../concurrency.js';
import type { ECRClient } from '@aws-sdk/client-ecr';
import type { ECRPUBLICClient } from '@aws-sdk/client-ecr-public';
import { awsClientConfig } from '../../aws/client-config.js';
import type { AwsNetOptions } from '../../aws/client-config.js';

/**
 * How the AWS SDK clients are built. Core never reads process.env: the
 * endpoints and static keys come from ctx.env (awsConfigFromEnv, called once
 * by the operations); without keys the SDK's own chain runs.
 */
export interface AwsConfig {
  /** AWS_ENDPOINT_URL_ECR (stand-ins, VPC endpoints). */
  ecrEndpoint?: string;
  /** AWS_ENDPOINT_URL_ECR_PUBLIC. */
  ecrPublicEndpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Timeouts and the proxy variables for the SDK clients (aws/client-config.ts). */
  net?: AwsNetOptions;
}

export function awsConfigFromEnv(env: Record<string, string | undefined>): AwsConfig {
  const cfg: AwsConfig = { net: { env } };
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
export const loadEcrSdk = async (): Promise<typeof import('@aws-sdk/client-ecr')> => cjsExports(await import('@aws-sdk/client-ecr'));
export const loadEcrPublicSdk = async (): Promise<typeof import('@aws-sdk/client-ecr-public')> =>
  cjsExports(await import('@aws-sdk/client-ecr-public'));

export type EcrSdkKind = 'ecr' | 'ecr-public';
interface EcrSdkClients {
  ecr: ECRClient;
  'ecr-public': ECRPUBLICClient;
}

/**
 * Every ECR and ECR Public SDK client is built here, so endpoints,
 * credentials, attempts (and any proxy or timeout) are set in one place.
 * ECR Public's API exists only in us-east-1.
 */
export async function ecrSdkClient<K extends EcrSdkKind>(kind: K, region: string, aws: AwsConfig): Promise<EcrSdkClients[K]> {
  const common = { ...awsClientConfig(aws.net), region, ...(aws.credentials && { credentials: aws.credentials }), maxAttempts: 4 };
  if (kind === 'ecr') {
    const { ECRClient } = await loadEcrSdk();
    return new ECRClient({ ...common, ...(aws.ecrEndpoint && { endpoint: aws.ecrEndpoint }) }) as EcrSdkClients[K];
  }
  const { ECRPUBLICClient } = await loadEcrPublicSdk();
  return new ECRPUBLICClient({ ...common, ...(aws.ecrPublicEndpoint && { endpoint: aws.ecrPublicEndpoint }) }) as EcrSdkClients[K];
}

/** An SDK failure on one line: `Name: first line of the message`. */
export function awsErrorText(err: unknown): string {
  const e = err as { name?: string; message?: string };
  return `${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${(e.message ?? String(err)).split('\n')[0]}`;
}
