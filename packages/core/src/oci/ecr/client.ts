import { cjsExports } from '../../concurrency.js';
import { DEFAULTS } from '../../defaults.js';
import { RelayError, RemoteError } from '../../errors.js';
import type { ECRClient } from '@aws-sdk/client-ecr';
import type { ECRPUBLICClient } from '@aws-sdk/client-ecr-public';
import { awsClientConfig, credentialsFromEnv } from '../../aws/client-config.js';
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
  const credentials = credentialsFromEnv(env);
  if (credentials) cfg.credentials = credentials;
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
  const client =
    kind === 'ecr'
      ? new (await loadEcrSdk()).ECRClient({ ...common, ...(aws.ecrEndpoint && { endpoint: aws.ecrEndpoint }) })
      : new (await loadEcrPublicSdk()).ECRPUBLICClient({ ...common, ...(aws.ecrPublicEndpoint && { endpoint: aws.ecrPublicEndpoint }) });
  const label = `${kind === 'ecr' ? 'ECR' : 'ECR Public'} API (${region})`;
  return withDeadline(client, aws.net?.attemptLimitMs ?? DEFAULTS.requestBudgetMs, label) as EcrSdkClients[K];
}

/**
 * Bounds each call as a whole, every attempt included, by the request budget
 * (the request-timeout input): the SDK's own limit is per attempt, and it
 * makes up to four. The call is aborted, not just abandoned, so no socket
 * keeps the process alive after the run has failed.
 */
function withDeadline<C extends { send: (...args: never[]) => Promise<unknown> }>(client: C, ms: number, label: string): C {
  const send = client.send.bind(client) as (command: unknown, options?: { abortSignal?: AbortSignal }) => Promise<unknown>;
  const bounded = async (command: unknown, options: { abortSignal?: AbortSignal } = {}): Promise<unknown> => {
    const deadline = AbortSignal.timeout(ms);
    const abortSignal = options.abortSignal ? AbortSignal.any([options.abortSignal, deadline]) : deadline;
    try {
      return await send(command, { ...options, abortSignal });
    } catch (err) {
      if (!deadline.aborted) throw err;
      const name = (command as { constructor: { name: string } }).constructor.name.replace(/Command$/, '');
      throw new RemoteError(
        `${label} ${name}: no answer within ${ms / 1000} s, every attempt included (raise request-timeout to wait longer)`,
        {
          retryable: true,
        },
      );
    }
  };
  return Object.assign(client, { send: bounded });
}

/** An SDK failure on one line: `Name: first line of the message`. */
export function awsErrorText(err: unknown): string {
  if (err instanceof RelayError) return err.message;
  const e = err as { name?: string; message?: string };
  return `${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${(e.message ?? String(err)).split('\n')[0]}`;
}
