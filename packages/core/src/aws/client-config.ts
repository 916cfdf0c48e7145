/**
 * What every AWS SDK client (S3, ECR, ECR Public) is built with, in one
 * place: Relay's connect and idle timeouts, an attempt bounded by the
 * request budget, and connection pools that honour HTTPS_PROXY, HTTP_PROXY
 * and NO_PROXY from Context.env (the SDK itself ignores them). Spread it
 * first into a client's config.
 */
import type http from 'node:http';
import type https from 'node:https';
import { DEFAULTS } from '../defaults.js';
import { USER_AGENT } from '../version.js';
import { proxyAgents } from '../http/agents.js';
import { proxySettings } from '../http/proxy.js';
import type { Env } from '../http/proxy.js';

export interface AwsNetOptions {
  /** Context.env: where the proxy variables are read. Without it, no proxy. */
  env?: Env;
  connectTimeoutMs?: number;
  idleTimeoutMs?: number;
  /**
   * Longest one attempt may wait for its response headers; 0 for clients
   * that bound the whole operation themselves (S3Store: an upload can
   * legitimately take longer than the budget, as long as it keeps moving).
   */
  attemptLimitMs?: number;
}

/** The SDK's NodeHttpHandler options, which it turns into its handler. */
export interface AwsRequestHandlerOptions {
  connectionTimeout: number;
  socketTimeout: number;
  requestTimeout: number;
  throwOnRequestTimeout: boolean;
  httpAgent: http.Agent;
  httpsAgent: https.Agent;
}

export function awsClientConfig(opts: AwsNetOptions = {}): { requestHandler: AwsRequestHandlerOptions; customUserAgent: string } {
  const connectTimeoutMs = opts.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs;
  const agents = proxyAgents({ proxies: proxySettings(opts.env ?? {}), connectTimeoutMs, maxSockets: DEFAULTS.awsMaxSockets });
  return {
    // Appended to the SDK's own user agent: `relay/<version>` in the server's logs.
    customUserAgent: USER_AGENT,
    requestHandler: {
      // TCP connect (or the proxy's CONNECT: the socket is handed over once the tunnel is up).
      connectionTimeout: connectTimeoutMs,
      // Inactivity, before the response headers and in the middle of a body alike.
      socketTimeout: opts.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs,
      requestTimeout: opts.attemptLimitMs ?? DEFAULTS.requestBudgetMs,
      // Without it the SDK only logs a warning (to the console) when requestTimeout passes.
      throwOnRequestTimeout: true,
      httpAgent: agents.http,
      httpsAgent: agents.https,
    },
  };
}

/** Static credentials from Context.env (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), or undefined for the SDK's own chain. */
export function credentialsFromEnv(
  env: Env | undefined,
): { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined {
  // Read from the run's environment, not process.env: a secrets file sets them for one run (inputs/variables.ts).
  if (!env?.AWS_ACCESS_KEY_ID || !env.AWS_SECRET_ACCESS_KEY) return undefined;
  return {
    accessKeyId: env.AWS_ACCESS_KEY_ID,
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
    ...(env.AWS_SESSION_TOKEN && { sessionToken: env.AWS_SESSION_TOKEN }),
  };
}
