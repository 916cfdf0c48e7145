import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { mapLimit } from '../concurrency.js';
import { TransferProgress } from '../log/progress.js';
import { DEFAULTS } from '../defaults.js';
import { sha256Hex } from '../hash.js';
import type { Logger } from '../log/logger.js';
import { signDetached, type SigningKey } from '../signing/key.js';
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
import { decideProtocols, type DetectMode } from './protocols/detect.js';
import { repack, type Package } from './repack.js';
import { identifyArchives } from './sources.js';

/**
 * Building one version locally, before the store is touched: every archive
 * repacked into a deterministic zip, SHA256SUMS signed, and every object the
 * publish writes rendered. Checks that can refuse run here.
 */

/** One object the publish writes, with how it may be written. */
export interface ReleaseObject {
  key: string;
  body: Body;
  sha256: string;
  contentType: string;
  cacheControl: string;
  /** store: released bytes; document: per-version JSON; shared: discovery */
  kind: 'store' | 'document' | 'shared';
}

/** Everything one version publishes. */
export interface Release {
  coords: L.Coordinates;
  packages: Package[];
  protocols: string[];
  /** Which evidence decided the protocols, for the report. */
  protocolNote: string;
  /** SHA256SUMS: planning keeps an existing signature that verifies over these bytes. */
  sums: Buffer;
  /** ID of the key that signed SHA256SUMS. */
  keyId: string;
  entry: VersionEntry;
  objects: ReleaseObject[];
  registryUrl: URL;
  mirrorHost: string;
  /** Where the repacked zips wait to be uploaded; the caller removes it when done. */
  tmpDir: string;
}

export interface ReleaseInput {
  coords: L.Coordinates;
  files: string[];
  protocolsInput: string[];
  key: SigningKey;
  registryUrl: URL;
  immutable: boolean;
  log: Logger;
  /** How protocols are read from the provider; default `handshake`. */
  detectProtocols?: DetectMode;
  /** Largest provider executable accepted (max-binary-size). */
  maxBinaryBytes?: number;
  signal?: AbortSignal;
}

/**
 * Repacks every archive, writes SHA256SUMS over all platforms at once, signs
 * it (and verifies the signature), and renders every document. On a refusal
 * the temporary directory is removed before the error is thrown.
 */
export async function buildRelease(r: ReleaseInput): Promise<Release> {
  const { coords, log } = r;
  const archives = identifyArchives(r.files, coords);
  const tmpDir = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-publish-'));
  try {
    // mapLimit starts nothing after the first refusal and rejects only once the
    // running repacks end, so removing tmpDir then leaves no partial zip behind.
    const sizes = await Promise.all(archives.map(async (a) => (await fs.stat(a.file)).size));
    const progress = new TransferProgress(
      log,
      'repacking',
      archives.length,
      sizes.reduce((n, s) => n + s, 0),
    );
    const packages = await mapLimit(
      archives,
      DEFAULTS.repackParallel,
      async (a, i) => {
        let read = 0;
        const p = await repack(
          a,
          coords,
          tmpDir,
          (n) => {
            read += n;
            progress.add(n);
          },
          r.maxBinaryBytes,
        );
        progress.add(sizes[i]! - read); // zips report no bytes on the way
        progress.itemDone();
        log.info(`repacked ${path.basename(a.file)} -> ${p.filename}`);
        return p;
      },
      r.signal,
    );
    packages.sort((a, b) => a.filename.localeCompare(b.filename));
    const { protocols, note: protocolNote } = await decideProtocols(packages, r.protocolsInput, {
      mode: r.detectProtocols ?? 'handshake',
      log,
      signal: r.signal,
    });
    const manifest = json(registryManifestDoc(protocols));
    const sums = sha256Sums([
      ...packages.map((p) => ({ name: p.filename, sha256: p.sha256 })),
      { name: L.manifestName(coords), sha256: sha256Hex(manifest) },
    ]);
    const signature = await signDetached(r.key, sums);
    const mirrorHost = r.registryUrl.host;
    const objects = releaseObjects({ ...r, packages, protocols, manifest, sums, signature, mirrorHost });
    const entry: VersionEntry = { version: coords.version, protocols, platforms: packages.map((p) => ({ os: p.os, arch: p.arch })) };
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
      tmpDir,
    };
  } catch (err) {
    await fs.rm(tmpDir, { recursive: true, force: true });
    throw err;
  }
}

const bufferObject = (key: string, body: Buffer, kind: ReleaseObject['kind'], cacheControl: string): ReleaseObject => ({
  key,
  body,
  sha256: sha256Hex(body),
  contentType: L.contentTypeFor(key),
  cacheControl,
  kind,
});

/** Every object in write order: released bytes, per-version documents, then discovery. */
function releaseObjects(o: {
  coords: L.Coordinates;
  packages: Package[];
  protocols: string[];
  manifest: Buffer;
  sums: Buffer;
  signature: Buffer;
  key: SigningKey;
  registryUrl: URL;
  mirrorHost: string;
  immutable: boolean;
}): ReleaseObject[] {
  const { coords, packages } = o;
  const cache = o.immutable ? L.CACHE_IMMUTABLE : L.CACHE_MUTABLE;
  const dir = L.storeDir(coords);
  const meta = packagesMeta(packages);
  return [
    ...packages.map((p): ReleaseObject => ({
      key: dir + p.filename,
      body: { path: p.zipPath, size: p.size },
      sha256: p.sha256,
      contentType: L.contentTypeFor(p.filename),
      cacheControl: cache,
      kind: 'store',
    })),
    bufferObject(dir + L.manifestName(coords), o.manifest, 'store', cache),
    bufferObject(dir + L.sumsName(coords), o.sums, 'store', cache),
    bufferObject(dir + L.sigName(coords), o.signature, 'store', cache),
    ...packages.map((pkg) =>
      bufferObject(
        L.downloadKey(coords, pkg.os, pkg.arch),
        json(downloadDoc({ coords, pkg, protocols: o.protocols, signer: o.key, registryUrl: o.registryUrl, packages: meta })),
        'document',
        cache,
      ),
    ),
    bufferObject(L.mirrorVersionKey(o.mirrorHost, coords), json(mirrorVersionDoc(coords, o.mirrorHost, packages)), 'document', cache),
    bufferObject(L.DISCOVERY_KEY, json(discoveryDoc(o.registryUrl)), 'shared', L.CACHE_MUTABLE),
  ];
}
