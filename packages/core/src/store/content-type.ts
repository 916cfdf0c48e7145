/**
 * Content-Type and Cache-Control by key, one place for both the S3 puts and
 * the loopback server, so a file store serves exactly what S3 would.
 */
export function contentTypeFor(key: string): string {
  const base = key.split('/').pop() ?? key;
  if (key.endsWith('.json') || base === 'versions' || /\/download\/[^/]+\/[^/]+$/.test(key)) return 'application/json';
  if (base.endsWith('.zip')) return 'application/zip';
  if (base.endsWith('_SHA256SUMS')) return 'text/plain; charset=utf-8';
  if (base.endsWith('.sig')) return 'application/pgp-signature';
  return 'application/octet-stream';
}
