import { ConflictError, InputError } from '../errors.js';
import { compareVersions, isVersion, type Platform } from './names.js';

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

/**
 * Reads an existing `versions` document strictly. A document we cannot
 * understand is never overwritten: it may hold versions users depend on.
 */
export function parseVersionsDoc(where: string, bytes: Buffer): VersionsDoc {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new InputError(`${where} is not valid JSON; refusing to overwrite it (repair or remove it by hand)`);
  }
  const d = doc as VersionsDoc;
  if (!d || typeof d !== 'object' || !Array.isArray(d.versions)) {
    throw new InputError(`${where} has no "versions" array; refusing to overwrite it (repair or remove it by hand)`);
  }
  for (const v of d.versions) {
    if (!v || typeof v.version !== 'string' || !isVersion(v.version)) {
      throw new InputError(
        `${where} lists an invalid version ${JSON.stringify(v?.version)}; refusing to overwrite it (it already breaks OpenTofu)`,
      );
    }
  }
  return d;
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
    platforms: [...e.platforms]
      .map((p) => ({ os: p.os, arch: p.arch }))
      .sort((a, b) => `${a.os}_${a.arch}`.localeCompare(`${b.os}_${b.arch}`)),
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
