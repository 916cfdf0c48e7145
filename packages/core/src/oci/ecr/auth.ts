import { AuthError, RemoteError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import { ECR_PUBLIC_HOST, ecrRegistry, isEcrPublic } from '../ref/hosts.js';
import type { Credential, CredentialProvider } from '../repo/auth/credentials.js';
import { awsErrorText, ecrSdkClient, loadEcrPublicSdk, loadEcrSdk } from './client.js';
import type { AwsConfig } from './client.js';

/**
 * ECR's native credentials, offered to the OCI session as its keychain (as
 * ggcr's callers add the ECR helper to authn's keychain): the session knows
 * only CredentialProvider, never AWS.
 */
export function ecrKeychain(aws: AwsConfig, log: Logger): (host: string) => CredentialProvider[] {
  return (host) => [
    ...(ecrRegistry(host) ? [ecrProvider(host, aws, log)] : []),
    ...(isEcrPublic(host) ? [ecrPublicProvider(aws, log)] : []),
  ];
}

/** Native private ECR: GetAuthorizationToken in the registry's region, used as Basic AWS:<password>. */
export function ecrProvider(host: string, aws: AwsConfig, log: Logger): CredentialProvider {
  const reg = ecrRegistry(host);
  if (!reg) throw new Error(`not an ECR host: ${host}`);
  const fetchToken = async (): Promise<Credential> => {
    let out;
    try {
      const { GetAuthorizationTokenCommand } = await loadEcrSdk();
      out = await (await ecrSdkClient('ecr', reg.region, aws)).send(new GetAuthorizationTokenCommand({}));
    } catch (err) {
      // A token endpoint that never answers is a remote failure, not refused credentials.
      if (err instanceof RemoteError) throw new RemoteError(`registry ${host}: ${err.message}`, { retryable: err.retryable });
      throw new AuthError(`registry ${host}: ECR GetAuthorizationToken (${reg.region}) failed: ${awsErrorText(err)}`);
    }
    const token = out.authorizationData?.[0]?.authorizationToken;
    if (!token) throw new AuthError(`registry ${host}: ECR GetAuthorizationToken returned no token`);
    log.mask(token);
    const decoded = Buffer.from(token, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i <= 0) throw new AuthError(`registry ${host}: ECR token is not base64 of user:password`);
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
      const { GetAuthorizationTokenCommand } = await loadEcrPublicSdk();
      out = await (await ecrSdkClient('ecr-public', 'us-east-1', aws)).send(new GetAuthorizationTokenCommand({}));
    } catch (err) {
      if (err instanceof RemoteError) throw new RemoteError(`registry ${ECR_PUBLIC_HOST}: ${err.message}`, { retryable: err.retryable });
      throw new AuthError(`registry ${ECR_PUBLIC_HOST}: ECR Public GetAuthorizationToken (us-east-1) failed: ${awsErrorText(err)}`);
    }
    const token = out.authorizationData?.authorizationToken;
    if (!token) throw new AuthError(`registry ${ECR_PUBLIC_HOST}: ECR Public GetAuthorizationToken returned no token`);
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
