import { createHash } from 'node:crypto';

/** Lower-case hex sha256 of bytes held in memory (documents, manifests; never whole blobs). */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}
