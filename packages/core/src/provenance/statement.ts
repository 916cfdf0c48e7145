import { IntegrityError } from '../errors.js';
import { tryParseJson } from '../json.js';

/**
 * in-toto attestation Statements (https://github.com/in-toto/attestation,
 * spec/v1/statement.md): the one envelope-free shape every provenance Relay
 * writes takes. Consumers' tools (`gh attestation verify`, `cosign
 * verify-attestation`, slsa-verifier) read this layer; Relay stores the
 * Statement unsigned next to what it describes, and the reusable workflows
 * sign their own with GitHub's attestation actions. docs/provenance.md says
 * what each field holds.
 */

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
/** SLSA build provenance v1 (https://slsa.dev/provenance/v1): what a publish writes. */
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
/**
 * Relay's own type URIs, documented in docs/provenance.md: the build type of a
 * provider publish, the predicate of a promotion, the builder outside Actions.
 */
export const RELAY_TYPES = 'https://github.com/relay-release/relay/blob/main/docs/provenance.md';
export const PUBLISH_BUILD_TYPE = `${RELAY_TYPES}#terraform-provider-publish-v1`;
export const PROMOTION_PREDICATE = `${RELAY_TYPES}#promotion-v1`;
export const LOCAL_BUILDER = `${RELAY_TYPES}#local-cli`;
/** The media type of a Statement stored as a file or an OCI layer (what cosign and kpromo use for in-toto JSON). */
export const STATEMENT_MEDIA_TYPE = 'application/vnd.in-toto+json';

/** in-toto ResourceDescriptor (spec/v1/resource_descriptor.md), as far as Relay fills it. */
export interface ResourceDescriptor {
  name?: string;
  uri?: string;
  digest?: Record<string, string>;
  mediaType?: string;
  annotations?: Record<string, unknown>;
}

export interface Statement<P = unknown> {
  _type: typeof STATEMENT_TYPE;
  subject: (ResourceDescriptor & { digest: Record<string, string> })[];
  predicateType: string;
  predicate: P;
}

/** A file as a subject or a material: its name and sha256. */
export interface NamedDigest {
  name: string;
  sha256: string;
}

const byName = (a: NamedDigest, b: NamedDigest): number => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name));

/** Files as descriptors, sorted by name (bytes), so the same files render the same Statement. */
export const descriptors = (files: readonly NamedDigest[]): { name: string; digest: { sha256: string } }[] =>
  [...files].sort(byName).map((f) => ({ name: f.name, digest: { sha256: f.sha256 } }));

/** The Statement's bytes as Relay stores them: two-space JSON and a newline, keys in the order built. */
export const renderStatement = (s: Statement): Buffer => Buffer.from(JSON.stringify(s, null, 2) + '\n');

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Reads a Statement strictly enough to act on it: the v1 type, the predicate
 * type wanted, every subject with a name and a sha256. `where` names it in
 * the refusal (an IntegrityError: what a store or registry holds is wrong).
 */
export function parseStatement(where: string, bytes: Buffer, predicateType: string): Statement {
  const d = tryParseJson(bytes) as Partial<Statement> | null | undefined;
  if (!d || typeof d !== 'object' || Array.isArray(d)) throw new IntegrityError(`${where}: not a JSON in-toto Statement`);
  if (d._type !== STATEMENT_TYPE) throw new IntegrityError(`${where}: _type is ${JSON.stringify(d._type)}, not ${STATEMENT_TYPE}`);
  if (d.predicateType !== predicateType)
    throw new IntegrityError(`${where}: predicateType is ${JSON.stringify(d.predicateType)}, not ${predicateType}`);
  const ok =
    Array.isArray(d.subject) &&
    d.subject.length > 0 &&
    d.subject.every((s) => s && typeof s === 'object' && typeof s.name === 'string' && HEX64.test(String(s.digest?.sha256)));
  if (!ok) throw new IntegrityError(`${where}: every subject needs a name and a sha256 digest`);
  if (!d.predicate || typeof d.predicate !== 'object') throw new IntegrityError(`${where}: no predicate`);
  return d as Statement;
}

/** The subjects as name → sha256. */
export const subjectDigests = (s: Statement): Map<string, string> => new Map(s.subject.map((x) => [x.name ?? '', x.digest.sha256 ?? '']));

/** The predicate type of a Statement's bytes, or undefined when they are not one: to tell kinds apart before parsing. */
export function predicateTypeOf(bytes: Buffer): string | undefined {
  const d = tryParseJson(bytes) as { _type?: unknown; predicateType?: unknown } | undefined;
  return d && d._type === STATEMENT_TYPE && typeof d.predicateType === 'string' ? d.predicateType : undefined;
}

/** Two lists of files equal as sets (name and sha256). */
export function sameFiles(a: readonly NamedDigest[], b: readonly NamedDigest[]): boolean {
  const key = (l: readonly NamedDigest[]): string => JSON.stringify(descriptors(l));
  return key(a) === key(b);
}
