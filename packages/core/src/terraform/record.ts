import { ConflictError, IntegrityError } from '../errors.js';
import { sha256Hex } from '../hash.js';
import { tryParseJson } from '../json.js';
import { sha256Digest } from '../report/plan.js';
import { json } from './documents.js';
import type { Coordinates } from './layout.js';

/**
 * The build record: what a version in the store was built from, written next
 * to it (`store/<ns>/<name>/<version>/relay-build.json`) by every publish.
 * Promotion reads it to prove that the staging bytes it copies are the build
 * being promoted: the files must still be the ones recorded, and the record's
 * git ref must be the release's (not a release candidate that later rewrote
 * the same version in a mutable staging registry).
 */

export const RECORD_FORMAT = 'relay-build/1';

/** Where the build ran, from the GitHub Actions environment (absent outside Actions). */
export interface BuildRun {
  /** GITHUB_RUN_ID */
  id?: string;
  /** GITHUB_RUN_ATTEMPT */
  attempt?: string;
  /** GITHUB_WORKFLOW_REF: `owner/repo/.github/workflows/x.yml@refs/...` */
  workflow?: string;
}

export interface BuildRecord {
  format: typeof RECORD_FORMAT;
  provider: { namespace: string; name: string; version: string };
  /** GITHUB_REF of the run that published, or null outside Actions. */
  ref: string | null;
  /** GITHUB_REPOSITORY, or null outside Actions. */
  repository: string | null;
  run?: BuildRun;
  /** The release archives repacked: file name and sha256. */
  sources: { name: string; sha256: string }[];
  /** What the version holds: every zip and SHA256SUMS (which lists the manifest), name and sha256. */
  files: { name: string; sha256: string }[];
}

/** The build's environment as the face passed it (core never reads process.env). */
export function buildContext(env: Record<string, string | undefined>): Pick<BuildRecord, 'ref' | 'repository' | 'run'> {
  const run: BuildRun = {
    ...(env.GITHUB_RUN_ID ? { id: env.GITHUB_RUN_ID } : {}),
    ...(env.GITHUB_RUN_ATTEMPT ? { attempt: env.GITHUB_RUN_ATTEMPT } : {}),
    ...(env.GITHUB_WORKFLOW_REF ? { workflow: env.GITHUB_WORKFLOW_REF } : {}),
  };
  return {
    ref: env.GITHUB_REF || null,
    repository: env.GITHUB_REPOSITORY || null,
    ...(Object.keys(run).length ? { run } : {}),
  };
}

const byName = (a: { name: string }, b: { name: string }): number => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name));

export function renderRecord(
  coords: Coordinates,
  ctx: Pick<BuildRecord, 'ref' | 'repository' | 'run'>,
  sources: { name: string; sha256: string }[],
  files: { name: string; sha256: string }[],
): Buffer {
  const doc: BuildRecord = {
    format: RECORD_FORMAT,
    provider: { namespace: coords.namespace, name: coords.name, version: coords.version },
    ref: ctx.ref,
    repository: ctx.repository,
    ...(ctx.run ? { run: ctx.run } : {}),
    sources: [...sources].sort(byName),
    files: [...files].sort(byName),
  };
  return json(doc);
}

const isEntryList = (v: unknown): v is { name: string; sha256: string }[] =>
  Array.isArray(v) &&
  v.every(
    (e) => e && typeof e === 'object' && typeof e.name === 'string' && typeof e.sha256 === 'string' && /^[0-9a-f]{64}$/.test(e.sha256),
  );

/**
 * The digest a plan binds for a build record: `sha256:<hex>` of the record
 * without its `run`, which names the job run (the apply job of a workflow,
 * or a re-run of it, is another run than the dry run an approver saw). What
 * the record says was built (ref, repository, sources, files) stays bound.
 */
export function recordDigest(record: Buffer): string {
  const { run: _run, ...rest } = parseRecord('', record);
  return sha256Digest(sha256Hex(json(rest)));
}

/** Reads a build record strictly; `where` names it in the refusal. */
export function parseRecord(where: string, bytes: Buffer): BuildRecord {
  const d = tryParseJson(bytes) as Partial<BuildRecord> | null | undefined;
  const ok =
    d &&
    typeof d === 'object' &&
    d.format === RECORD_FORMAT &&
    (d.ref === null || typeof d.ref === 'string') &&
    (d.repository === null || typeof d.repository === 'string') &&
    isEntryList(d.sources) &&
    isEntryList(d.files);
  if (!ok) throw new IntegrityError(`build record ${where}: not a ${RECORD_FORMAT} document`);
  return d as BuildRecord;
}

/**
 * Whether an existing record may stay in place of ours: it records the same
 * sources and files, and (unless `anyRef`) the same ref and repository; only
 * the run differs (a re-run of the workflow). The existing record then names
 * the first run that produced these bytes. A write-once version passes
 * `anyRef`: republishing identical bytes from another ref stays a no-op, as
 * it was before there were records. Returns why, or undefined when it is
 * another build.
 */
export function sameBuild(existing: Buffer, ours: Buffer, anyRef = false): string | undefined {
  let a: BuildRecord, b: BuildRecord;
  try {
    a = parseRecord('', existing);
    b = parseRecord('', ours);
  } catch {
    return undefined;
  }
  const key = (r: BuildRecord): string =>
    JSON.stringify([r.provider, [...r.sources].sort(byName), [...r.files].sort(byName), ...(anyRef ? [] : [r.ref, r.repository])]);
  if (key(a) !== key(b)) return undefined;
  const run = a.run?.id ? `run ${a.run.id}${a.run.attempt ? `, attempt ${a.run.attempt}` : ''}` : '';
  const from = anyRef && a.ref !== b.ref ? `from ${a.ref ?? 'outside GitHub Actions'}` : '';
  return `same build already recorded${run || from ? ` (${[from, run].filter(Boolean).join(', ')})` : ''}`;
}

/** A ref as given to `expect-ref`: a tag name, or a full ref (`refs/heads/main`). `*` accepts any. */
export function normaliseRef(ref: string): string {
  const r = ref.trim();
  return r === '*' || r.startsWith('refs/') ? r : `refs/tags/${r}`;
}

/**
 * Holds the record against what the staging store holds now: every zip and
 * SHA256SUMS by sha256, and nothing more or less. A difference is a
 * ConflictError naming the first file that differs.
 */
export function checkRecordFiles(rec: BuildRecord, where: string, actual: { name: string; sha256: string }[]): void {
  const recorded = new Map(rec.files.map((f) => [f.name, f.sha256]));
  const now = new Map(actual.map((f) => [f.name, f.sha256]));
  for (const [name, sha] of now) {
    const want = recorded.get(name);
    if (want === undefined)
      throw new ConflictError(`${where}: ${name} is in the staging version but not in its build record; it was rewritten after the build`);
    if (want !== sha)
      throw new ConflictError(
        `${where}: ${name} has sha256 ${sha}, but the build record says ${want}; the staging version was rewritten after its build`,
      );
  }
  for (const name of recorded.keys())
    if (!now.has(name)) throw new ConflictError(`${where}: the build record lists ${name}, which the staging version no longer has`);
}

/** The record's ref against `expect-ref`; a ConflictError naming both when they differ. */
export function checkRecordRef(rec: BuildRecord, where: string, expectRef: string): void {
  const want = normaliseRef(expectRef);
  if (want === '*') return;
  if (rec.ref === null)
    throw new ConflictError(
      `${where}: the staging version was last published outside GitHub Actions (its build record names no ref), not from ${want} (input 'expect-ref'); publish ${want} to staging again, or set expect-ref to '*' to promote it anyway`,
    );
  if (rec.ref !== want)
    throw new ConflictError(
      `${where}: the staging version was last published from ${rec.ref}, not ${want} (input 'expect-ref'); publish ${want} to staging again, or promote what was built from ${rec.ref} by naming it in expect-ref`,
    );
}
