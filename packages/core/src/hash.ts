import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/** Lower-case hex sha256 of bytes held in memory (documents, manifests; never whole blobs). */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A pass-through that takes the sha256 (hex) and the size of what flows through it. */
export class HashingStream extends Transform {
  private readonly hash = createHash('sha256');
  size = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }

  /** Once the stream has ended. */
  sha256(): string {
    return this.hash.digest('hex');
  }
}
