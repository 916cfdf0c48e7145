import { InputError, IntegrityError } from '../../errors.js';
import { parseJson } from '../../json.js';

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

/** Without all four, a registry may convert (schema1, one platform) and the digest changes. */
export const MANIFEST_ACCEPT = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST].join(', ');

const INDEXES = new Set([OCI_INDEX, DOCKER_LIST]);
const IMAGES = new Set([OCI_MANIFEST, DOCKER_MANIFEST]);

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: { os?: string; architecture?: string; variant?: string };
}

/**
 * Bytes to keep for the length of a copy, in memory of their own. A small
 * Buffer read from a stream is a slice of an 8 KiB pool that it keeps alive
 * whole: held for each of 10,000 manifests, that is 80 MiB for 4 MiB of bytes.
 */
export function ownBytes(b: Buffer): Buffer {
  if (b.byteOffset === 0 && b.buffer.byteLength === b.length) return b;
  const own = Buffer.allocUnsafeSlow(b.length);
  b.copy(own);
  return own;
}

/** A manifest as stored: its exact bytes, the type it was served as, its digest. */
export interface Manifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

interface ManifestJson {
  schemaVersion?: number;
  mediaType?: string;
  artifactType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  blobs?: Descriptor[];
  manifests?: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** What a manifest refers to, read once from its bytes. */
export interface ManifestParts {
  isIndex: boolean;
  /** Manifests an index lists. */
  manifests: Descriptor[];
  /** Config and layers of an image manifest. */
  blobs: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export function isIndexType(mediaType: string): boolean {
  return INDEXES.has(mediaType);
}

/**
 * The media type a manifest really has: the served type, else its own
 * mediaType field, else guessed from shape (OCI layouts and older registries).
 * Refuses types Relay cannot copy unchanged (schema1 and anything unknown).
 */
export function manifestType(what: string, served: string | undefined, bytes: Buffer): string {
  const json = manifestJson(what, bytes);
  const field = json.mediaType;
  const servedType = served?.split(';')[0]?.trim();
  let type = servedType && servedType !== 'application/json' && servedType !== 'application/octet-stream' ? servedType : field;
  if (!type) type = json.manifests ? OCI_INDEX : json.config ? OCI_MANIFEST : undefined;
  if (json.schemaVersion === 1 || type?.startsWith('application/vnd.docker.distribution.manifest.v1')) {
    throw new InputError(
      `${what}: Docker schema 1 manifests cannot be copied without changing their digest; re-push the image with a current client`,
    );
  }
  if (!type || (!INDEXES.has(type) && !IMAGES.has(type))) {
    throw new InputError(`${what}: manifest type ${type ?? '(none)'} is not one Relay can copy unchanged (${MANIFEST_ACCEPT})`);
  }
  if (field && field !== type) throw new IntegrityError(`${what}: served as ${type} but its mediaType says ${field}`);
  return type;
}

export function parseManifest(m: Manifest): ManifestParts {
  const json = manifestJson(`manifest ${m.digest}`, m.bytes);
  const isIndex = INDEXES.has(m.mediaType);
  const blobs = isIndex ? [] : [...(json.config ? [json.config] : []), ...(json.layers ?? []), ...(json.blobs ?? [])];
  for (const d of [...blobs, ...(json.manifests ?? [])]) {
    if (typeof d?.digest !== 'string' || typeof d.size !== 'number')
      throw new IntegrityError(`manifest ${m.digest}: a descriptor lacks digest or size`);
  }
  return {
    isIndex,
    manifests: isIndex ? (json.manifests ?? []) : [],
    blobs,
    ...(json.subject && { subject: json.subject }),
    ...(json.artifactType !== undefined
      ? { artifactType: json.artifactType }
      : json.config && json.config.mediaType !== undefined
        ? { artifactType: json.config.mediaType }
        : {}),
    ...(json.annotations && { annotations: json.annotations }),
  };
}

/** The manifest's JSON object; malformed bytes are an integrity failure of whoever stored them. */
function manifestJson(what: string, bytes: Buffer): ManifestJson {
  const refusal = `${what}: the manifest is not a JSON object`;
  const v = parseJson(bytes, refusal);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new IntegrityError(refusal);
  checkManifestShape(what, v as Record<string, unknown>);
  return v as ManifestJson;
}

/**
 * Every field Relay reads has the type the specs give it, or the manifest is
 * refused naming the field: registries and layouts are untrusted input.
 */
function checkManifestShape(what: string, m: Record<string, unknown>): void {
  const bad = (field: string, expected: string): never => {
    throw new IntegrityError(`${what}: field '${field}' is not ${expected}`);
  };
  const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  const optString = (x: unknown, field: string): void => {
    if (x !== undefined && typeof x !== 'string') bad(field, 'a string');
  };
  const stringMap = (x: unknown, field: () => string): void => {
    if (x === undefined) return;
    if (!isObject(x)) return bad(field(), 'an object of strings');
    for (const k in x) if (typeof x[k] !== 'string') bad(field(), 'an object of strings');
  };
  // Field names are built only for a refusal: an index of 10,000 children is checked without 50,000 strings.
  const descriptor = (d: unknown, f: string, i?: number): void => {
    const at = (sub = ''): string => (i === undefined ? f : `${f}[${i}]`) + sub;
    if (!isObject(d)) return bad(at(), 'a descriptor object');
    if (d.mediaType !== undefined && typeof d.mediaType !== 'string') bad(at('.mediaType'), 'a string');
    if (d.artifactType !== undefined && typeof d.artifactType !== 'string') bad(at('.artifactType'), 'a string');
    if (typeof d.digest !== 'string') bad(at('.digest'), 'a string');
    if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) bad(at('.size'), 'a non-negative integer');
    stringMap(d.annotations, () => at('.annotations'));
    if (d.platform !== undefined && !isObject(d.platform)) bad(at('.platform'), 'an object');
  };
  if (m.schemaVersion !== undefined && typeof m.schemaVersion !== 'number') bad('schemaVersion', 'a number');
  optString(m.mediaType, 'mediaType');
  optString(m.artifactType, 'artifactType');
  stringMap(m.annotations, () => 'annotations');
  for (const f of ['config', 'subject'] as const) if (m[f] !== undefined) descriptor(m[f], f);
  for (const f of ['layers', 'manifests', 'blobs'] as const) {
    const list = m[f];
    if (list === undefined) continue;
    if (!Array.isArray(list)) bad(f, 'an array');
    (list as unknown[]).forEach((d, i) => descriptor(d, f, i));
  }
}
