import type { Readable } from 'node:stream';

/** What the store knows about an object without reading it. */
export interface ObjectInfo {
  key: string;
  size: number;
  /** Opaque version token for ifMatch (S3 ETag without quotes; sha256 for fs). */
  etag: string;
  /** sha256 hex of the content when the store knows it (Relay sets it on every put). */
  sha256?: string;
  contentType?: string;
}

export interface PutOptions {
  contentType: string;
  cacheControl?: string;
  /** Create only: fail with PreconditionFailed if the key exists. */
  ifNoneMatch?: '*';
  /** Replace only the version with this etag: fail with PreconditionFailed otherwise. */
  ifMatch?: string;
  /** sha256 hex of the body, recorded so later runs can compare without reading. */
  sha256: string;
}

/** The body of a put: bytes, or a file path streamed from disk. */
export type Body = Buffer | { path: string; size: number };

/**
 * Object storage with conditional writes. The registry is built on exactly
 * these guarantees: write-once store objects (ifNoneMatch) and a
 * compare-and-swap `versions` index (ifMatch).
 */
export interface Store {
  /** s3://bucket/prefix or file:///dir, for messages. */
  readonly url: string;
  head(key: string): Promise<ObjectInfo | undefined>;
  get(key: string): Promise<{ body: Buffer; info: ObjectInfo } | undefined>;
  getStream(key: string): Promise<Readable | undefined>;
  put(key: string, body: Body, opts: PutOptions): Promise<{ etag: string }>;
  /** Keys under a prefix (relative to the store root), sorted. */
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
  /**
   * Present only where what a static server shows can fall behind what the
   * store holds (a directory: the plain file behind the key's newest
   * generation, when a writer was killed between the two). An S3 object is
   * served as it is stored, so S3 has none.
   */
  readonly served?: ServedCopies;
}

/** The copies a static server shows, where they can lag the store's content. Keys are relative to the store root. */
export interface ServedCopies {
  /** What a static server shows for the key, or undefined where it shows nothing. */
  open(key: string): Promise<{ size: number; body: Readable } | undefined>;
  /** The served copy, when it differs from the key's content, and where that content is. */
  behind(key: string): Promise<{ served: string; newest: string } | undefined>;
  /** Copies the key's content to its served copy (what every writer does after its own write). */
  catchUp(key: string): Promise<void>;
}

/** A conditional write lost: the key exists (ifNoneMatch) or changed (ifMatch). */
export class PreconditionFailed extends Error {
  override name = 'PreconditionFailed';
  constructor(
    readonly key: string,
    reason: string,
  ) {
    super(`${key}: ${reason}`);
  }
}
