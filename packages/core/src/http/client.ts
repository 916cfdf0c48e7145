import type https from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Readable, finished } from 'node:stream';
import { AuthError, CancelledError, InputError, RelayError, RemoteError, cancelledBy } from '../errors.js';
import type { RelayErrorOptions } from '../errors.js';
import { DEFAULTS } from '../defaults.js';
import { USER_AGENT } from '../version.js';
import type { Logger } from '../log/logger.js';
import { proxyAgents } from './agents.js';
import type { Agents } from './agents.js';
import { Budget, seconds } from './budget.js';
import { HostLimiter } from './limiter.js';
import { NO_PROXY_SETTINGS, proxyFor, proxySettings } from './proxy.js';
import type { Env, Proxy, ProxySettings } from './proxy.js';
import { sleep } from '../concurrency.js';
import { DEFAULT_RETRY, MAX_RETRY_AFTER_MS, backoffDelay, isRetryableError, isRetryableStatus, parseRetryAfter } from '../retry.js';
import type { RetryPolicy } from '../retry.js';

/**
 * A request body. Bytes and factories can be sent again, so such requests are
 * retried; a bare stream is sent once and its request is never retried.
 */
export type RequestBody = Uint8Array | string | Readable | (() => Readable | Uint8Array | Promise<Readable | Uint8Array>);

/** Whether a request with this body can be sent again (retried, or repeated after a refusal). */
export function isReplayable(body: RequestBody | undefined): boolean {
  return !(body instanceof Readable);
}

/**
 * An Authorization value and the origins (scheme, host and port) it was
 * issued for. The client sends it to those origins only: never to a URL on
 * another origin, whether the caller was handed that URL by a server (an
 * upload Location, an asset URL) or was redirected there, and never again
 * in a redirect chain once it has left them.
 */
export interface BoundCredential {
  readonly authorization: string;
  readonly origins: readonly string[];
}

/** `authorization` bound to the origins of these URLs (`https://host:port`, any path). */
export function bindCredential(authorization: string, ...origins: (string | URL)[]): BoundCredential {
  if (origins.length === 0) throw new Error('bindCredential: a credential needs the origin it belongs to');
  return { authorization, origins: origins.map((o) => new URL(o).origin) };
}

export interface HttpRequest {
  method?: string;
  url: string | URL;
  /** Never `authorization`: a credential goes in `credential`, bound to its origins. */
  headers?: Record<string, string | undefined>;
  body?: RequestBody;
  /** Sent as Authorization to the origins it is bound to, and nowhere else. */
  credential?: BoundCredential;
  /**
   * The response body is content (a blob, an archive, an asset) of at most
   * this many bytes: the request's deadline grows by the time its size
   * (Content-Length, at most this) takes at the slowest rate accepted
   * (`minRateBytesPerSec`). Without it the whole body must come within the
   * request's budget, as documents and API answers do.
   */
  contentUpTo?: number;
  signal?: AbortSignal;
  /** Follow redirects by hand (default); false returns the 3xx. */
  followRedirects?: boolean;
}

export interface HttpClientOptions {
  /** Hosts (host or host:port) that may be spoken to over plain HTTP besides loopback. */
  insecureHosts?: readonly string[];
  /** Requests awaiting a response per host:port. */
  perHost?: number;
  retry?: Partial<RetryPolicy>;
  /** A TCP connection (or a proxy's answer to CONNECT) not made in this time fails the attempt. */
  connectTimeoutMs?: number;
  /** A connection silent this long (no response headers, or a body stalled mid-stream) is dropped. */
  idleTimeoutMs?: number;
  /** Time a request may take in total, body included, over every attempt, backoff and redirect (see Budget). */
  budgetMs?: number;
  /** Slowest rate a body of known size may move at: its size at this rate is added to the budget (DEFAULTS.minRateBytesPerSec). */
  minRateBytesPerSec?: number;
  /** Where HTTPS_PROXY, HTTP_PROXY and NO_PROXY are read (Context.env); without it, no proxy. */
  env?: Env;
  /** Extra CA certificates (PEM) to trust: a private registry's, a test server's. */
  ca?: string | Buffer;
  /** Context.signal: cancels every request (and body) of this client, besides each request's own signal. */
  signal?: AbortSignal;
  /** 'host[:port]' → 'address:port' to connect to instead, as curl --connect-to (stand-ins in tests). */
  connectTo?: Readonly<Record<string, string>>;
  log?: Logger;
}

/** A status the caller did not expect; carries the registry's answer for one-line errors. */
export class HttpError extends RelayError {
  override name = 'HttpError';
  constructor(
    message: string,
    readonly status: number,
    retryable = isRetryableStatus(status),
    readonly retryAfterMs?: number,
  ) {
    // Refused credentials are the user's to fix (exit 1); anything else is the remote's failure (exit 3).
    super(status === 401 || status === 403 ? 'auth' : 'remote', message, { retryable });
  }
}

/**
 * The connection failed (refused, reset, stalled, no answer within the
 * budget). Retryable by the caller only where HttpClient itself could not
 * retry (a one-shot body, a body that stalled after the headers).
 */
export class NetworkError extends RemoteError {
  override name = 'NetworkError';
  constructor(
    message: string,
    readonly code: string | undefined,
    options?: RelayErrorOptions,
  ) {
    super(message, { retryable: true, ...options });
  }
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[?::1\]?)$/i;
export function isLoopback(hostname: string): boolean {
  return LOOPBACK.test(hostname);
}

/** https unless the host is loopback or listed as insecure (as docker does). */
export function schemeFor(host: string, insecureHosts: readonly string[] = []): 'http' | 'https' {
  const hostname = new URL(`http://${host}`).hostname;
  return isLoopback(hostname) || insecureHosts.includes(host) || insecureHosts.includes(hostname) ? 'http' : 'https';
}

export class HttpResponse {
  constructor(
    readonly status: number,
    readonly headers: IncomingHttpHeaders,
    readonly url: URL,
    readonly body: Readable,
  ) {}

  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  header(name: string): string | undefined {
    const v = this.headers[name.toLowerCase()];
    return Array.isArray(v) ? v.join(', ') : v;
  }

  /** The whole body, refusing more than `limit` bytes (manifests, JSON, errors: never blobs). */
  async bytes(limit = 8 * 1024 * 1024): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of this.body) {
      size += (chunk as Buffer).length;
      if (size > limit) {
        this.body.destroy();
        throw new InputError(`${this.url.host}${this.url.pathname}: response larger than ${limit} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  async text(limit?: number): Promise<string> {
    return (await this.bytes(limit)).toString('utf8');
  }

  /** Reads and drops the body so the connection can be reused; never throws. */
  async discard(): Promise<void> {
    try {
      for await (const _ of this.body) {
        /* drain */
      }
    } catch {
      /* the body is unwanted */
    }
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;

/**
 * The project's one way to speak HTTP: manual redirects that drop
 * Authorization across hosts, retries with backoff and Retry-After, bounded
 * requests per host, plain HTTP only where allowed, connect and idle
 * timeouts, a budget for the whole request, proxies from the environment.
 */
export class HttpClient {
  readonly policy: RetryPolicy;
  private readonly limiter: HostLimiter;
  private readonly insecure: readonly string[];
  private readonly connectMs: number;
  private readonly idleMs: number;
  private readonly budgetMs: number;
  private readonly minRate: number;
  private readonly proxies: ProxySettings;
  /** Made with the first request: a client that never sends one never loads Node's network modules. */
  private pools: Agents | undefined;

  constructor(private readonly opts: HttpClientOptions = {}) {
    this.policy = { ...DEFAULT_RETRY, ...opts.retry };
    this.limiter = new HostLimiter(opts.perHost ?? DEFAULTS.httpPerHost);
    this.insecure = opts.insecureHosts ?? [];
    this.connectMs = opts.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs;
    this.idleMs = opts.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs;
    this.budgetMs = opts.budgetMs ?? DEFAULTS.requestBudgetMs;
    this.minRate = opts.minRateBytesPerSec ?? DEFAULTS.minRateBytesPerSec;
    this.proxies = opts.env ? proxySettings(opts.env) : NO_PROXY_SETTINGS;
    for (const secret of [...(this.proxies.http?.secrets ?? []), ...(this.proxies.https?.secrets ?? [])]) opts.log?.mask(secret);
  }

  private get agents(): Agents {
    return (this.pools ??= proxyAgents({
      proxies: this.proxies,
      connectTimeoutMs: this.connectMs,
      maxSockets: 64,
      ...(this.opts.ca && { ca: this.opts.ca }),
    }));
  }

  schemeFor(host: string): 'http' | 'https' {
    return schemeFor(host, this.insecure);
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.pools?.http.destroy();
    this.pools?.https.destroy();
  }

  /**
   * One request, every attempt and redirect included, bounded by one
   * deadline that also covers the body: the budget, plus the time the
   * request's body and a declared content body (`contentUpTo`) take at the
   * slowest rate accepted. A body still coming when it runs out is ended
   * with one line naming request-timeout; a byte now and then does not
   * move the deadline.
   */
  async request(req: HttpRequest): Promise<HttpResponse> {
    if (Object.keys(req.headers ?? {}).some((k) => k.toLowerCase() === 'authorization')) {
      throw new Error('HttpClient.request: pass credentials as `credential` (bound to their origin), not as an Authorization header');
    }
    const budget = new Budget(this.budgetMs + this.rateMs(uploadBytes(req)), this.idleMs);
    const link = either(req.signal, this.opts.signal);
    let res: HttpResponse;
    try {
      res = await this.attempts({ ...req, signal: link.signal }, budget);
    } catch (err) {
      link.dispose();
      budget.dispose();
      throw err;
    }
    if (req.contentUpTo !== undefined) {
      const declared = Number(res.header('content-length'));
      budget.extend(this.rateMs(Number.isFinite(declared) && declared >= 0 ? Math.min(declared, req.contentUpTo) : req.contentUpTo));
    }
    const method = (req.method ?? 'GET').toUpperCase();
    const onSpent = (): void => {
      res.body.destroy(
        new NetworkError(
          `${method} ${where(res.url)}: not done within ${seconds(budget.ms)} s (the body came too slowly; raise request-timeout to wait longer)`,
          'RELAY_BUDGET',
          { retryable: false },
        ),
      );
    };
    const done = (): void => {
      budget.signal.removeEventListener('abort', onSpent);
      budget.dispose();
      link.dispose();
    };
    // A body that has nothing to carry (HEAD, 204, 304, length 0) may never be read, so it would never close: the deadline
    // and its links are let go now, not kept (with the response) until the deadline fires.
    const empty = method === 'HEAD' || res.status === 204 || res.status === 304 || res.header('content-length') === '0';
    if (res.body.destroyed || empty) {
      done();
      if (empty) res.body.resume();
    } else {
      budget.signal.addEventListener('abort', onSpent, { once: true });
      res.body.once('close', done); // the signal and the deadline also end the body
    }
    return res;
  }

  /** Time `bytes` take at the slowest rate accepted. */
  private rateMs(bytes: number): number {
    return bytes > 0 ? (bytes / this.minRate) * 1000 : 0;
  }

  private async attempts(req: HttpRequest, budget: Budget): Promise<HttpResponse> {
    let url = new URL(req.url);
    let method = (req.method ?? 'GET').toUpperCase();
    const headers: Record<string, string> = { 'user-agent': USER_AGENT };
    for (const [k, v] of Object.entries(req.headers ?? {})) if (v !== undefined) headers[k.toLowerCase()] = v;
    // Bound to its origins while the chain stays on them; a URL from anywhere else never gets it back.
    let credential = req.credential;
    let body = req.body;
    const replayable = isReplayable(body);
    const signal = req.signal;
    const cancelled = (): CancelledError => new CancelledError(`${cancelledBy(signal!).message} (${method} ${where(url)} aborted)`);
    const wait = (ms: number): Promise<void> =>
      sleep(ms, signal).catch(() => {
        throw cancelled();
      });
    let redirects = 0;

    for (let attempt = 1; ;) {
      this.assertAllowed(url);
      if (credential && !credential.origins.includes(url.origin)) {
        this.opts.log?.debug(`${method} ${where(url)}: no credentials sent (they belong to ${credential.origins.join(', ')})`);
        credential = undefined;
      }
      if (credential) headers['authorization'] = credential.authorization;
      else delete headers['authorization'];
      if (signal?.aborted) throw cancelled();
      let res: HttpResponse;
      budget.pause(); // time queued behind this host's other requests is not the server's
      const release = await this.limiter
        .for(url.host)
        .acquire(signal)
        .catch(() => {
          throw cancelled();
        });
      budget.run();
      try {
        res = await this.send(url, method, headers, await materialise(body), signal, budget);
      } catch (err) {
        release();
        if (signal?.aborted) throw cancelled();
        if (replayable && !budget.spent && attempt < this.policy.attempts && isRetryableError(err)) {
          const delay = backoffDelay(this.policy, attempt);
          if (delay < budget.remainingMs()) {
            this.opts.log?.debug(`retrying ${method} ${where(url)} after ${errText(err)} in ${Math.round(delay)} ms`);
            attempt++;
            await wait(delay);
            continue;
          }
        }
        throw this.failure(err, method, url, attempt, budget, replayable);
      }
      release(); // the slot bounds requests awaiting an answer; body streams are bounded by the caller

      if (res.status === 407 && url.protocol === 'http:' && this.proxyFor(url)) {
        await res.discard();
        throw new AuthError(
          `proxy ${this.proxyFor(url)!.host} refused ${method} ${where(url)}: HTTP 407 (check the credentials in the proxy URL)`,
        );
      }

      if (REDIRECTS.has(res.status) && req.followRedirects !== false && res.header('location')) {
        if (!replayable && method !== 'GET' && method !== 'HEAD') return res;
        await res.discard();
        if (++redirects > MAX_REDIRECTS) throw new InputError(`${url.host}${url.pathname}: more than ${MAX_REDIRECTS} redirects`);
        // Credentials follow only within their origins (the top of the loop): S3 and CDNs would reject or leak them.
        const next = new URL(res.header('location') as string, url);
        if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
          method = method === 'HEAD' ? 'HEAD' : 'GET';
          body = undefined;
          delete headers['content-length'];
          delete headers['content-type'];
        }
        url = next;
        continue;
      }

      if (isRetryableStatus(res.status) && replayable && attempt < this.policy.attempts && !signal?.aborted) {
        const retryAfter = parseRetryAfter(res.header('retry-after'));
        const delay = backoffDelay(this.policy, attempt, retryAfter);
        // A wait past the budget (or the longest Retry-After we honour) returns the answer instead.
        if ((retryAfter === undefined || retryAfter <= MAX_RETRY_AFTER_MS) && delay < budget.remainingMs()) {
          await res.discard();
          this.opts.log?.debug(`retrying ${method} ${where(url)} after HTTP ${res.status} in ${Math.round(delay)} ms`);
          attempt++;
          await wait(delay);
          continue;
        }
      }
      return res;
    }
  }

  /** The one line a failed attempt becomes once no retry is left. */
  private failure(err: unknown, method: string, url: URL, attempts: number, budget: Budget, replayable: boolean): unknown {
    const proxy = this.proxyFor(url);
    const named = proxy && String((err as Error)?.message).includes(proxy.host);
    const what = `${method} ${where(url)}${proxy && !named ? ` via proxy ${proxy.host}` : ''}`;
    const tried = `(after ${attempts} attempt${attempts === 1 ? '' : 's'})`;
    if (budget.spent) {
      // The one limit the user can move, named where it ran out.
      const raise = `${tried.slice(0, -1)}; raise request-timeout to wait longer)`;
      return new NetworkError(`${what}: no response for ${seconds(budget.elapsedMs())} s ${raise}`, 'RELAY_BUDGET', {
        cause: err,
        retryable: false,
      });
    }
    // Refusals (a proxy's 407) and the body's own failures (a digest check) pass on as they are.
    if (err instanceof RelayError && !(err instanceof NetworkError)) return err;
    const code = (err as { code?: string }).code;
    if (!(err instanceof NetworkError) && code === undefined && (err as Error).message !== 'socket hang up') return err;
    return new NetworkError(`${what}: ${errText(err)} ${tried}`, code, { cause: err, retryable: !replayable && isRetryableError(err) });
  }

  private proxyFor(url: URL): Proxy | undefined {
    const target = this.connectTarget(url);
    return proxyFor(this.proxies, url.protocol, target.hostname.replace(/^\[|\]$/g, ''), Number(target.port || defaultPort(url)));
  }

  private connectTarget(url: URL): URL {
    const target = this.opts.connectTo?.[url.host] ?? this.opts.connectTo?.[url.hostname];
    return target ? new URL(`http://${target}`) : url;
  }

  private assertAllowed(url: URL): void {
    if (url.protocol === 'https:') return;
    if (url.protocol !== 'http:') throw new InputError(`${url.href}: only http and https URLs are supported`);
    if (this.schemeFor(url.host) !== 'http') {
      throw new InputError(`refusing plain HTTP to ${url.host}: list it in 'insecure-registries' to allow it`);
    }
  }

  /**
   * One attempt: resolves with the response once its headers are in. Until
   * then the connect timeout, the idle timeout, the budget and the signal
   * can each end it; afterwards the idle timeout and the signal end the body.
   */
  private send(
    url: URL,
    method: string,
    headers: Record<string, string>,
    body: Readable | Uint8Array | undefined,
    signal: AbortSignal | undefined,
    budget: Budget,
  ): Promise<HttpResponse> {
    const isHttps = url.protocol === 'https:';
    const connect = this.connectTarget(url);
    const hdrs: Record<string, string> = { ...headers, host: url.host };
    if (body instanceof Uint8Array) hdrs['content-length'] = String(body.length);
    else if (!body && method !== 'GET' && method !== 'HEAD' && hdrs['content-length'] === undefined) hdrs['content-length'] = '0';

    return new Promise<HttpResponse>((resolve, reject) => {
      const options: https.RequestOptions = {
        method,
        hostname: connect.hostname.replace(/^\[|\]$/g, ''),
        port: connect.port || defaultPort(url),
        path: url.pathname + url.search,
        headers: hdrs,
        agent: isHttps ? this.agents.https : this.agents.http,
        servername: isHttps ? url.hostname : undefined,
        timeout: this.idleMs,
      };
      const r = process.getBuiltinModule(isHttps ? 'node:https' : 'node:http').request(options);
      let response: IncomingMessage | undefined;
      let settled = false;
      const connectTimer = setTimeout(
        () => stop(Object.assign(new Error(`could not connect within ${seconds(this.connectMs)} s`), { code: 'RELAY_CONNECT_TIMEOUT' })),
        this.connectMs,
      );
      const onBudget = (): void => stop(Object.assign(new Error('request budget spent'), { code: 'RELAY_BUDGET' }));
      const onAbort = (): void => {
        const err = new CancelledError(`${cancelledBy(signal!).message} (${method} ${where(url)} aborted)`);
        if (response) {
          response.destroy(err);
          r.destroy();
        } else stop(err);
      };
      const headersIn = (): void => {
        settled = true;
        clearTimeout(connectTimer);
        budget.signal.removeEventListener('abort', onBudget);
      };
      function stop(err: Error): void {
        r.destroy(err);
        if (settled) return;
        headersIn();
        reject(err);
      }
      budget.signal.addEventListener('abort', onBudget, { once: true });
      if (signal) {
        signal.addEventListener('abort', onAbort, { once: true });
        r.once('close', () => signal.removeEventListener('abort', onAbort));
      }
      r.once('socket', (socket) => {
        if (socket.connecting) socket.once('connect', () => clearTimeout(connectTimer));
        else clearTimeout(connectTimer);
      });
      r.on('timeout', () => {
        if (!response) return stop(Object.assign(new Error(`no response for ${seconds(this.idleMs)} s`), { code: 'RELAY_IDLE_TIMEOUT' }));
        // The caller is reading the body: it hears of the stall from the stream, and may try again.
        response.destroy(
          new NetworkError(`${method} ${where(url)}: body stalled, no data for ${seconds(this.idleMs)} s`, 'RELAY_IDLE_TIMEOUT'),
        );
        r.destroy();
      });
      r.on('error', (err) => {
        if (settled) return;
        headersIn();
        reject(err);
      });
      r.on('response', (msg: IncomingMessage) => {
        headersIn();
        response = msg;
        // An answer can come before the upload ends (an early 4xx): stop sending.
        if (body instanceof Readable && !body.readableEnded) {
          body.unpipe(r);
          msg.on('end', () => {
            if (!r.writableFinished) r.destroy();
          });
        }
        resolve(new HttpResponse(msg.statusCode ?? 0, msg.headers, url, msg));
      });
      if (signal?.aborted) return onAbort();
      if (budget.spent) return onBudget();
      if (body instanceof Readable) {
        // Also catches a body that failed before we got here (its source dropped while we waited).
        finished(body, { writable: false }, (err) => {
          if (!err) return;
          stop(err);
        });
        body.pipe(r); // its time at the slowest rate accepted is in the budget already
      } else {
        r.end(body);
      }
    });
  }
}

/** A signal that fires when either does (with its reason), and the way to stop listening. */
function either(a: AbortSignal | undefined, b: AbortSignal | undefined): { signal: AbortSignal | undefined; dispose: () => void } {
  if (!a || !b) return { signal: a ?? b, dispose: () => undefined };
  const ac = new AbortController();
  const onA = (): void => ac.abort(a.reason);
  const onB = (): void => ac.abort(b.reason);
  if (a.aborted) onA();
  else if (b.aborted) onB();
  a.addEventListener('abort', onA, { once: true });
  b.addEventListener('abort', onB, { once: true });
  return {
    signal: ac.signal,
    dispose: () => {
      a.removeEventListener('abort', onA);
      b.removeEventListener('abort', onB);
    },
  };
}

/** Bytes the request sends, when known before sending (bytes, or a declared Content-Length). */
function uploadBytes(req: HttpRequest): number {
  if (req.body instanceof Uint8Array) return req.body.length;
  if (typeof req.body === 'string') return Buffer.byteLength(req.body);
  const declared = Object.entries(req.headers ?? {}).find(([k]) => k.toLowerCase() === 'content-length')?.[1];
  const n = Number(declared);
  return declared !== undefined && Number.isFinite(n) && n > 0 ? n : 0;
}

/** host+path for messages: never the query string (it may carry signed credentials). */
function where(url: URL): string {
  return `${url.host}${url.pathname}`;
}

function defaultPort(url: URL): number {
  return url.protocol === 'https:' ? 443 : 80;
}

async function materialise(body: RequestBody | undefined): Promise<Readable | Uint8Array | undefined> {
  if (body === undefined) return undefined;
  if (typeof body === 'string') return Buffer.from(body);
  if (typeof body === 'function') return body();
  return body;
}

function errText(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const showCode = e.code && !e.code.startsWith('RELAY_') && !(e.message ?? '').includes(e.code);
  return showCode ? `${e.message} (${e.code})` : (e.message ?? String(err));
}
