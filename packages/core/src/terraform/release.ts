import { sha256Hex } from '../hash.js';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import { InputError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { SigningKey } from '../signing/key.js';
import { signDetached } from '../signing/key.js';
import type { Body, Store } from '../store/store.js';
import { expandGlob } from '../files/glob.js';
import { json, normaliseProtocols, sameList, sha256Sums, type DownloadDoc, type VersionEntry } from './documents.js';
import * as L from './layout.js';
import { parseTarballName, platformKey } from './names.js';
import { repack, type Package } from './repack.js';

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

/** Everything one version publishes, built locally before the store is touched. */
export interface Release {
  coords: L.Coordinates;
  packages: Package[];
  protocols: string[];
  sums: Buffer;
  signature: Buffer;
  entry: VersionEntry;
  objects: ReleaseObject[];
  mirrorHost: string;
  /** The mirror's per-version archives, for its index. */
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
}

const bufObj = (key: string, body: Buffer, kind: ReleaseObject['kind'], cacheControl: string): ReleaseObject => ({
  key,
  body,
  sha256: sha256Hex(body),
  contentType: contentType(key),
  cacheControl,
  kind,
});
import { contentTypeFor as contentType } from '../store/content-type.js';

/** Files named by `tarballs` (globs or paths, one a line). */
export async function findTarballs(patterns: string[], cwd: string): Promise<string[]> {
  const files = new Set<string>();
  for (const p of patterns) {
    const found = await expandGlob(p, cwd);
    if (found.length === 0) throw new InputError(`input 'tarballs': '${p}' matched no files`);
    found.forEach((f) => files.add(f));
  }
  return [...files];
}

/** Downloads this version's archives from an s3:// staging prefix into dir. */
export async function fetchSource(store: Store, name: string, version: string, dir: string, log: Logger): Promise<string[]> {
  const keys = (await store.list('')).filter((k) => parseTarballName(k, name)?.version === version);
  if (keys.length === 0)
    throw new InputError(`input 'source': ${store.url} has no terraform-provider-${name} archives for version ${version}`);
  const out: string[] = [];
  for (const k of keys) {
    const file = path.join(dir, path.basename(k));
    const s = await store.getStream(k);
    if (!s) throw new InputError(`input 'source': ${store.url}/${k} disappeared while reading`);
    await pipeline(s, createWriteStream(file));
    log.info(`fetched ${k}`);
    out.push(file);
  }
  return out;
}

/**
 * Repacks every archive, writes SHA256SUMS over all platforms at once, signs
 * it (and verifies the signature), and renders every document. Checks that
 * can refuse run here, before anything is written.
 */
export async function buildRelease(r: ReleaseInput): Promise<Release> {
  const { coords, log } = r;
  const parsed = r.files.map((f) => {
    const p = parseTarballName(f, coords.name);
    if (!p) {
      throw new InputError(
        `input 'tarballs': '${path.basename(f)}' is not named terraform-provider-${coords.name}-v<version>-<os>-<arch>-bin.tar.gz or terraform-provider-${coords.name}_<version>_<os>_<arch>.(tar.gz|zip)`,
      );
    }
    if (p.version !== coords.version) {
      throw new InputError(`input 'tarballs': '${path.basename(f)}' is version ${p.version}, but input 'version' is ${coords.version}`);
    }
    return { file: f, p };
  });
  const seen = new Map<string, string>();
  for (const { file, p } of parsed) {
    const k = platformKey(p);
    if (seen.has(k))
      throw new InputError(`input 'tarballs': two archives for ${k}: ${path.basename(seen.get(k)!)} and ${path.basename(file)}`);
    seen.set(k, file);
  }
  if (parsed.length === 0) throw new InputError(`input 'tarballs': no archives given`);

  const tmpDir = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-publish-'));
  const packages: Package[] = [];
  // Two at a time: each repack is one deflate stream, CPU-bound. The first
  // refusal stops the other worker too, and the partial zips are removed.
  const queue = [...parsed];
  let failed = false;
  const worker = async (): Promise<void> => {
    for (let job = queue.shift(); job && !failed; job = queue.shift()) {
      log.progress(`repacking ${path.basename(job.file)}`);
      try {
        packages.push(await repack(job.file, job.p, coords.name, coords.version, tmpDir));
      } catch (err) {
        failed = true;
        throw err;
      }
      log.info(`repacked ${path.basename(job.file)} -> ${packages.at(-1)!.filename}`);
    }
  };
  try {
    await Promise.all([worker(), worker()]);
  } catch (err) {
    await fs.rm(tmpDir, { recursive: true, force: true });
    throw err;
  }
  packages.sort((a, b) => a.filename.localeCompare(b.filename));

  let protocols: string[];
  let sums: Buffer;
  let signature: Buffer;
  let manifest: Buffer;
  try {
    protocols = resolveProtocols(packages, r.protocolsInput, log);
    manifest = json({ version: 1, metadata: { protocol_versions: protocols } });
    sums = sha256Sums([
      ...packages.map((p) => ({ name: p.filename, sha256: p.sha256 })),
      { name: L.manifestName(coords), sha256: sha256Hex(manifest) },
    ]);
    signature = await signDetached(r.key, sums);
  } catch (err) {
    await fs.rm(tmpDir, { recursive: true, force: true });
    throw err;
  }

  const storeCache = r.immutable ? L.CACHE_IMMUTABLE : L.CACHE_MUTABLE;
  const dir = L.storeDir(coords);
  const objects: ReleaseObject[] = [
    ...packages.map((p): ReleaseObject => ({
      key: dir + p.filename,
      body: { path: p.zipPath, size: p.size },
      sha256: p.sha256,
      contentType: 'application/zip',
      cacheControl: storeCache,
      kind: 'store',
    })),
    bufObj(dir + L.manifestName(coords), manifest, 'store', storeCache),
    bufObj(dir + L.sumsName(coords), sums, 'store', storeCache),
    bufObj(dir + L.sigName(coords), signature, 'store', storeCache),
  ];
  const packagesMeta = Object.fromEntries(
    packages.map((p) => [platformKey(p), { hashes: [`zh:${p.sha256}`, p.h1], package_size: p.size }]),
  );
  for (const p of packages) {
    const key = L.downloadKey(coords, p.os, p.arch);
    const doc: DownloadDoc = {
      protocols,
      os: p.os,
      arch: p.arch,
      filename: p.filename,
      download_url: L.relativeUrl(key, dir + p.filename),
      shasums_url: L.relativeUrl(key, dir + L.sumsName(coords)),
      shasums_signature_url: L.relativeUrl(key, dir + L.sigName(coords)),
      shasum: p.sha256,
      signing_keys: {
        gpg_public_keys: [
          {
            key_id: r.key.keyId,
            ascii_armor: r.key.publicArmor,
            trust_signature: '',
            source: coords.namespace,
            source_url: r.registryUrl.href,
          },
        ],
      },
      packages: packagesMeta,
    };
    objects.push(bufObj(key, json(doc), 'document', storeCache));
  }
  const mirrorHost = r.registryUrl.host;
  const mirrorKey = L.mirrorVersionKey(mirrorHost, coords);
  objects.push(
    bufObj(
      mirrorKey,
      json({
        archives: Object.fromEntries(
          packages.map((p) => [platformKey(p), { url: L.relativeUrl(mirrorKey, dir + p.filename), hashes: [p.h1, `zh:${p.sha256}`] }]),
        ),
      }),
      'document',
      storeCache,
    ),
  );
  objects.push(
    bufObj(L.DISCOVERY_KEY, json({ 'providers.v1': new URL('registry/', withSlash(r.registryUrl)).href }), 'shared', L.CACHE_MUTABLE),
  );

  const entry: VersionEntry = { version: coords.version, protocols, platforms: packages.map((p) => ({ os: p.os, arch: p.arch })) };
  return { coords, packages, protocols, sums, signature, entry, objects, mirrorHost, tmpDir };
}

export const withSlash = (u: URL): URL => new URL(u.href.endsWith('/') ? u.href : u.href + '/');

function resolveProtocols(packages: Package[], input: string[], log: Logger): string[] {
  const fromManifests = packages
    .filter((p) => p.manifestProtocols)
    .map((p) => ({ src: p.source, list: normaliseProtocols(p.manifestProtocols!, 'protocols') }));
  for (const m of fromManifests.slice(1)) {
    if (!sameList(m.list, fromManifests[0]!.list)) {
      throw new InputError(
        `tarballs disagree on protocol_versions: ${fromManifests[0]!.src} says ${fromManifests[0]!.list.join(',')}, ${m.src} says ${m.list.join(',')}`,
      );
    }
  }
  const manifest = fromManifests[0]?.list;
  if (input.length > 0) {
    const given = normaliseProtocols(input, 'protocols');
    if (manifest && !sameList(given, manifest)) {
      throw new InputError(
        `input 'protocols': ${given.join(',')} differs from terraform-registry-manifest.json in the tarballs (${manifest.join(',')}); give one or make them agree`,
      );
    }
    return given;
  }
  if (manifest) return manifest;
  log.info('no protocols input and no terraform-registry-manifest.json in the tarballs: using protocol 5.0 (the SDKv2 default)');
  return ['5.0'];
}
