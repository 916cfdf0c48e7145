import { Readable } from 'node:stream';
import { DEFAULTS } from '../../defaults.js';
import { IntegrityError } from '../../errors.js';
import { readLimited } from '../../json.js';
import type { PlanRow } from '../../report/plan.js';
import { sha256Digest } from '../ref/digest.js';
import { OCI_INDEX, OCI_MANIFEST, parseManifest, type Descriptor, type Manifest } from '../ref/media.js';
import type { Repo } from '../repo/repo.js';
import { fallbackTag, listReferrers, mergeFallbackIndex, referrerDescriptor } from './referrers.js';

/**
 * An in-toto Statement attached to an image as an OCI referrer, as kpromo
 * attaches its promotion records and `cosign attest` its attestations: an
 * artifact manifest (artifactType `application/vnd.in-toto+json`, the empty
 * config) whose one layer is the Statement and whose subject is the image. A
 * registry with the referrers API indexes it itself; on one without, the
 * `sha256-<hex>` fallback index is merged (distribution-spec's tag schema),
 * so `cosign tree`, `oras discover` and Relay's own readers all find it.
 */

export const STATEMENT_ARTIFACT_TYPE = 'application/vnd.in-toto+json';
/** The annotation naming the Statement's predicate type on the layer and the manifest, as cosign writes it. */
export const PREDICATE_ANNOTATION = 'in-toto.io/predicate-type';
const EMPTY = Buffer.from('{}');
const EMPTY_DESCRIPTOR = { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256Digest(EMPTY), size: EMPTY.length };

export interface StatementArtifact {
  manifest: Manifest;
  layer: { descriptor: Descriptor; bytes: Buffer };
}

/** The referrer manifest for a Statement about `subject`; the same Statement gives the same bytes. */
export function statementArtifact(subject: Descriptor, statement: Buffer, predicateType: string): StatementArtifact {
  const layer: Descriptor = {
    mediaType: STATEMENT_ARTIFACT_TYPE,
    digest: sha256Digest(statement),
    size: statement.length,
    annotations: { [PREDICATE_ANNOTATION]: predicateType },
  };
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: STATEMENT_ARTIFACT_TYPE,
      config: EMPTY_DESCRIPTOR,
      layers: [layer],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      annotations: { [PREDICATE_ANNOTATION]: predicateType },
    }),
  );
  return { manifest: { digest: sha256Digest(bytes), mediaType: OCI_MANIFEST, bytes }, layer: { descriptor: layer, bytes: statement } };
}

/** A Statement the target already holds as a referrer of the subject. */
export interface FoundStatement {
  manifest: Descriptor;
  statement: Buffer;
}

/**
 * The Statements of one predicate type attached to `subject` on the target
 * (referrers API, else the fallback index), each read and its digest checked.
 * None when the target lacks the subject.
 */
export async function findStatements(target: Repo, subject: string, predicateType: string): Promise<FoundStatement[]> {
  const out: FoundStatement[] = [];
  for (const d of await listReferrers(target, subject)) {
    if (d.artifactType !== STATEMENT_ARTIFACT_TYPE || d.annotations?.[PREDICATE_ANNOTATION] !== predicateType) continue;
    const m = await target.getManifest(d.digest);
    if (!m) continue; // listed, but deleted since: nothing to read
    const layer = parseManifest(m).blobs.find((b) => b.mediaType === STATEMENT_ARTIFACT_TYPE);
    if (!layer) throw new IntegrityError(`${target.name}@${d.digest}: an in-toto referrer without an ${STATEMENT_ARTIFACT_TYPE} layer`);
    const statement = await readLimited(await target.openBlob(layer), DEFAULTS.maxDocumentBytes, `${target.name}@${layer.digest}`);
    if (sha256Digest(statement) !== layer.digest)
      throw new IntegrityError(`${target.name}@${layer.digest}: the statement's bytes do not match their digest`);
    out.push({ manifest: d, statement });
  }
  return out;
}

/** How a Statement will be attached: the row the plan binds, and whether an equivalent one is already there. */
export interface PlannedStatement {
  row: PlanRow;
  /** The stored Statement judged the same (a re-run), when the row is a skip. */
  existing?: FoundStatement;
}

/**
 * Plans attaching a Statement (reads only). `same` judges a stored one (a
 * re-run of the same promotion keeps the first run's). The row names the
 * subject, not the referrer's digest: the Statement names the plan hash and
 * the approvers, which are known only once the plan is approved.
 */
export async function planStatement(
  target: Repo,
  subject: string,
  predicateType: string,
  what: string,
  same: (existing: Buffer) => string | undefined,
): Promise<PlannedStatement> {
  const object = `${target.name}@${subject} ← ${what}`;
  const found = await findStatements(target, subject, predicateType);
  for (const f of found) {
    const why = same(f.statement);
    if (why) return { row: { object, action: 'skip', why }, existing: f };
  }
  return {
    row: { object, action: 'put', why: `in-toto referrer (${found.length ? `${found.length} of another promotion there` : 'new'})` },
  };
}

/**
 * Writes the artifact after the image it refers to: the empty config and the
 * Statement, then the manifest, then (without the referrers API) the fallback
 * index, merged by read-modify-write. Then reads it back as a consumer finds
 * it: listed among the subject's referrers, the same Statement bytes.
 */
export async function attachStatement(target: Repo, subject: Descriptor, a: StatementArtifact, predicateType: string): Promise<void> {
  for (const { descriptor, bytes } of [{ descriptor: EMPTY_DESCRIPTOR, bytes: EMPTY }, a.layer]) {
    if (!(await target.hasBlob(descriptor))) await target.writeBlob(descriptor, Readable.from([bytes]));
  }
  const { subjectHandled } = await target.putManifest(a.manifest, a.manifest.digest);
  if (!subjectHandled && (await target.referrers(subject.digest)) === undefined) {
    const tag = fallbackTag(subject.digest);
    const existing = await target.getManifest(tag);
    const merged = mergeFallbackIndex(existing, [referrerDescriptor(a.manifest)]);
    if (merged) await target.putManifest({ digest: sha256Digest(merged), mediaType: OCI_INDEX, bytes: merged }, tag);
  }
  const back = (await findStatements(target, subject.digest, predicateType)).find((f) => f.manifest.digest === a.manifest.digest);
  if (!back || !back.statement.equals(a.layer.bytes))
    throw new IntegrityError(
      `${target.name}@${subject.digest}: the statement attached as ${a.manifest.digest} is not found among its referrers`,
    );
}
