import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { InputError, IntegrityError } from '../errors.js';
import { sha256Hex } from '../hash.js';
import { tryParseJson } from '../json.js';
import type { Logger } from '../log/logger.js';
import type { ReportSection } from '../report/report.js';
import { signDetached, type Signer, type SigningKey } from '../signing/key.js';
import type { Store } from '../store/store.js';
import { parseVersionsDoc, sameList } from './documents.js';
import { zhHash } from './hashes.js';
import * as L from './layout.js';
import { checkRecordFiles, checkRecordRef, parseRecord, type BuildRecord } from './record.js';
import { releaseObjects, versionEntry, type Release } from './release.js';
import { parseRegistryManifest, type ZipPackage } from './repack.js';
import { storeReader, verifyRegistry, type PlatformCheck } from './verify.js';
import { promotionObjects, readStagedProvenance, versionSubjects } from './provenance.js';

/**
 * Promotion: a version tested in a staging registry goes to production as
 * the very bytes staging serves. Staging is verified completely first (as
 * `terraform init` would: signature by a key staging lists, every zip against
 * SHA256SUMS, each zip's layout and h1), its build record is held against
 * what it now holds and against the ref being promoted, and then the zips,
 * SHA256SUMS, the manifest and the record are copied byte for byte; only the
 * signature is new (production's key over the same SHA256SUMS), so the h1:
 * and zh: hashes users lock stay the same.
 */

/** What staging holds of one version, verified, with its zips kept on disk for the copy. */
export interface StagedVersion {
  /** The staging registry's public URL (from its discovery document). */
  root: URL;
  checks: PlatformCheck[];
  sums: Buffer;
  manifest: Buffer;
  protocols: string[];
  record: BuildRecord;
  recordBytes: Buffer;
  /** Where the staging version's files are, for messages. */
  where: string;
  /** The key IDs that signed staging's SHA256SUMS. */
  signedBy: string[];
  /** Staging's SLSA provenance statement (terraform/provenance.ts), checked against its files; absent when it has none. */
  provenance?: Buffer;
}

/**
 * The staging registry's public URL: its discovery document's `providers.v1`
 * is `<url>registry/` (as Relay writes it). Reading through that URL lets the
 * store be walked exactly as it is served.
 */
async function stagingRoot(from: Store): Promise<URL> {
  const disco = await from.get(L.DISCOVERY_KEY);
  if (!disco) throw new InputError(`input 'from': ${from.url} holds no provider registry (no ${L.DISCOVERY_KEY})`);
  const svc = (tryParseJson(disco.body) as Record<string, unknown> | undefined)?.['providers.v1'];
  let root: URL | undefined;
  try {
    root = typeof svc === 'string' ? new URL('../', svc) : undefined;
  } catch {
    root = undefined;
  }
  if (!root || new URL('registry/', root).href !== svc)
    throw new IntegrityError(
      `${from.url}/${L.DISCOVERY_KEY}: providers.v1 is ${JSON.stringify(svc)}, not <registry-url>registry/ as Relay writes it`,
    );
  return root;
}

/**
 * Verifies one version in staging completely and reads what promotion copies.
 * Every refusal here comes before anything is written anywhere.
 */
export async function readStaging(
  from: Store,
  coords: L.Coordinates,
  expectRef: string,
  keepDir: string,
  log: Logger,
): Promise<StagedVersion> {
  const root = await stagingRoot(from);
  const where = `${from.url}/${L.storeDir(coords).replace(/\/$/, '')}`;
  const vKey = L.versionsKey(coords);
  const index = await from.get(vKey);
  const listed = index && parseVersionsDoc(`${from.url}/${vKey}`, index.body).versions.some((v) => v.version === coords.version);
  if (!listed) throw new InputError(`input 'version': ${coords.version} is not listed in staging (${from.url}/${vKey})`);

  const checks = await verifyRegistry(
    storeReader(from, root),
    { root, namespace: coords.namespace, name: coords.name, versions: [coords.version], mirrorHost: root.host },
    log,
    { keepDir },
  );
  const sums = checks[0]!.sums;
  if (checks.some((c) => !c.sums.equals(sums)))
    throw new IntegrityError(`${where}: SHA256SUMS changed while staging was being read; try again once nothing publishes there`);
  const protocols = [...checks[0]!.protocols].sort();
  for (const c of checks)
    if (!sameList(c.protocols, protocols))
      throw new IntegrityError(
        `${where}: the download documents disagree on protocols (${checks[0]!.platform}: ${protocols.join(', ')}; ${c.platform}: ${c.protocols.join(', ')})`,
      );

  // SHA256SUMS is copied as it is: it must list exactly the zips checked and the manifest.
  const mKey = L.storeDir(coords) + L.manifestName(coords);
  const manifest = (await from.get(mKey))?.body;
  if (!manifest) throw new IntegrityError(`${from.url}/${mKey}: missing (SHA256SUMS lists it, and registry.terraform.io needs it)`);
  const listedHashes = new Map(
    sums
      .toString('utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => l.trim().split(/\s+/))
      .map((f) => [f[1] ?? '', f[0] ?? ''] as const),
  );
  const expected = new Map([...checks.map((c) => [c.filename, c.shasum] as const), [L.manifestName(coords), sha256Hex(manifest)] as const]);
  for (const [name, hash] of listedHashes)
    if (expected.get(name) !== hash.toLowerCase())
      throw new IntegrityError(
        expected.has(name)
          ? `${where}: SHA256SUMS lists ${name} with ${hash}, but staging holds ${expected.get(name)}`
          : `${where}: SHA256SUMS lists ${name}, which is neither a platform of ${coords.version} nor its manifest`,
      );
  for (const name of expected.keys()) if (!listedHashes.has(name)) throw new IntegrityError(`${where}: SHA256SUMS does not list ${name}`);
  const fromManifest = parseRegistryManifest(`${from.url}/${mKey}`, manifest);
  if (!sameList(fromManifest, protocols))
    throw new IntegrityError(
      `${from.url}/${mKey}: says protocols ${fromManifest.join(', ')}, the download documents say ${protocols.join(', ')}`,
    );

  const rKey = L.storeDir(coords) + L.RECORD_NAME;
  const recordBytes = (await from.get(rKey))?.body;
  if (!recordBytes)
    throw new InputError(
      `${from.url}/${rKey}: no build record, so nothing proves which build staging holds (it was published before Relay wrote records, or by another tool); publish the version to staging again`,
    );
  const record = parseRecord(`${from.url}/${rKey}`, recordBytes);
  const p = record.provider;
  if (p?.namespace !== coords.namespace || p.name !== coords.name || p.version !== coords.version)
    throw new IntegrityError(
      `${from.url}/${rKey}: records ${p?.namespace}/${p?.name} ${p?.version}, not ${coords.namespace}/${coords.name} ${coords.version}`,
    );
  const files = versionSubjects(
    coords,
    checks.map((c) => ({ name: c.filename, sha256: c.shasum })),
    sums,
  );
  checkRecordFiles(record, where, files);
  checkRecordRef(record, where, expectRef);
  const provenance = await readStagedProvenance(from, coords, files);
  log.info(`staging ${coords.version}: verified ${checks.length} platform(s); built from ${record.ref ?? 'an unrecorded ref'}`);
  return {
    root,
    checks,
    sums,
    manifest,
    protocols,
    record,
    recordBytes,
    where,
    signedBy: [...new Set(checks.map((c) => c.keyId))],
    ...(provenance && { provenance }),
  };
}

export interface PromoteInput {
  from: Store;
  coords: L.Coordinates;
  expectRef: string;
  /** Production's key: it signs when it holds the private key; a dry run without it plans the signature. */
  key: Signer;
  registryUrl: URL;
  /** The production store's URL, as the promotion statement names it. */
  store: string;
  immutable: boolean;
  log: Logger;
  /** Context.env: the run and the approvers the promotion statement names. */
  env: Record<string, string | undefined>;
}

/**
 * Verifies staging and builds production's Release from its bytes: the same
 * objects publishing writes (releaseObjects), with staging's zips, SHA256SUMS,
 * manifest and record, and a signature by the production key. On a refusal
 * the temporary directory is removed before the error is thrown.
 */
export async function stagedRelease(
  p: PromoteInput,
): Promise<{ rel: Release; staged: StagedVersion; bindPromotion: (planSha256: string, approved: boolean) => void }> {
  const { coords, log } = p;
  const tmpDir = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-promote-'));
  try {
    const staged = await readStaging(p.from, coords, p.expectRef, tmpDir, log);
    const packages: ZipPackage[] = staged.checks
      .map((c) => {
        const [os_, arch] = c.platform.split('_') as [string, string];
        return {
          os: os_,
          arch,
          filename: c.filename,
          zipPath: c.file!,
          sha256: c.shasum,
          size: c.size,
          h1: c.h1,
          zh: zhHash(c.shasum),
          source: c.url,
        };
      })
      .sort((a, b) => a.filename.localeCompare(b.filename));
    const signature = p.key.key ? await signDetached(p.key as SigningKey, staged.sums) : undefined;
    const mirrorHost = p.registryUrl.host;
    const subjects = versionSubjects(
      coords,
      packages.map((z) => ({ name: z.filename, sha256: z.sha256 })),
      staged.sums,
    );
    const statements = promotionObjects({
      coords,
      immutable: p.immutable,
      env: p.env,
      from: { store: p.from.url, root: staged.root },
      to: { store: p.store, root: p.registryUrl },
      files: subjects,
      buildRef: staged.record.ref,
      ...(staged.provenance && { stagedProvenance: staged.provenance }),
    });
    const objects = releaseObjects({
      coords,
      packages,
      protocols: staged.protocols,
      manifest: staged.manifest,
      sums: staged.sums,
      signature,
      signer: p.key,
      registryUrl: p.registryUrl,
      mirrorHost,
      immutable: p.immutable,
      record: staged.recordBytes,
      statements: statements.objects,
    });
    const rel: Release = {
      coords,
      packages,
      protocols: staged.protocols,
      protocolNote: `${staged.protocols.join(', ')} as staging serves them (its download documents and manifest, copied unchanged)`,
      sums: staged.sums,
      keyId: p.key.keyId,
      entry: versionEntry(coords, packages, staged.protocols),
      objects,
      registryUrl: p.registryUrl,
      mirrorHost,
      record: staged.recordBytes,
      subjects,
      statementKeys: statements.keys,
      warnings: [],
      tmpDir,
    };
    return { rel, staged, bindPromotion: statements.bind };
  } catch (err) {
    await fs.rm(tmpDir, { recursive: true, force: true });
    throw err;
  }
}

/** Production read back must give staging's hashes, platform by platform; an IntegrityError names the first that differs. */
export function checkSameHashes(staged: readonly PlatformCheck[], prod: readonly PlatformCheck[]): void {
  const byPlatform = new Map(prod.map((c) => [c.platform, c]));
  for (const s of staged) {
    const p = byPlatform.get(s.platform);
    if (!p) throw new IntegrityError(`production lacks ${s.platform}, which staging has`);
    if (p.shasum !== s.shasum || p.h1 !== s.h1)
      throw new IntegrityError(
        `${s.platform}: production serves ${zhHash(p.shasum)} ${p.h1}, staging ${zhHash(s.shasum)} ${s.h1}; lock files made against staging would not match`,
      );
  }
  if (prod.length !== staged.length) throw new IntegrityError(`production lists ${prod.length} platforms, staging ${staged.length}`);
}

/** The report's account of the build record and of the hashes production shares with staging. */
export function promotionSections(staged: StagedVersion, from: string): ReportSection[] {
  const r = staged.record;
  const run = r.run;
  return [
    {
      heading: 'Build record (staging, copied to production)',
      table: {
        head: ['', ''],
        rows: [
          ['ref', r.ref ?? '(none: published outside GitHub Actions)'],
          ['repository', r.repository ?? '(none)'],
          ...(run?.id ? [['run', `${run.id}${run.attempt ? ` (attempt ${run.attempt})` : ''}`]] : []),
          ...(run?.workflow ? [['workflow', run.workflow]] : []),
          ...r.sources.map((s) => ['built from', `${s.name} sha256 ${s.sha256}`]),
          ['files', `${r.files.length} (every zip and SHA256SUMS) match what staging holds`],
        ],
      },
    },
    {
      heading: `Hashes: the same in production as in ${from}`,
      table: {
        head: ['platform', 'zh (sha256)', 'h1'],
        rows: staged.checks.map((c) => [c.platform, c.shasum, c.h1]),
      },
      collapsed: true,
    },
  ];
}
