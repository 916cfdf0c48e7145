import http from 'node:http';
import https from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Readable, finished } from 'node:stream';
import { InputError, RelayError, RemoteError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { HostLimiter } from './limiter.js';
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

export interface HttpRequest {
  method?: string;
  url: string | URL;
  headers?: Record<string, string | undefined>;
  body?: RequestBody;
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
  /** A connection silent this long is dropped (and retried). */
  idleTimeoutMs?: number;
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

/** The connection failed (reset, refused, stalled) after all attempts. */
export class NetworkError extends RemoteError {
  override name = 'NetworkError';
  constructor(
    message: string,
    readonly code: string | undefined,
    options?: ErrorOptions,
  ) {
    super(message, { ...options, retryable: true });
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
 * requests per host, plain HTTP only where allowed.
 */
export class HttpClient {
  readonly policy: RetryPolicy;
  private readonly limiter: HostLimiter;
  private readonly insecure: readonly string[];
  private readonly idleMs: number;
  private readonly agents = {
    http: new http.Agent({ keepAlive: true, maxSockets: 64 }),
    https: new https.Agent({ keepAlive: true, maxSockets: 64 }),
  };

  constructor(private readonly opts: HttpClientOptions = {}) {
    this.policy = { ...DEFAULT_RETRY, ...opts.retry };
    this.limiter = new HostLimiter(opts.perHost ?? 6);
    this.insecure = opts.insecureHosts ?? [];
    this.idleMs = opts.idleTimeoutMs ?? 60_000;
  }

  schemeFor(host: string): 'http' | 'https' {
    return schemeFor(host, this.insecure);
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    let url = new URL(req.url);
    let method = (req.method ?? 'GET').toUpperCase();
    const headers: Record<string, string> = { 'user-agent': 'relay' };
    for (const [k, v] of Object.entries(req.headers ?? {})) if (v !== undefined) headers[k.toLowerCase()] = v;
    let body = req.body;
    const replayable = isReplayable(body);
    let redirects = 0;

    for (let attempt = 1; ;) {
      this.assertAllowed(url);
      let res: HttpResponse;
      const release = await this.limiter.for(url.host).acquire(req.signal);
      try {
        res = await this.send(url, method, headers, await materialise(body), req.signal);
      } catch (err) {
        release();
        if (replayable && attempt < this.policy.attempts && isRetryableError(err) && !req.signal?.aborted) {
          const delay = backoffDelay(this.policy, attempt);
          this.opts.log?.debug(`retrying ${method} ${url.host}${url.pathname} after ${errText(err)} in ${Math.round(delay)} ms`);
          attempt++;
          await sleep(delay, req.signal);
          continue;
        }
        if ((err as Error)?.name === 'AbortError' || req.signal?.aborted) throw err;
        const code = (err as { code?: string }).code;
        // The body's own failure (a digest check) is not the connection's: pass it on as it is.
        if (code === undefined && (err as Error).message !== 'socket hang up') throw err;
        throw new NetworkError(
          `${method} ${url.host}${url.pathname}: ${errText(err)}${attempt > 1 ? ` (after ${attempt} attempts)` : ''}`,
          code,
          { cause: err },
        );
      }
      release(); // the slot bounds requests awaiting an answer; body streams are bounded by the caller

      if (REDIRECTS.has(res.status) && req.followRedirects !== false && res.header('location')) {
        if (!replayable && method !== 'GET' && method !== 'HEAD') return res;
        await res.discard();
        if (++redirects > MAX_REDIRECTS) throw new InputError(`${url.host}${url.pathname}: more than ${MAX_REDIRECTS} redirects`);
        const next = new URL(res.header('location') as string, url);
        // S3 and CDNs reject (or would leak) a registry's credentials.
        if (next.host !== url.host) delete headers['authorization'];
        if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
          method = method === 'HEAD' ? 'HEAD' : 'GET';
          body = undefined;
          delete headers['content-length'];
          delete headers['content-type'];
        }
        url = next;
        continue;
      }

      if (isRetryableStatus(res.status) && replayable && attempt < this.policy.attempts && !req.signal?.aborted) {
        const retryAfter = parseRetryAfter(res.header('retry-after'));
        if (retryAfter === undefined || retryAfter <= MAX_RETRY_AFTER_MS) {
          await res.discard();
          const delay = backoffDelay(this.policy, attempt, retryAfter);
          this.opts.log?.debug(`retrying ${method} ${url.host}${url.pathname} after HTTP ${res.status} in ${Math.round(delay)} ms`);
          attempt++;
          await sleep(delay, req.signal);
          continue;
        }
      }
      return res;
    }
  }

  private assertAllowed(url: URL): void {
    if (url.protocol === 'https:') return;
    if (url.protocol !== 'http:') throw new InputError(`${url.href}: only http and https URLs are supported`);
    if (this.schemeFor(url.host) !== 'http') {
      throw new InputError(`refusing plain HTTP to ${url.host}: list it in 'insecure-registries' to allow it`);
    }
  }

  private send(
    url: URL,
    method: string,
    headers: Record<string, string>,
    body: Readable | Uint8Array | undefined,
    signal?: AbortSignal,
  ): Promise<HttpResponse> {
    const isHttps = url.protocol === 'https:';
    const target = this.opts.connectTo?.[url.host] ?? this.opts.connectTo?.[url.hostname];
    const connect = target ? new URL(`http://${target}`) : url;
    const hdrs: Record<string, string> = { ...headers, host: url.host };
    if (body instanceof Uint8Array) hdrs['content-length'] = String(body.length);
    else if (!body && method !== 'GET' && method !== 'HEAD' && hdrs['content-length'] === undefined) hdrs['content-length'] = '0';

    return new Promise<HttpResponse>((resolve, reject) => {
      const options: https.RequestOptions = {
        method,
        hostname: connect.hostname.replace(/^\[|\]$/g, ''),
        port: connect.port || (isHttps ? 443 : 80),
        path: url.pathname + url.search,
        headers: hdrs,
        agent: isHttps ? this.agents.https : this.agents.http,
        servername: isHttps ? url.hostname : undefined,
        signal,
        timeout: this.idleMs,
      };
      const r = (isHttps ? https : http).request(options);
      let settled = false;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        reject(err);
      };
      r.on('timeout', () => r.destroy(Object.assign(new Error(`no data for ${this.idleMs} ms`), { code: 'RELAY_IDLE_TIMEOUT' })));
      r.on('error', fail);
      r.on('response', (msg: IncomingMessage) => {
        settled = true;
        // An answer can come before the upload ends (an early 4xx): stop sending.
        if (body instanceof Readable && !body.readableEnded) {
          body.unpipe(r);
          msg.on('end', () => {
            if (!r.writableFinished) r.destroy();
          });
        }
        resolve(new HttpResponse(msg.statusCode ?? 0, msg.headers, url, msg));
      });
      if (body instanceof Readable) {
        // Also catches a body that failed before we got here (its source dropped while we waited).
        finished(body, { writable: false }, (err) => {
          if (!err) return;
          r.destroy(err);
          fail(err);
        });
        body.pipe(r);
      } else {
        r.end(body);
      }
    });
  }
}

async function materialise(body: RequestBody | undefined): Promise<Readable | Uint8Array | undefined> {
  if (body === undefined) return undefined;
  if (typeof body === 'string') return Buffer.from(body);
  if (typeof body === 'function') return body();
  return body;
}

function errText(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e.code && !(e.message ?? '').includes(e.code) ? `${e.message} (${e.code})` : (e.message ?? String(err));
}
