import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { mapLimit, Semaphore } from '../concurrency.js';
import { TransferProgress } from '../log/progress.js';
import { DEFAULTS } from '../defaults.js';
import { sha256Hex } from '../hash.js';
import { sha256Digest } from '../report/plan.js';
import type { Logger } from '../log/logger.js';
import { signDetached, type Signer, type SigningKey } from '../signing/key.js';
import type { Body } from '../store/store.js';
import {
  discoveryDoc,
  downloadDoc,
  json,
  mirrorVersionDoc,
  packagesMeta,
  registryManifestDoc,
  sha256Sums,
  type VersionEntry,
} from './documents.js';
import * as L from './layout.js';
import { platformKey, type Platform } from './names.js';
import { decideProtocols, hostPlatform, type DetectMode, type ProtocolDecision } from './protocols/detect.js';
import { buildContext, recordDigest, renderRecord, sameBuild } from './record.js';
import { builderOf } from '../provenance/builder.js';
import { renderPublishStatement } from '../provenance/build.js';
import { LOCAL_BUILDER, type NamedDigest } from '../provenance/statement.js';
import { provenanceKey, provenanceObject, versionSubjects } from './provenance.js';
import { packZip, unpack, type Package, type Unpacked, type ZipPackage } from './repack.js';
import { identifyArchives } from './sources.js';

/**
 * Building one version locally, before the store is touched: every archive
 * repacked into a deterministic zip, SHA256SUMS signed, and every object the
 * publish writes rendered. Checks that can refuse run here.
 */

/** One object the publish writes, with how it may be written. */
export interface ReleaseObject {
  key: string;
  /** Undefined only for a signature a dry run planned without the private key: never written (see `signs`). */
  body: Body | undefined;
  /** sha256 hex of `body` (of nothing, for an unsigned signature). */
  sha256: string;
  contentType: string;
  cacheControl: string;
  /** store: released bytes; document: per-version JSON (and the build record); shared: discovery */
  kind: 'store' | 'document' | 'shared';
  /**
   * For an object whose bytes may differ between runs of the same build (the
   * build record names the run): why an existing object different from ours
   * is kept, or undefined when it describes something else.
   */
  sameAs?: (existing: Buffer) => string | undefined;
  /**
   * The digest (`sha256:<hex>`) the plan binds when it is not the body's:
   * the build record's without the run it names (terraform/record.ts
   * `recordDigest`), so a dry run and the apply job that follows agree.
   */
  planDigest?: string;
  /** For the signature: the key that signs and the digest of what it signs (`sha256:<hex>` of SHA256SUMS). */
  signs?: { fingerprint: string; over: string };
}

/** Everything one version publishes. */
export interface Release {
  coords: L.Coordinates;
  packages: ZipPackage[];
  protocols: string[];
  /** Which evidence decided the protocols, for the report. */
  protocolNote: string;
  /** SHA256SUMS: planning keeps an existing signature that verifies over these bytes. */
  sums: Buffer;
  /** ID of the key that signed SHA256SUMS (or, in a dry run without the private key, will sign it). */
  keyId: string;
  entry: VersionEntry;
  objects: ReleaseObject[];
  registryUrl: URL;
  mirrorHost: string;
  /** The build record (terraform/record.ts) written next to the version. */
  record: Buffer;
  /** What its provenance attests: every zip and SHA256SUMS, by name and sha256. */
  subjects: NamedDigest[];
  /** The in-toto statements written next to the version (terraform/provenance.ts), by key. */
  statementKeys: string[];
  /** What the report should warn about (executables left out of the zips). */
  warnings: string[];
  /** Where the repacked zips wait to be uploaded; the caller removes it when done. */
  tmpDir: string;
}

export interface ReleaseInput {
  coords: L.Coordinates;
  files: string[];
  protocolsInput: string[];
  /** Signs SHA256SUMS when it holds the private key; without it (a dry run) the signature is only planned. */
  key: Signer;
  registryUrl: URL;
  immutable: boolean;
  log: Logger;
  /** How protocols are read from the provider; default `handshake`. */
  detectProtocols?: DetectMode;
  /** Largest provider executable accepted (max-binary-size). */
  maxBinaryBytes?: number;
  /** How long a provider started for its handshake may take (subprocess-timeout); DEFAULTS.handshakeTimeoutMs if unset. */
  handshakeTimeoutMs?: number;
  signal?: AbortSignal;
  /** Context.env: the GitHub Actions variables the build record and the provenance name (GITHUB_REF, GITHUB_RUN_ID, ...). */
  env?: Record<string, string | undefined>;
  /** The run's non-secret inputs (RunRecord.inputs): the provenance's external parameters. */
  inputs?: Record<string, unknown>;
  /**
   * Told once every archive is unpacked and checked and the protocols are
   * decided, while zips are still compressing: from here on nothing refuses
   * the input, so a fresh version's zips may be written as they come.
   */
  onChecked?: (entry: VersionEntry) => void;
  /** Told of each zip as soon as it is compressed. */
  onPackage?: (p: Package) => void;
}

/**
 * Unpacks and checks every archive, compressing each zip as soon as its
 * archive has passed; decides the protocols once all have (the host's
 * handshake overlaps the compression), and only then tells onChecked; writes
 * SHA256SUMS over all platforms at once, signs it (and verifies the
 * signature), and renders every document. On a refusal the temporary
 * directory is removed before the error is thrown.
 */
export async function buildRelease(r: ReleaseInput): Promise<Release> {
  const { coords, log } = r;
  const archives = identifyArchives(r.files, coords);
  const tmpDir = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-publish-'));
  const mode = r.detectProtocols ?? 'handshake';
  const host = hostPlatform();
  const warnings: string[] = [];
  // Ends the compression early when the protocols refuse (or the run is cancelled).
  const stop = new AbortController();
  const cancel = (): void => stop.abort(r.signal?.reason);
  r.signal?.addEventListener('abort', cancel, { once: true });
  let decided: Promise<ProtocolDecision> | undefined;
  const packs: Promise<Package>[] = [];
  try {
    // mapLimit starts nothing after the first refusal and rejects only once the
    // running ones end, so removing tmpDir then leaves no partial file behind.
    const sizes = await Promise.all(archives.map(async (a) => (await fs.stat(a.file)).size));
    const unpacking = new TransferProgress(
      log,
      'unpacking',
      archives.length,
      sizes.reduce((n, s) => n + s, 0),
    );
    const compressing = new TransferProgress(log, 'compressing', archives.length, 0);
    // Each zip compresses as soon as its archive is checked, while later archives are still read: the
    // cores stay busy. Nothing is written before every archive has passed (onChecked, below).
    const packSlots = new Semaphore(DEFAULTS.repackParallel);
    const pack = async (u: Unpacked): Promise<Package> => {
      const release = await packSlots.acquire(stop.signal);
      try {
        const p = await packZip(u, coords, tmpDir);
        compressing.itemDone();
        log.info(`compressed ${p.filename}`);
        r.onPackage?.(p);
        return p;
      } finally {
        release();
      }
    };
    const unpacked = await mapLimit(
      archives,
      DEFAULTS.repackParallel,
      async (a, i) => {
        let read = 0;
        const forHost = mode === 'handshake' && !!host && a.os === host.os && a.arch === host.arch && process.platform !== 'win32';
        const u = await unpack(a, coords, path.join(tmpDir, 'exe'), {
          onBytes: (n) => {
            read += n;
            unpacking.add(n);
          },
          maxBinaryBytes: r.maxBinaryBytes,
          capture: mode === 'off' ? undefined : forHost ? { exeFile: path.join(tmpDir, `run-${platformKey(a)}`, 'bin', 'provider') } : {},
        });
        unpacking.add(sizes[i]! - read); // zips report no bytes on the way
        unpacking.itemDone();
        log.info(`checked ${u.source}`);
        for (const x of u.leftOut) {
          const w = `tarball '${u.source}': ${x.entry} is ${x.what}; the registry's zip carries only the provider executable, so it is left out`;
          log.warn(w);
          warnings.push(w);
        }
        const p = pack(u);
        p.catch(() => undefined); // awaited below, after the protocols; or settled on a refusal
        packs.push(p);
        return u;
      },
      r.signal,
    );
    unpacked.sort((a, b) => platformKey(a).localeCompare(platformKey(b)));
    decided = decideProtocols(unpacked, r.protocolsInput, {
      mode,
      log,
      signal: stop.signal,
      host,
      handshakeTimeoutMs: r.handshakeTimeoutMs,
    });
    const packing = Promise.all(packs);
    packing.catch(() => undefined); // awaited below, after the protocols
    const { protocols, note: protocolNote } = await decided;
    const entry = versionEntry(coords, unpacked, protocols);
    r.onChecked?.(entry);
    const packages = await packing;
    packages.sort((a, b) => a.filename.localeCompare(b.filename));
    const manifest = json(registryManifestDoc(protocols));
    const sums = sha256Sums([
      ...packages.map((p) => ({ name: p.filename, sha256: p.sha256 })),
      { name: L.manifestName(coords), sha256: sha256Hex(manifest) },
    ]);
    const signature = r.key.key ? await signDetached(r.key as SigningKey, sums) : undefined;
    const mirrorHost = r.registryUrl.host;
    const record = renderRecord(
      coords,
      buildContext(r.env ?? {}),
      packages.map((p) => ({ name: p.source, sha256: p.sourceSha256 })),
      [...packages.map((p) => ({ name: p.filename, sha256: p.sha256 })), { name: L.sumsName(coords), sha256: sha256Hex(sums) }],
    );
    const subjects = versionSubjects(
      coords,
      packages.map((p) => ({ name: p.filename, sha256: p.sha256 })),
      sums,
    );
    const provenance = renderPublishStatement({
      provider: { namespace: coords.namespace, name: coords.name, version: coords.version },
      subjects,
      sources: packages.map((p) => ({ name: p.source, sha256: p.sourceSha256 })),
      inputs: r.inputs ?? {},
      builder: builderOf(r.env ?? {}, LOCAL_BUILDER),
    });
    const statements = [provenanceObject(coords, provenance, r.immutable)];
    const objects = releaseObjects({ ...r, signer: r.key, packages, protocols, manifest, sums, signature, mirrorHost, record, statements });
    return {
      coords,
      packages,
      protocols,
      protocolNote,
      sums,
      keyId: r.key.keyId,
      entry,
      objects,
      registryUrl: r.registryUrl,
      mirrorHost,
      record,
      subjects,
      statementKeys: [provenanceKey(coords)],
      warnings: warnings.sort(),
      tmpDir,
    };
  } catch (err) {
    // A handshake or a compression under way must end before its files go.
    stop.abort();
    await Promise.allSettled([decided, ...packs]);
    await fs.rm(tmpDir, { recursive: true, force: true });
    throw err;
  } finally {
    r.signal?.removeEventListener('abort', cancel);
  }
}

/** The version's entry in `versions`. */
export const versionEntry = (coords: L.Coordinates, packages: readonly Platform[], protocols: string[]): VersionEntry => ({
  version: coords.version,
  protocols,
  platforms: packages.map((p) => ({ os: p.os, arch: p.arch })),
});

const bufferObject = (key: string, body: Buffer, kind: ReleaseObject['kind'], cacheControl: string): ReleaseObject => ({
  key,
  body,
  sha256: sha256Hex(body),
  contentType: L.contentTypeFor(key),
  cacheControl,
  kind,
});

/**
 * Every object in write order: released bytes, the build record and the
 * per-version documents, then discovery. Publishing and promotion both build
 * their objects here, so the two write the same tree.
 */
export function releaseObjects(o: {
  coords: L.Coordinates;
  packages: readonly ZipPackage[];
  protocols: string[];
  manifest: Buffer;
  sums: Buffer;
  /** Undefined in a dry run without the private key: the signature row is then planned, not made. */
  signature: Buffer | undefined;
  signer: Pick<Signer, 'keyId' | 'publicArmor' | 'fingerprint'>;
  registryUrl: URL;
  mirrorHost: string;
  immutable: boolean;
  record: Buffer;
  /** The in-toto statements (terraform/provenance.ts), written with the record: after the files they describe. */
  statements?: readonly ReleaseObject[];
}): ReleaseObject[] {
  const { coords, packages } = o;
  const cache = o.immutable ? L.CACHE_IMMUTABLE : L.CACHE_MUTABLE;
  const dir = L.storeDir(coords);
  const meta = packagesMeta(packages);
  return [
    ...packages.map((p) => packageObject(coords, p, o.immutable)),
    bufferObject(dir + L.manifestName(coords), o.manifest, 'store', cache),
    bufferObject(dir + L.sumsName(coords), o.sums, 'store', cache),
    signatureObject(dir + L.sigName(coords), o.signature, o.signer.fingerprint, o.sums, cache),
    // after the files it describes: a crash between them leaves a record that no longer matches, which promotion refuses
    {
      ...bufferObject(dir + L.RECORD_NAME, o.record, 'document', cache),
      sameAs: (existing: Buffer) => sameBuild(existing, o.record, o.immutable),
      planDigest: recordDigest(o.record),
    },
    ...(o.statements ?? []),
    ...packages.map((pkg) =>
      bufferObject(
        L.downloadKey(coords, pkg.os, pkg.arch),
        json(downloadDoc({ coords, pkg, protocols: o.protocols, signer: o.signer, registryUrl: o.registryUrl, packages: meta })),
        'document',
        cache,
      ),
    ),
    bufferObject(L.mirrorVersionKey(o.mirrorHost, coords), json(mirrorVersionDoc(coords, o.mirrorHost, packages)), 'document', cache),
    discoveryObject(o.registryUrl),
  ];
}

/**
 * The detached signature of SHA256SUMS. Its bytes carry their creation time,
 * so the plan binds the signing key's fingerprint and what it signs instead;
 * a dry run without the private key has no bytes, only that.
 */
export const signatureObject = (
  key: string,
  signature: Buffer | undefined,
  fingerprint: string,
  sums: Buffer,
  cacheControl: string,
): ReleaseObject => ({
  key,
  body: signature,
  sha256: sha256Hex(signature ?? Buffer.alloc(0)),
  contentType: L.contentTypeFor(key),
  cacheControl,
  kind: 'store',
  signs: { fingerprint, over: sha256Digest(sha256Hex(sums)) },
});

/** A platform's zip as the store holds it. */
export const packageObject = (coords: L.Coordinates, p: ZipPackage, immutable: boolean): ReleaseObject & { body: Body } => ({
  key: L.storeDir(coords) + p.filename,
  body: { path: p.zipPath, size: p.size },
  sha256: p.sha256,
  contentType: L.contentTypeFor(p.filename),
  cacheControl: immutable ? L.CACHE_IMMUTABLE : L.CACHE_MUTABLE,
  kind: 'store',
});

/** The discovery document, shared by every provider the registry serves. */
export const discoveryObject = (registryUrl: URL): ReleaseObject =>
  bufferObject(L.DISCOVERY_KEY, json(discoveryDoc(registryUrl)), 'shared', L.CACHE_MUTABLE);
