import type { OutputValue } from '../context.js';
import { IntegrityError } from '../errors.js';
import { sha256Hex } from '../hash.js';
import { readLimited } from '../json.js';
import { DEFAULTS } from '../defaults.js';
import { parsePublishStatement, sameProvenance } from '../provenance/build.js';
import { parseApprovers } from '../audit/record.js';
import { builderOf } from '../provenance/builder.js';
import { parsePromotion, renderPromotion, samePromotion } from '../provenance/promotion.js';
import { descriptors, LOCAL_BUILDER, subjectDigests, type NamedDigest, type Statement } from '../provenance/statement.js';
import type { Store } from '../store/store.js';
import * as L from './layout.js';
import type { ReleaseObject } from './release.js';
import type { PlatformCheck, Reader } from './verify.js';

/**
 * The provenance a provider version carries in the store, next to its files
 * (docs/provenance.md): `relay-provenance.intoto.json`, the SLSA provenance v1
 * Statement its publish wrote (promotion copies it unchanged), and after a
 * promotion `relay-promotion.intoto.json`. Both are per-version documents,
 * written once with If-None-Match after the files they describe and before
 * `versions` lists the version; a re-run of the same publish or promotion
 * keeps the stored one (the run that first wrote it stays named there).
 */
export const PROVENANCE_NAME = 'relay-provenance.intoto.json';
export const PROMOTION_NAME = 'relay-promotion.intoto.json';

export const provenanceKey = (c: L.Coordinates): string => L.storeDir(c) + PROVENANCE_NAME;
export const promotionKey = (c: L.Coordinates): string => L.storeDir(c) + PROMOTION_NAME;

/** What a Statement's subjects are for a version: every zip and SHA256SUMS. */
export const versionSubjects = (c: L.Coordinates, zips: readonly NamedDigest[], sums: Buffer): NamedDigest[] => [
  ...zips,
  { name: L.sumsName(c), sha256: sha256Hex(sums) },
];

const statementObject = (
  key: string,
  body: Buffer,
  immutable: boolean,
  sameAs: (existing: Buffer) => string | undefined,
): ReleaseObject => ({
  key,
  body,
  sha256: sha256Hex(body),
  contentType: L.contentTypeFor(key),
  cacheControl: immutable ? L.CACHE_IMMUTABLE : L.CACHE_MUTABLE,
  kind: 'document',
  sameAs,
});

/** The publish's SLSA statement as a release object: an existing one for the same build is kept (sameProvenance). */
export const provenanceObject = (c: L.Coordinates, body: Buffer, immutable: boolean): ReleaseObject =>
  statementObject(provenanceKey(c), body, immutable, (existing) => sameProvenance(existing, body, immutable));

/**
 * The promotion statement as a release object. Its bytes name the plan hash,
 * known only once the plan that lists it is complete: `bind` renders them then
 * (before the first write); until then they name none, which no stored
 * statement equals, so planning judges an existing one by samePromotion alone.
 */
export function promotionObject(
  c: L.Coordinates,
  immutable: boolean,
  render: (planSha256: string) => Buffer,
): ReleaseObject & { bind: (planSha256: string) => void } {
  const obj = statementObject(promotionKey(c), render(''), immutable, (existing) => samePromotion(existing, render('')));
  return Object.assign(obj, {
    bind(planSha256: string): void {
      obj.body = render(planSha256);
      obj.sha256 = sha256Hex(obj.body);
    },
  });
}

/** A statement the store holds for a version, as the audit record links it and the outputs name it. */
export interface StoredStatement {
  key: string;
  url: string;
  sha256: string;
  predicateType: string;
}

/**
 * Reads back the statements a run planned (written, or kept as the same),
 * each checked to describe the files the version holds now. Returns them for
 * the audit record: key and sha256 of what is stored, not of what this run rendered.
 */
export async function readBackStatements(store: Store, keys: readonly string[], files: readonly NamedDigest[]): Promise<StoredStatement[]> {
  const out: StoredStatement[] = [];
  for (const key of keys) {
    const got = await store.get(key);
    const where = `${store.url}/${key}`;
    if (!got) throw new IntegrityError(`${where}: missing after it was written`);
    const s = key.endsWith(PROMOTION_NAME) ? parsePromotion(where, got.body) : parsePublishStatement(where, got.body);
    checkSubjects(s, where, files);
    out.push({ key, url: where, sha256: sha256Hex(got.body), predicateType: s.predicateType });
  }
  return out;
}

/**
 * A statement's subjects against the files served, name by name: a file the
 * statement names that is served with other bytes (changed after publish), or
 * a served file it does not name, is an IntegrityError naming the file and both digests.
 */
export function checkSubjects(s: Statement, where: string, served: readonly NamedDigest[]): void {
  const said = subjectDigests(s);
  for (const f of served) {
    const want = said.get(f.name);
    if (want === undefined) throw new IntegrityError(`${where}: does not name ${f.name} (sha256 ${f.sha256}), which the version serves`);
    if (want !== f.sha256)
      throw new IntegrityError(
        `${where}: ${f.name} is served with sha256 ${f.sha256}, but the statement says ${want}: it changed after it was attested`,
      );
  }
  const names = new Set(served.map((f) => f.name));
  for (const [name, sha] of said)
    if (!names.has(name)) throw new IntegrityError(`${where}: names ${name} (sha256 ${sha}), which the version does not serve`);
}

/** Outputs for GitHub's attestation step: the subjects in `sha256sum` format (its `subject-checksums`) and where the statements are. */
export function provenanceOutputs(subjects: readonly NamedDigest[], statements: Record<string, string>): Record<string, OutputValue> {
  return {
    subjects: descriptors(subjects).map((f) => `${f.digest.sha256}  ${f.name}`),
    ...statements,
  };
}

/** What verify found of a version's provenance. */
export interface VersionProvenance {
  version: string;
  /** `checked`: present and its subjects are what is served; `none`: the version carries none. */
  provenance: 'checked' | 'none';
  promotion: 'checked' | 'none';
}

/**
 * For each version verified: fetches its statements through the same reader
 * the walk used (over HTTP as served, or from the store), and holds their
 * subjects against the files the walk checked (each zip's sha256 and
 * SHA256SUMS). A version without a statement is reported (`none`), not
 * refused: versions published before Relay wrote them have none.
 */
export async function verifyProvenance(
  reader: Reader,
  root: URL,
  provider: { namespace: string; name: string },
  checks: readonly PlatformCheck[],
): Promise<VersionProvenance[]> {
  const versions = [...new Set(checks.map((c) => c.version))];
  const out: VersionProvenance[] = [];
  for (const version of versions) {
    const coords = { ...provider, version };
    const mine = checks.filter((c) => c.version === version);
    const served = versionSubjects(
      coords,
      mine.map((c) => ({ name: c.filename, sha256: c.shasum })),
      mine[0]!.sums,
    );
    const read = async (key: string, parse: (where: string, b: Buffer) => Statement): Promise<'checked' | 'none'> => {
      const url = new URL(key, root);
      const res = await reader.get(url);
      if (res.status === 404 || res.status === 403) {
        res.body.resume();
        return 'none';
      }
      if (res.status !== 200) {
        res.body.resume();
        throw new IntegrityError(`${url.href}: HTTP ${res.status}`);
      }
      const body = await readLimited(res.body, DEFAULTS.maxDocumentBytes, url.href);
      checkSubjects(parse(url.href, body), url.href, served);
      return 'checked';
    };
    out.push({
      version,
      provenance: await read(provenanceKey(coords), parsePublishStatement),
      promotion: await read(promotionKey(coords), parsePromotion),
    });
  }
  return out;
}

/**
 * Staging's SLSA statement, when it has one: checked against the files
 * staging serves (promotion copies it unchanged, so it must describe them).
 */
export async function readStagedProvenance(from: Store, c: L.Coordinates, files: readonly NamedDigest[]): Promise<Buffer | undefined> {
  const key = provenanceKey(c);
  const got = await from.get(key);
  if (!got) return undefined;
  const where = `${from.url}/${key}`;
  checkSubjects(parsePublishStatement(where, got.body), where, files);
  return got.body;
}

export interface PromotionInput {
  coords: L.Coordinates;
  immutable: boolean;
  env: Record<string, string | undefined>;
  from: { store: string; root: URL };
  to: { store: string; root: URL };
  /** Every zip and SHA256SUMS: the same bytes in staging and production. */
  files: NamedDigest[];
  /** The git ref staging's build record names. */
  buildRef: string | null;
  /** Staging's SLSA statement, copied to production as it is. */
  stagedProvenance?: Buffer;
}

/**
 * The statements a promotion writes into production: staging's SLSA statement
 * (unchanged) and the promotion statement. `bind` gives the latter its plan
 * hash once the plan is approved, before the first write.
 */
export function promotionObjects(p: PromotionInput): {
  objects: ReleaseObject[];
  keys: string[];
  bind: (planSha256: string, approved: boolean) => void;
} {
  const { coords } = p;
  const artifacts = (root: URL): ReturnType<typeof descriptors> =>
    descriptors(p.files).map((d) => ({ ...d, uri: new URL(L.storeDir(coords) + d.name, root).href }));
  const copied = p.stagedProvenance;
  let approved = false;
  const render = (planSha256: string): Buffer =>
    renderPromotion({
      artifact: 'terraform-provider',
      subjects: descriptors(p.files),
      from: { location: p.from.store, artifacts: artifacts(p.from.root) },
      to: { location: p.to.store, artifacts: artifacts(p.to.root) },
      approvers: parseApprovers(p.env.RELAY_APPROVERS),
      plan: { sha256: planSha256, approved },
      build: {
        ref: p.buildRef,
        ...(copied && { provenance: { name: PROVENANCE_NAME, digest: { sha256: sha256Hex(copied) } } }),
      },
      builder: builderOf(p.env, LOCAL_BUILDER),
    });
  const promotion = promotionObject(coords, p.immutable, render);
  const objects = [...(copied ? [provenanceObject(coords, copied, p.immutable)] : []), promotion];
  return {
    objects,
    keys: objects.map((o) => o.key),
    bind: (planSha256, isApproved) => {
      approved = isApproved;
      promotion.bind(planSha256);
    },
  };
}

/** A stored statement as the audit record links it. */
export const auditLink = (s: StoredStatement): { key: string; sha256: string; predicateType: string } => ({
  key: s.key,
  sha256: s.sha256,
  predicateType: s.predicateType,
});
