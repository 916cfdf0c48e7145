import { createHash } from 'node:crypto';

/**
 * The two package hashes Terraform records in .terraform.lock.hcl, each with
 * its scheme prefix: `zh:` is the zip's sha256 (what SHA256SUMS lists), `h1:`
 * the dirhash of its content (what `terraform providers lock` computes).
 */

/** `zh:<sha256 hex of the zip>`. */
export const zhHash = (zipSha256: string): string => `zh:${zipSha256}`;

/** dirhash Hash1 over the single file a flat provider zip holds. */
export function h1ForSingleFile(contentSha256: string, name: string): string {
  return 'h1:' + createHash('sha256').update(`${contentSha256}  ${name}\n`).digest('base64');
}
