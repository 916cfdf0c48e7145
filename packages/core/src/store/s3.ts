import { cjsExports } from '../concurrency.js';
import { createReadStream } from 'node:fs';
import { Transform, pipeline, type Readable } from 'node:stream';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';

type S3Module = typeof import('@aws-sdk/client-s3');
import { awsClientConfig, credentialsFromEnv } from '../aws/client-config.js';
import { DEFAULTS } from '../defaults.js';
import { AuthError, InputError, RelayError, RemoteError, cancelledBy } from '../errors.js';
import { Budget, seconds } from '../http/budget.js';
import type { Env } from '../http/proxy.js';
import { DEFAULT_RETRY, isNetworkError, isRetryableStatus, withRetry } from '../retry.js';
import type { RetryPolicy } from '../retry.js';
import type { Body, ObjectInfo, PutOptions, Store } from './store.js';
import { PreconditionFailed } from './store.js';

interface S3Error {
  name?: string;
  Code?: string;
  message?: string;
  code?: string;
  errors?: unknown[];
  $metadata?: { httpStatusCode?: number };
}
const status = (e: unknown): number | undefined => (e as S3Error)?.$metadata?.httpStatusCode;
const unquote = (etag: string | undefined): string => (etag ?? '').replace(/^(W\/)?"|"$/g, '');

/**
 * The SDK's error as thrown, or node's error read back out of the SDK's
 * "AWS SDK error wrapper for Error: connect ECONNREFUSED ..." (what it makes
 * of an error from another realm, as under a test runner's VM), code included.
 */
function unwrap(err: unknown): S3Error {
  const e = err as S3Error;
  const m = /^AWS SDK error wrapper for (?:\w*Error: )?(.*)$/s.exec(e?.message ?? '');
  if (!m) return e;
  const message = m[1] as string;
  return { name: 'Error', message, code: /\b(E[A-Z]{3,}|ERR_[A-Z_]+)\b/.exec(message)?.[1], $metadata: e.$metadata };
}

function retryable(err: unknown): boolean {
  return isNetworkError(unwrap(err)) || isRetryableStatus(status(err)) || (err as S3Error)?.name === 'SlowDown';
}

const AUTH_ERRORS = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken']);

/** The operation as the failure message names it, and the verb of an access-denied message. */
type Op = 'HEAD' | 'GET' | 'PUT' | 'LIST' | 'DELETE';
const VERB: Record<Op, string> = { HEAD: 'read', GET: 'read', PUT: 'write', LIST: 'list', DELETE: 'delete' };

export interface S3StoreOptions {
  /** S3-compatible endpoint (Ceph RGW, MinIO); path-style addressing is used with it. */
  endpoint?: string;
  region?: string;
  /** Context.env: HTTPS_PROXY, HTTP_PROXY and NO_PROXY are honoured. */
  env?: Env;
  /** Context.signal: a call in flight ends at once with CancelledError. */
  signal?: AbortSignal;
  /** Overrides (tests) of DEFAULTS.connectTimeoutMs, idleTimeoutMs and retry; budgetMs is the request-timeout input's. */
  connectTimeoutMs?: number;
  idleTimeoutMs?: number;
  budgetMs?: number;
  retry?: Partial<RetryPolicy>;
}

/**
 * S3 (or S3-compatible) store. Every put is a single PutObject (up to 5 GiB):
 * Ceph RGW ignores If-None-Match on CompleteMultipartUpload, so multipart
 * would silently break write-once.
 */
export class S3Store implements Store {
  readonly url: string;
  private readonly config: S3ClientConfig;
  private client?: S3Client;
  private readonly signal: AbortSignal | undefined;
  private readonly policy: RetryPolicy;
  private readonly connectMs: number;
  private readonly idleMs: number;
  private readonly budgetMs: number;

  constructor(
    readonly bucket: string,
    readonly prefix: string,
    opts: S3StoreOptions = {},
  ) {
    this.url = prefix ? `s3://${bucket}/${prefix}` : `s3://${bucket}`;
    this.signal = opts.signal;
    this.policy = { ...DEFAULT_RETRY, ...opts.retry };
    this.connectMs = opts.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs;
    this.idleMs = opts.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs;
    this.budgetMs = opts.budgetMs ?? DEFAULTS.requestBudgetMs;
    const cfg: S3ClientConfig = {
      // Timeouts and proxy; no limit per attempt, as call() bounds each operation with a budget that an upload still moving extends.
      ...awsClientConfig({ env: opts.env, connectTimeoutMs: this.connectMs, idleTimeoutMs: this.idleMs, attemptLimitMs: 0 }),
      region: opts.region ?? 'us-east-1',
      // A bucket in another region answers 301; follow it rather than fail.
      followRegionRedirects: true,
      // The SDK's default trailing checksums turn stream bodies into aws-chunked
      // framing that RGW refuses (411); S3 validates Content-MD5-free puts anyway.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // Retries are ours: a streamed body must be reopened for each attempt.
      maxAttempts: 1,
    };
    const credentials = credentialsFromEnv(opts.env);
    if (credentials) cfg.credentials = credentials;
    if (opts.endpoint) Object.assign(cfg, { endpoint: opts.endpoint, forcePathStyle: true });
    this.config = cfg;
  }

  /** Runs fn with the client; the SDK (about 1 MB of JavaScript) loads on the first request, not when the CLI starts. */
  private async with<T>(fn: (client: S3Client, s3: S3Module) => Promise<T>): Promise<T> {
    const s3 = cjsExports(await import('@aws-sdk/client-s3'));
    this.client ??= new s3.S3Client(this.config);
    return fn(this.client, s3);
  }

  private k(key: string): string {
    return this.prefix ? `${this.prefix.replace(/\/+$/, '')}/${key}` : key;
  }

  /**
   * One operation: attempts with backoff, all inside one budget, ended at
   * once by the run's signal. `answer` turns an expected refusal (a 404, a
   * lost condition) into a result or an error of its own; any other failure
   * becomes one line naming the store, the operation and the key.
   */
  private async call<T>(
    op: Op,
    key: string,
    fn: (abortSignal: AbortSignal, budget: Budget) => Promise<T>,
    answer?: (err: unknown) => { value: T } | undefined,
  ): Promise<T> {
    const budget = new Budget(this.budgetMs, this.idleMs);
    const ac = new AbortController();
    const abort = (): void => ac.abort();
    this.signal?.addEventListener('abort', abort, { once: true });
    budget.signal.addEventListener('abort', abort, { once: true });
    let attempts = 0;
    budget.run();
    try {
      return await withRetry(
        () => {
          attempts++;
          return fn(ac.signal, budget);
        },
        (err) => !budget.spent && retryable(err),
        this.policy,
        undefined,
        ac.signal,
      );
    } catch (err) {
      if (this.signal?.aborted) throw cancelledBy(this.signal);
      const expected = budget.spent || (err as S3Error)?.name === 'NoSuchBucket' ? undefined : answer?.(err);
      if (expected) return expected.value;
      throw this.failure(op, key, err, attempts, budget);
    } finally {
      budget.dispose();
      this.signal?.removeEventListener('abort', abort);
    }
  }

  private failure(op: Op, key: string, err: unknown, attempts: number, budget: Budget): RelayError {
    const tried = `store ${this.url}: ${op} ${key} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}`;
    if (budget.spent)
      return new RemoteError(`${tried}: no response for ${seconds(budget.elapsedMs())} s (raise request-timeout to wait longer)`, {
        cause: err,
      });
    if (err instanceof RelayError) return err;
    const e = err as S3Error;
    const s = status(err);
    if (s === 401 || s === 403 || AUTH_ERRORS.has(e?.name ?? '')) {
      return new AuthError(`store ${this.url}: access denied to ${VERB[op]} '${key}' (check the AWS credentials and bucket policy)`);
    }
    if (e?.name === 'NoSuchBucket') return new InputError(`store ${this.url}: bucket '${this.bucket}' does not exist`);
    if (e?.name === 'CredentialsProviderError') return new AuthError(`store ${this.url}: no AWS credentials found (${firstLine(e)})`);
    return new RemoteError(`${tried}: ${this.cause(err)}`, { cause: err });
  }

  /** The SDK's failure in a few words. */
  private cause(err: unknown): string {
    const e = unwrap((err as S3Error)?.errors?.[0] ?? err); // happy eyeballs: an AggregateError of each address's failure
    const msg = firstLine(e);
    const s = status(err);
    if (e?.name === 'TimeoutError') {
      if (/establish a connection/.test(msg)) return `could not connect within ${seconds(this.connectMs)} s`;
      if (/inactivity/.test(msg)) return `no data for ${seconds(this.idleMs)} s`;
    }
    if (s !== undefined && s > 0) {
      const code = e?.Code ?? (e?.name && e.name !== 'Error' && e.name !== 'UnknownError' ? e.name : undefined);
      return `HTTP ${s}${code ? ` ${code}` : ''}${msg && msg !== code && msg !== 'UnknownError' ? `: ${msg}` : ''}`;
    }
    return e?.code && !msg.includes(e.code) ? `${msg} (${e.code})` : msg;
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    return this.call(
      'HEAD',
      key,
      async (abortSignal) => {
        const r = await this.with((c, s3) => c.send(new s3.HeadObjectCommand({ Bucket: this.bucket, Key: this.k(key) }), { abortSignal }));
        return { key, size: r.ContentLength ?? 0, etag: unquote(r.ETag), sha256: r.Metadata?.sha256, contentType: r.ContentType };
      },
      (err) => (status(err) === 404 ? { value: undefined } : undefined),
    );
  }

  async get(key: string): Promise<{ body: Buffer; info: ObjectInfo } | undefined> {
    return this.call(
      'GET',
      key,
      async (abortSignal) => {
        const r = await this.with((c, s3) => c.send(new s3.GetObjectCommand({ Bucket: this.bucket, Key: this.k(key) }), { abortSignal }));
        const body = Buffer.from(await r.Body!.transformToByteArray());
        return { body, info: { key, size: body.length, etag: unquote(r.ETag), sha256: r.Metadata?.sha256, contentType: r.ContentType } };
      },
      notFound,
    );
  }

  async getStream(key: string): Promise<Readable | undefined> {
    const t0 = Date.now();
    const out = await this.call(
      'GET',
      key,
      async (abortSignal) =>
        await this.with((c, s3) => c.send(new s3.GetObjectCommand({ Bucket: this.bucket, Key: this.k(key) }), { abortSignal })),
      notFound,
    );
    const body = out?.Body as Readable | undefined;
    if (!body) return undefined;
    // One deadline over headers and body, as HttpClient's: the budget plus the object's size at the slowest rate accepted.
    const limitMs = this.budgetMs + ((out!.ContentLength ?? 0) / DEFAULTS.minRateBytesPerSec) * 1000;
    const timer = setTimeout(
      () =>
        body.destroy(
          new RemoteError(
            `store ${this.url}: GET ${key}: not done within ${seconds(limitMs)} s (the body came too slowly; raise request-timeout to wait longer)`,
          ),
        ),
      Math.max(0, Math.min(limitMs - (Date.now() - t0), 2 ** 31 - 1)),
    );
    timer.unref();
    body.once('close', () => clearTimeout(timer));
    const signal = this.signal;
    if (signal) {
      const cancel = (): void => void body.destroy(cancelledBy(signal));
      signal.addEventListener('abort', cancel, { once: true });
      body.once('close', () => signal.removeEventListener('abort', cancel));
    }
    return body;
  }

  async put(key: string, body: Body, opts: PutOptions): Promise<{ etag: string }> {
    return this.call(
      'PUT',
      key,
      async (abortSignal, budget) => {
        // A file is reopened for each attempt, and its bytes moving keep the budget from cutting a slow upload.
        // 1 MiB reads: a tenth of the default's reads and chunks through the request for a zip of tens of MB.
        const file = Buffer.isBuffer(body) ? undefined : createReadStream(body.path, { highWaterMark: 1024 * 1024 });
        try {
          const r = await this.with((c, s3) =>
            c.send(
              new s3.PutObjectCommand({
                Bucket: this.bucket,
                Key: this.k(key),
                Body: file ? withProgress(file, budget) : (body as Buffer),
                ContentLength: Buffer.isBuffer(body) ? body.length : body.size,
                ContentType: opts.contentType,
                CacheControl: opts.cacheControl,
                Metadata: { sha256: opts.sha256 },
                IfNoneMatch: opts.ifNoneMatch,
                // Ceph RGW compares If-Match against the unquoted ETag; AWS ignores quotes.
                IfMatch: opts.ifMatch === undefined ? undefined : unquote(opts.ifMatch),
              }),
              { abortSignal },
            ),
          );
          return { etag: unquote(r.ETag) };
        } finally {
          file?.destroy();
        }
      },
      (err) => {
        const s = status(err);
        // 412: lost the condition; 409: a concurrent conditional write, retry from a
        // fresh read; 404 on If-Match: the object vanished (AWS; RGW says 412).
        if (s === 412 || s === 409 || (s === 404 && opts.ifMatch !== undefined)) {
          throw new PreconditionFailed(key, s === 412 ? 'precondition failed' : `conditional write conflict (${s})`);
        }
        return undefined;
      },
    );
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    const strip = this.prefix ? this.prefix.replace(/\/+$/, '').length + 1 : 0;
    do {
      const r = await this.call('LIST', prefix, (abortSignal) =>
        this.with((c, s3) =>
          c.send(new s3.ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.k(prefix), ContinuationToken: token }), {
            abortSignal,
          }),
        ),
      );
      for (const o of r.Contents ?? []) if (o.Key) out.push(o.Key.slice(strip));
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out.sort();
  }

  async delete(key: string): Promise<void> {
    await this.call('DELETE', key, (abortSignal) =>
      this.with((c, s3) => c.send(new s3.DeleteObjectCommand({ Bucket: this.bucket, Key: this.k(key) }), { abortSignal })).then(
        () => undefined,
      ),
    );
  }
}

const notFound = (err: unknown): { value: undefined } | undefined =>
  status(err) === 404 || (err as S3Error)?.name === 'NoSuchKey' ? { value: undefined } : undefined;

function firstLine(e: S3Error | undefined): string {
  return String(e?.message || e?.name || e).split('\n')[0] as string;
}

/** The file's bytes, telling the budget each time some move. */
function withProgress(file: Readable, budget: Budget): Readable {
  const counted = new Transform({
    transform(chunk, _enc, done) {
      budget.progress();
      done(null, chunk);
    },
  });
  pipeline(file, counted, () => undefined);
  return counted;
}
