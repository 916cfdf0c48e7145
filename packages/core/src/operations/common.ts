import type { Context } from '../context.js';
import { badInput } from '../errors.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/store.js';
import { withSlash } from '../terraform/layout.js';

/** An http(s) base URL with a trailing slash; credentials, query and fragment refused. */
export function parseRegistryUrl(text: string, input = 'registry-url'): URL {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    badInput(input, 'an http(s) URL such as https://registry.example.com', text);
  }
  if ((u.protocol !== 'https:' && u.protocol !== 'http:') || u.search || u.hash || u.username || u.password) {
    badInput(input, 'an http(s) URL without query, fragment or credentials', text);
  }
  return withSlash(u);
}

/**
 * Opens a store input the same way for every operation: the endpoint from the
 * input or AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, the region from AWS_REGION
 * or AWS_DEFAULT_REGION, proxies from ctx.env, cancellation from ctx.signal,
 * and the timeouts tests override for HTTP.
 */
export function openStoreInput(text: string, input: string, endpointInput: string | undefined, ctx: Context): Store {
  const endpoint = endpointInput || ctx.env.AWS_ENDPOINT_URL_S3 || ctx.env.AWS_ENDPOINT_URL || undefined;
  const region = ctx.env.AWS_REGION || ctx.env.AWS_DEFAULT_REGION || undefined;
  const { connectTimeoutMs, idleTimeoutMs, budgetMs } = ctx.clients?.http ?? {};
  return openStore(text, input, {
    endpoint,
    cwd: ctx.cwd,
    region,
    env: ctx.env,
    signal: ctx.signal,
    connectTimeoutMs,
    idleTimeoutMs,
    budgetMs,
  });
}

/** A size input given in MiB, as bytes (undefined: the default, for callers that build inputs by hand); refuses zero and negatives. */
export function positiveMiB(mib: number | undefined, input: string, fallbackBytes: number): number {
  if (mib === undefined) return fallbackBytes;
  if (!(mib > 0) || !Number.isFinite(mib)) badInput(input, 'a positive number of MiB', String(mib));
  return Math.floor(mib * 1024 * 1024);
}
