/**
 * Where everything lives in the registry tree, relative to the store root.
 * The tree is served as-is by a CDN, so paths are exactly the protocol's.
 */
export interface Coordinates {
  namespace: string;
  name: string;
  version: string;
}

export const DISCOVERY_KEY = '.well-known/terraform.json';

export const zipName = (name: string, version: string, os: string, arch: string): string =>
  `terraform-provider-${name}_${version}_${os}_${arch}.zip`;
export const binaryName = (name: string, version: string, os: string): string =>
  `terraform-provider-${name}_v${version}${os === 'windows' ? '.exe' : ''}`;
export const sumsName = (c: Coordinates): string => `terraform-provider-${c.name}_${c.version}_SHA256SUMS`;
export const sigName = (c: Coordinates): string => `${sumsName(c)}.sig`;
export const manifestName = (c: Coordinates): string => `terraform-provider-${c.name}_${c.version}_manifest.json`;
/** The build record (terraform/record.ts), next to the files it describes. */
export const RECORD_NAME = 'relay-build.json';

export const versionsKey = (c: Omit<Coordinates, 'version'>): string => `registry/${c.namespace}/${c.name}/versions`;
export const downloadDir = (c: Coordinates): string => `registry/${c.namespace}/${c.name}/${c.version}/download/`;
export const downloadKey = (c: Coordinates, os: string, arch: string): string => `${downloadDir(c)}${os}/${arch}`;
export const storeDir = (c: Coordinates): string => `store/${c.namespace}/${c.name}/${c.version}/`;
export const mirrorIndexKey = (host: string, c: Omit<Coordinates, 'version'>): string =>
  `mirror/${host}/${c.namespace}/${c.name}/index.json`;
export const mirrorVersionKey = (host: string, c: Coordinates): string => `mirror/${host}/${c.namespace}/${c.name}/${c.version}.json`;

/**
 * A URL relative to the document at `fromKey` that reaches `toKey`. Relative
 * links survive a bucket prefix and a change of host or CDN.
 */
export function relativeUrl(fromKey: string, toKey: string): string {
  const depth = fromKey.split('/').length - 1;
  return '../'.repeat(depth) + toKey;
}

/** Released objects never change; indexes do. */
export const CACHE_IMMUTABLE = 'public, max-age=31536000, immutable';
export const CACHE_MUTABLE = 'public, max-age=60, must-revalidate';

/**
 * The Content-Type each key is served with, the same from S3 (set on put) and
 * from a file store behind any static server: Terraform requires
 * application/json for discovery, and download documents and `versions` have
 * no extension to go by.
 */
export function contentTypeFor(key: string): string {
  const base = key.split('/').pop() ?? key;
  if (key.endsWith('.json') || base === 'versions' || /\/download\/[^/]+\/[^/]+$/.test(key)) return 'application/json';
  if (base.endsWith('.zip')) return 'application/zip';
  if (base.endsWith('_SHA256SUMS')) return 'text/plain; charset=utf-8';
  if (base.endsWith('.sig')) return 'application/pgp-signature';
  return 'application/octet-stream';
}

/** The URL with a trailing slash, so relative references resolve beneath it rather than beside it. */
export const withSlash = (u: URL): URL => new URL(u.href.endsWith('/') ? u.href : u.href + '/');
