import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { AuthError, InputError } from '../errors.js';
import { isNetworkError, isRetryableStatus, withRetry } from '../retry.js';
import type { Body, ObjectInfo, PutOptions, Store } from './store.js';
import { PreconditionFailed } from './store.js';

interface S3Error {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}
const status = (e: unknown): number | undefined => (e as S3Error)?.$metadata?.httpStatusCode;
const unquote = (etag: string | undefined): string => (etag ?? '').replace(/^(W\/)?"|"$/g, '');

function retryable(err: unknown): boolean {
  return isNetworkError(err) || isRetryableStatus(status(err)) || (err as S3Error)?.name === 'SlowDown';
}

export interface S3StoreOptions {
  /** S3-compatible endpoint (Ceph RGW, MinIO); path-style addressing is used with it. */
  endpoint?: string;
  region?: string;
}

/**
 * S3 (or S3-compatible) store. Every put is a single PutObject (up to 5 GiB):
 * Ceph RGW ignores If-None-Match on CompleteMultipartUpload, so multipart
 * would silently break write-once.
 */
export class S3Store implements Store {
  readonly url: string;
  private readonly client: S3Client;
  constructor(
    readonly bucket: string,
    readonly prefix: string,
    opts: S3StoreOptions = {},
  ) {
    this.url = prefix ? `s3://${bucket}/${prefix}` : `s3://${bucket}`;
    const cfg: S3ClientConfig = {
      region: opts.region ?? 'us-east-1',
      // A bucket in another region answers 301; follow it rather than fail.
      followRegionRedirects: true,
      // The SDK's default trailing checksums turn stream bodies into aws-chunked
      // framing that RGW refuses (411); S3 validates Content-MD5-free puts anyway.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // Retries are ours: a streamed body must be reopened for each attempt.
      maxAttempts: 1,
      // A stalled server must fail the attempt (and be retried), not hang the release.
      requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 },
    };
    if (opts.endpoint) Object.assign(cfg, { endpoint: opts.endpoint, forcePathStyle: true });
    this.client = new S3Client(cfg);
  }

  private k(key: string): string {
    return this.prefix ? `${this.prefix.replace(/\/+$/, '')}/${key}` : key;
  }

  private call<T>(what: string, key: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(fn, retryable).catch((err: unknown) => {
      const s = status(err);
      if (s === 403 || s === 401)
        throw new AuthError(`store ${this.url}: access denied to ${what} '${key}' (check the AWS credentials and bucket policy)`);
      if ((err as S3Error)?.name === 'NoSuchBucket') throw new InputError(`store ${this.url}: bucket '${this.bucket}' does not exist`);
      throw err;
    });
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const r = await this.call('read', key, () => this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.k(key) })));
      return { key, size: r.ContentLength ?? 0, etag: unquote(r.ETag), sha256: r.Metadata?.sha256, contentType: r.ContentType };
    } catch (err) {
      if (status(err) === 404) return undefined;
      throw err;
    }
  }

  async get(key: string): Promise<{ body: Buffer; info: ObjectInfo } | undefined> {
    try {
      return await this.call('read', key, async () => {
        const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.k(key) }));
        const body = Buffer.from(await r.Body!.transformToByteArray());
        return { body, info: { key, size: body.length, etag: unquote(r.ETag), sha256: r.Metadata?.sha256, contentType: r.ContentType } };
      });
    } catch (err) {
      if (status(err) === 404 || (err as S3Error)?.name === 'NoSuchKey') return undefined;
      throw err;
    }
  }

  async getStream(key: string): Promise<Readable | undefined> {
    try {
      const r = await this.call('read', key, () => this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.k(key) })));
      return r.Body as Readable;
    } catch (err) {
      if (status(err) === 404 || (err as S3Error)?.name === 'NoSuchKey') return undefined;
      throw err;
    }
  }

  async put(key: string, body: Body, opts: PutOptions): Promise<{ etag: string }> {
    try {
      const r = await this.call('write', key, () =>
        this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: this.k(key),
            Body: Buffer.isBuffer(body) ? body : createReadStream(body.path),
            ContentLength: Buffer.isBuffer(body) ? body.length : body.size,
            ContentType: opts.contentType,
            CacheControl: opts.cacheControl,
            Metadata: { sha256: opts.sha256 },
            IfNoneMatch: opts.ifNoneMatch,
            // Ceph RGW compares If-Match against the unquoted ETag; AWS ignores quotes.
            IfMatch: opts.ifMatch === undefined ? undefined : unquote(opts.ifMatch),
          }),
        ),
      );
      return { etag: unquote(r.ETag) };
    } catch (err) {
      const s = status(err);
      // 412: lost the condition; 409: a concurrent conditional write, retry from a
      // fresh read; 404 on If-Match: the object vanished (AWS; RGW says 412).
      if (s === 412 || s === 409 || (s === 404 && opts.ifMatch !== undefined)) {
        throw new PreconditionFailed(key, s === 412 ? 'precondition failed' : `conditional write conflict (${s})`);
      }
      throw err;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    const strip = this.prefix ? this.prefix.replace(/\/+$/, '').length + 1 : 0;
    do {
      const r = await this.call('list', prefix, () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.k(prefix), ContinuationToken: token })),
      );
      for (const o of r.Contents ?? []) if (o.Key) out.push(o.Key.slice(strip));
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out.sort();
  }

  async delete(key: string): Promise<void> {
    await this.call('delete', key, () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.k(key) })));
  }
}
