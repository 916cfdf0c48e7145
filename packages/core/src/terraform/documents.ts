import { ConflictError, InputError } from '../errors.js';
import { tryParseJson } from '../json.js';
import type { SigningKey } from '../signing/key.js';
import * as L from './layout.js';
import { compareVersions, isVersion, platformKey, type Platform } from './names.js';
import type { ZipPackage } from './repack.js';

/**
 * Every document the registry and the network mirror serve: their types, the
 * renderers that build them from a release, and the strict readers for the
 * two indexes Relay updates in place.
 */

/** Stable JSON text: a re-run must produce byte-identical documents. */
export const json = (doc: unknown): Buffer => Buffer.from(JSON.stringify(doc, null, 2) + '\n');

export interface VersionEntry {
  version: string;
  protocols: string[];
  platforms: Platform[];
}
export interface VersionsDoc {
  versions: VersionEntry[];
  warnings?: string[];
}

/** The static network mirror's `index.json`: every version, each mapped to `{}`. */
export interface MirrorIndexDoc {
  versions: Record<string, object>;
}

/** The static network mirror's `<version>.json`: each platform's zip and its hashes. */
export interface MirrorVersionDoc {
  archives: Record<string, { url: string; hashes: string[] }>;
}

/** `.well-known/terraform.json`. */
export interface DiscoveryDoc {
  'providers.v1': string;
}

/** An index Relay would rewrite but cannot read is never overwritten: it may hold versions users depend on. */
function refuseToOverwrite(where: string, problem: string, advice = 'repair or remove it by hand'): never {
  throw new InputError(`${where} ${problem}; refusing to overwrite it (${advice})`);
}

/** Reads an existing `versions` document strictly (see refuseToOverwrite). */
export function parseVersionsDoc(where: string, bytes: Buffer): VersionsDoc {
  const doc = tryParseJson(bytes);
  if (doc === undefined) refuseToOverwrite(where, 'is not valid JSON');
  const d = doc as VersionsDoc | null;
  if (!d || typeof d !== 'object' || !Array.isArray(d.versions)) refuseToOverwrite(where, 'has no "versions" array');
  for (const v of d.versions as (Partial<VersionEntry> | null)[]) {
    if (!v || typeof v !== 'object' || typeof v.version !== 'string' || !isVersion(v.version))
      refuseToOverwrite(where, `lists an invalid version ${JSON.stringify(v?.version ?? v)}`, 'it already breaks OpenTofu');
    // Terraform reads both lists; an entry with either of another shape already breaks `terraform init`.
    if (!Array.isArray(v.protocols) || !v.protocols.every((p) => typeof p === 'string'))
      refuseToOverwrite(where, `lists version ${v.version} without a "protocols" array of strings`);
    if (
      !Array.isArray(v.platforms) ||
      !v.platforms.every((p) => p && typeof p === 'object' && typeof p.os === 'string' && typeof p.arch === 'string')
    )
      refuseToOverwrite(where, `lists version ${v.version} without a "platforms" array of {os, arch}`);
  }
  return d;
}

/** Reads an existing mirror `index.json` strictly (see refuseToOverwrite). */
export function parseMirrorIndex(where: string, bytes: Buffer): MirrorIndexDoc {
  const d = tryParseJson(bytes) as { versions?: unknown } | null | undefined;
  if (!d || typeof d.versions !== 'object' || d.versions === null || Array.isArray(d.versions))
    refuseToOverwrite(where, 'is not a valid network mirror index');
  return d as MirrorIndexDoc;
}

/** The mirror index with `version` added (keys sorted), or undefined when it already lists it. */
export function addMirrorVersion(idx: MirrorIndexDoc, version: string): MirrorIndexDoc | undefined {
  if (version in idx.versions) return undefined;
  const versions = Object.fromEntries(
    Object.keys({ ...idx.versions, [version]: {} })
      .sort()
      .map((v) => [v, {}]),
  );
  return { ...idx, versions };
}

/**
 * Adds one version to the index. Identical entry: unchanged (undefined).
 * Different entry: replaced when mutable, else a conflict.
 */
export function mergeVersion(doc: VersionsDoc, entry: VersionEntry, immutable: boolean, where: string): VersionsDoc | undefined {
  const existing = doc.versions.find((v) => v.version === entry.version);
  const norm = (e: VersionEntry): string => JSON.stringify(canonicalEntry(e));
  if (existing && norm(existing) === norm(entry)) return undefined;
  if (existing && immutable) {
    throw new ConflictError(
      `${where}: version ${entry.version} is already published with different platforms or protocols; versions are immutable (set immutable: false for a staging registry)`,
    );
  }
  const versions = doc.versions.filter((v) => v.version !== entry.version).concat(canonicalEntry(entry));
  versions.sort((a, b) => compareVersions(a.version, b.version));
  return { ...doc, versions };
}

function canonicalEntry(e: VersionEntry): VersionEntry {
  return {
    version: e.version,
    protocols: [...e.protocols].sort(),
    platforms: [...e.platforms].map((p) => ({ os: p.os, arch: p.arch })).sort((a, b) => platformKey(a).localeCompare(platformKey(b))),
  };
}

export interface SigningKeyDoc {
  key_id: string;
  ascii_armor: string;
  trust_signature: '';
  source: string;
  source_url: string;
}

export interface PackageMeta {
  hashes: string[];
  package_size: number;
}

/** The per-platform download document, with every field Terraform and OpenTofu read. */
export interface DownloadDoc {
  protocols: string[];
  os: string;
  arch: string;
  filename: string;
  download_url: string;
  shasums_url: string;
  shasums_signature_url: string;
  shasum: string;
  signing_keys: { gpg_public_keys: SigningKeyDoc[] };
  /** OpenTofu 1.12+: all platforms' hashes, so `tofu init` locks every platform. */
  packages: Record<string, PackageMeta>;
}

/** `<64 hex>  <name>\n`, sorted by name (byte order), never a blank line. */
export function sha256Sums(files: { name: string; sha256: string }[]): Buffer {
  const sorted = [...files].sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  return Buffer.from(sorted.map((f) => `${f.sha256}  ${f.name}\n`).join(''));
}

/** Protocol list normalised to MAJOR.MINOR and checked against what Terraform/OpenTofu speak (5.x, 6.x). */
export function normaliseProtocols(list: string[], input: string): string[] {
  const out = list
    .flatMap((p) => p.split(','))
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => {
      const m = /^(\d+)(?:\.(\d+))?$/.exec(p);
      if (!m || (m[1] !== '5' && m[1] !== '6'))
        throw new InputError(
          `input '${input}': expected protocol versions 5.x or 6.x (Terraform and OpenTofu speak >= 5, < 7), got "${p}"`,
        );
      return `${m[1]}.${m[2] ?? '0'}`;
    });
  if (out.length === 0) throw new InputError(`input '${input}': expected at least one protocol version`);
  return [...new Set(out)].sort();
}

export function sameList(a: string[], b: string[]): boolean {
  return JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());
}

/** terraform-registry-manifest.json for the release (it is listed in SHA256SUMS). */
export const registryManifestDoc = (protocols: string[]): object => ({ version: 1, metadata: { protocol_versions: protocols } });

/** Discovery: the providers service lives under `registry/` of the registry URL. */
export const discoveryDoc = (registryUrl: URL): DiscoveryDoc => ({ 'providers.v1': new URL('registry/', L.withSlash(registryUrl)).href });

/** OpenTofu's `packages`: every platform's hashes and size, the same in each download document. */
export function packagesMeta(packages: readonly ZipPackage[]): Record<string, PackageMeta> {
  return Object.fromEntries(packages.map((p) => [platformKey(p), { hashes: [p.zh, p.h1], package_size: p.size }]));
}

export interface DownloadDocInput {
  coords: L.Coordinates;
  pkg: ZipPackage;
  protocols: string[];
  signer: Pick<SigningKey, 'keyId' | 'publicArmor'>;
  registryUrl: URL;
  /** packagesMeta of the whole release. */
  packages: Record<string, PackageMeta>;
}

/** One platform's download document; its links are relative to where it is stored (L.downloadKey). */
export function downloadDoc(o: DownloadDocInput): DownloadDoc {
  const { coords, pkg } = o;
  const key = L.downloadKey(coords, pkg.os, pkg.arch);
  const dir = L.storeDir(coords);
  return {
    protocols: o.protocols,
    os: pkg.os,
    arch: pkg.arch,
    filename: pkg.filename,
    download_url: L.relativeUrl(key, dir + pkg.filename),
    shasums_url: L.relativeUrl(key, dir + L.sumsName(coords)),
    shasums_signature_url: L.relativeUrl(key, dir + L.sigName(coords)),
    shasum: pkg.sha256,
    signing_keys: {
      gpg_public_keys: [
        {
          key_id: o.signer.keyId,
          ascii_armor: o.signer.publicArmor,
          trust_signature: '',
          source: coords.namespace,
          source_url: o.registryUrl.href,
        },
      ],
    },
    packages: o.packages,
  };
}

/** The mirror's per-version document, stored at L.mirrorVersionKey(host, coords); links are relative to it. */
export function mirrorVersionDoc(coords: L.Coordinates, host: string, packages: readonly ZipPackage[]): MirrorVersionDoc {
  const key = L.mirrorVersionKey(host, coords);
  const dir = L.storeDir(coords);
  return {
    archives: Object.fromEntries(
      packages.map((p) => [platformKey(p), { url: L.relativeUrl(key, dir + p.filename), hashes: [p.h1, p.zh] }]),
    ),
  };
}
