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
export const REGISTRY_ROOT = 'registry/';

export const zipName = (name: string, version: string, os: string, arch: string): string =>
  `terraform-provider-${name}_${version}_${os}_${arch}.zip`;
export const binaryName = (name: string, version: string, os: string): string =>
  `terraform-provider-${name}_v${version}${os === 'windows' ? '.exe' : ''}`;
export const sumsName = (c: Coordinates): string => `terraform-provider-${c.name}_${c.version}_SHA256SUMS`;
export const sigName = (c: Coordinates): string => `${sumsName(c)}.sig`;
export const manifestName = (c: Coordinates): string => `terraform-provider-${c.name}_${c.version}_manifest.json`;

export const versionsKey = (c: Omit<Coordinates, 'version'>): string => `registry/${c.namespace}/${c.name}/versions`;
export const downloadKey = (c: Coordinates, os: string, arch: string): string =>
  `registry/${c.namespace}/${c.name}/${c.version}/download/${os}/${arch}`;
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
