import type { Clients, Context } from '../context.js';
import { DEFAULTS } from '../defaults.js';
import { badInput } from '../errors.js';
import { httpUrlProblem } from '../inputs/url.js';
import type { Logger } from '../log/logger.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/store.js';
import { withSlash } from '../terraform/layout.js';

/** An http(s) base URL with a trailing slash; credentials, query and fragment refused. */
export function parseRegistryUrl(text: string, input = 'registry-url'): URL {
  const why = httpUrlProblem(text);
  if (why) badInput(input, `an http(s) URL such as https://registry.example.com (${why})`, text);
  const u = new URL(text);
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
  if (endpoint) {
    const why = httpUrlProblem(endpoint);
    const from = endpointInput ? 's3-endpoint' : ctx.env.AWS_ENDPOINT_URL_S3 ? 'AWS_ENDPOINT_URL_S3' : 'AWS_ENDPOINT_URL';
    if (why) badInput(from, `an http(s) endpoint URL such as https://s3.example.com:8443 (${why})`, endpoint);
  }
  const region = ctx.env.AWS_REGION || ctx.env.AWS_DEFAULT_REGION || undefined;
  const { connectTimeoutMs, idleTimeoutMs, budgetMs } = httpOptions(ctx);
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

/** The HTTP client options of a run: the stand-ins' overrides, with the request budget its request-timeout input set. */
export function httpOptions(ctx: Context): NonNullable<Clients['http']> {
  const budgetMs = ctx.limits?.requestMs;
  return { ...ctx.clients?.http, ...(budgetMs !== undefined && { budgetMs }) };
}

/** A size input given in MiB, as bytes (undefined: the default, for callers that build inputs by hand); refuses zero and negatives. */
export function positiveMiB(mib: number | undefined, input: string, fallbackBytes: number): number {
  if (mib === undefined) return fallbackBytes;
  if (!(mib > 0) || !Number.isFinite(mib)) badInput(input, 'a positive number of MiB', String(mib));
  return Math.floor(mib * 1024 * 1024);
}

/**
 * The input every writing operation declares (spread into its spec): the hash
 * of the plan an approver saw. defineOperation binds it; the operation calls
 * `ctx.record.approve()` once its plan is complete, before its first write.
 */
export const planInputs = {
  'expect-plan': {
    description:
      'The plan hash (`plan-hash`) of an approved dry run: refuse before writing anything unless the plan computed now hashes the same (the reusable workflows pass it from their plan job).',
    defaultNote: 'not bound: whatever the plan is now is applied',
  },
} as const;

/** The output every writing operation declares: the hash `expect-plan` takes. */
export const planOutputs = {
  'plan-hash': {
    description: 'sha256 of the plan (canonical JSON of its rows without results): give it as `expect-plan` to apply exactly this plan.',
  },
} as const;

/**
 * The time limit of every operation that makes network requests (spread into
 * its spec); defineOperation puts it in ctx.limits, where the HTTP clients and
 * S3 stores the operation opens read it.
 */
export const requestTimeoutInput = {
  'request-timeout': {
    description:
      'Seconds one request to a registry, S3 or another server may take in total, its body and every retry included (a body of known size, such as a blob, also gets its size at 256 KiB/s): a server that never answers, stalls or trickles fails the run after this long.',
    type: 'number',
    // A note, not a default: a caller building inputs by hand (tests, stand-ins) may leave it out.
    defaultNote: String(DEFAULTS.requestBudgetMs / 1000),
  },
} as const;

/**
 * The time limit of every operation that runs subprocesses (credential
 * helpers, a provider for its handshake). No default value, so that a
 * provider's handshake keeps its own shorter limit unless this is given.
 */
export const subprocessTimeoutInput = {
  'subprocess-timeout': {
    description:
      'Seconds a subprocess Relay runs (a docker credential helper, a provider started for its plugin handshake) may take before it is killed.',
    type: 'number',
    defaultNote: `${DEFAULTS.subprocessTimeoutMs / 1000}; a provider's handshake ${DEFAULTS.handshakeTimeoutMs / 1000}`,
  },
} as const;

/**
 * Where an operation that writes to registries (no store of its own to keep
 * audit records in) writes its audit record; the reusable workflows set
 * RELAY_AUDIT_FILE and upload the file as an artifact.
 */
export const auditFileInput = {
  'audit-file': {
    description:
      'Write the audit record of a run that changed something to this file, as JSON (write-once: an existing file is refused before anything is written). The reusable workflows upload it as an artifact.',
    defaultNote: 'no record',
  },
} as const;

/**
 * Terraform's network-mirror client builds each request path from the
 * provider's hostname (`<host>/<ns>/<type>/index.json`) and parses it as a
 * relative URL: with a port, `host:8443/...` parses as a URL whose scheme is
 * the host name (or, for an IP address, fails with "first path segment in URL
 * cannot contain colon"), so a network mirror is unusable for a provider whose
 * address has a port. The registry protocol itself works on any port. (Read in
 * hashicorp/terraform internal/getproviders/http_mirror_source.go: path.Join of
 * provider.Hostname.String(), then url.Parse.)
 */
export function warnRegistryPort(url: URL, log: Logger, input = 'registry-url'): void {
  // A loopback registry (the demo, a test) is never a network mirror: Terraform wants https for one anyway.
  if (!url.port || /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/.test(url.hostname)) return;
  log.warn(
    `input '${input}': ${url.host} has a port; the provider address becomes ${url.host}/<namespace>/<name>, and Terraform's network-mirror client cannot use such a host (it parses the mirror path '${url.host}/…' as a URL with scheme '${url.hostname}'), so the static mirror under mirror/${url.host}/ works only for the registry protocol's clients; serve the registry on port 443 to use it as a network mirror`,
  );
}
