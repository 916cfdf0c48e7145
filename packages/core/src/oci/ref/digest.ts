import { sha256Hex } from '../../hash.js';
import { createHash } from 'node:crypto';
import { Readable, Transform, pipeline } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import { finished } from 'node:stream/promises';
import { IntegrityError } from '../../errors.js';

const SHA256 = /^sha256:[a-f0-9]{64}$/;
export function isDigest(s: string): boolean {
  return SHA256.test(s);
}

export function sha256Digest(bytes: Uint8Array): string {
  return 'sha256:' + sha256Hex(bytes);
}

/** The hex part, for `sha256-<hex>` tags and layout paths. */
export function digestHex(digest: string): string {
  return digest.slice('sha256:'.length);
}

/** Throws IntegrityError when bytes do not hash to `expected`. */
export function verifyBytes(bytes: Uint8Array, expected: string, what: string): void {
  const got = sha256Digest(bytes);
  if (got !== expected) throw digestMismatch(what, expected, got);
}

export function digestMismatch(what: string, expected: string, got: string): IntegrityError {
  // A mismatch on the wire may be transient (a flipped byte): callers may retry it.
  return new IntegrityError(`${what}: digest mismatch, expected ${expected}, got ${got}`, { retryable: true });
}

/**
 * Passes bytes through while hashing and counting them; fails the stream at
 * its end when digest or size differ, so a consumer never completes an upload
 * of wrong bytes.
 */
export class VerifyingStream extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;
  constructor(
    readonly expected: string,
    readonly size: number,
    private readonly what: string,
    private readonly onBytes?: (n: number) => void,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onBytes?.(chunk.length);
    if (this.bytes > this.size)
      return cb(new IntegrityError(`${this.what}: more than the ${this.size} bytes its descriptor states`, { retryable: true }));
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    if (this.bytes !== this.size)
      return cb(new IntegrityError(`${this.what}: ${this.bytes} bytes, descriptor states ${this.size}`, { retryable: true }));
    const got = 'sha256:' + this.hash.digest('hex');
    cb(got === this.expected ? null : digestMismatch(this.what, this.expected, got));
  }
}

/**
 * `body` as a stream that fails at its end unless it held exactly `size`
 * bytes hashing to `digest`: itself when it already is one for them (the
 * copy's own, with its progress and source in messages), else wrapped.
 * Every store commits a blob only once such a body has ended cleanly.
 */
export function verifyingBody(body: Readable, digest: string, size: number, what: string): VerifyingStream {
  if (body instanceof VerifyingStream && body.expected === digest && body.size === size) return body;
  return pipeline(body, new VerifyingStream(digest, size, what), () => undefined);
}

/**
 * Resolves once `body` has ended cleanly (every byte read and checked),
 * rejects with its failure. An upload whose answer came before the body's
 * end (the server had Content-Length bytes while our check was still running)
 * had the stream unpiped: the rest is drained here so its verdict comes.
 */
export async function verdict(body: Readable, what: string): Promise<void> {
  if (body.errored) throw body.errored;
  if (body.readableEnded) return;
  // Bytes still waiting here never reached the server: whatever it acknowledged, it is not this blob.
  if (body.readableLength > 0) {
    body.destroy();
    throw new IntegrityError(`${what}: the upload was answered before the whole blob was sent`, { retryable: true });
  }
  body.resume();
  await finished(body, { writable: false });
  if (body.errored) throw body.errored;
}
