import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { openZipEntry, readZipDirectory } from '../archive/zip-reader.js';
import { mapLimit, Semaphore, sleep } from '../concurrency.js';
import { DEFAULTS } from '../defaults.js';
import { IntegrityError, RemoteError } from '../errors.js';
import type { HttpClient } from '../http/client.js';
import { parseJsonObject, readLimited } from '../json.js';
import type { Logger } from '../log/logger.js';
import { isRetryableStatus } from '../retry.js';
import { ZLIB_CHUNK } from '../archive/zip-writer.js';
import { verifyDetached } from '../signing/key.js';
import type { Store } from '../store/store.js';
import type { DownloadDoc, MirrorIndexDoc, MirrorVersionDoc, VersionsDoc } from './documents.js';
import { h1ForSingleFile, zhHash } from './hashes.js';
import { HashingStream } from '../hash.js';
import { contentTypeFor } from './layout.js';
import { isVersion, platformKey, type Platform } from './names.js';

/** How the walker reads: over HTTP like Terraform, or straight from a store. */
export interface Reader {
  /** `contentUpTo`: the body is a package of at most this many bytes (HttpClient's deadline grows with it). */
  get(url: URL, contentUpTo?: number): Promise<{ status: number; contentType: string | undefined; url: URL; body: Readable }>;
}

/** Over HTTP(S) like Terraform, through the project's one HTTP client (redirects, retries). */
export function httpReader(client: HttpClient): Reader {
  return {
    async get(url, contentUpTo) {
      const res = await client.request({
        url: url.href,
        headers: { accept: 'application/json, */*' },
        ...(contentUpTo !== undefined && { contentUpTo }),
      });
      return { status: res.status, contentType: res.header('content-type'), url: res.url, body: res.body };
    },
  };
}

/**
 * The store seen through the public URL space it is served at (`base` is
 * registry-url), with the Content-Type the store holds (S3), or the one the
 * registry layout gives the key (a file store keeps none): the same walk
 * checks a store before (or without) its CDN. Where a static server's copy can
 * lag the store (a directory), the walk reads that copy, as a client would;
 * with `servedCurrent`, a copy behind the store's content is an error naming
 * both (a writer killed before it caught the copy up; a re-run repairs it).
 */
export function storeReader(store: Store, base: URL, o: { servedCurrent?: boolean } = {}): Reader {
  const notFound = (url: URL) => ({ status: 404, contentType: undefined, url, body: Readable.from([]) });
  return {
    async get(url) {
      if (url.origin !== base.origin || !url.pathname.startsWith(base.pathname)) return notFound(url);
      const key = decodeURIComponent(url.pathname.slice(base.pathname.length));
      if (store.served) {
        if (o.servedCurrent) await refuseBehind(store, key);
        const got = await store.served.open(key);
        return got ? { status: 200, contentType: contentTypeFor(key), url, body: got.body } : notFound(url);
      }
      const info = await store.head(key);
      const s = info && (await store.getStream(key));
      if (!s) return notFound(url);
      return { status: 200, contentType: info.contentType ?? contentTypeFor(key), url, body: s };
    },
  };
}

/**
 * A served copy behind the store's content. A writer that is still running
 * catches it up within moments, so it is looked at again once after
 * DEFAULTS.servedCatchUpMs; still behind, it was left so.
 */
async function refuseBehind(store: Store, key: string): Promise<void> {
  if (!(await store.served!.behind(key))) return;
  await sleep(DEFAULTS.servedCatchUpMs);
  const lag = await store.served!.behind(key);
  if (lag)
    throw new IntegrityError(
      `${store.url}/${lag.served} is behind its newest generation ${store.url}/${lag.newest}: a static server shows the older content (a publish was stopped before it caught up; re-run it to repair)`,
    );
}

/** A document or checksum file, whole, refused past DEFAULTS.maxDocumentBytes. */
async function readSmall(r: Reader, url: URL, what: string): Promise<{ body: Buffer; url: URL; contentType?: string }> {
  const res = await r.get(url);
  if (res.status !== 200) {
    res.body.resume();
    const msg = `${what} ${url.href}: HTTP ${res.status} (Terraform needs 200)`;
    // A server that keeps failing is the remote's fault (exit 3); any other answer means the registry is wrong.
    throw isRetryableStatus(res.status) ? new RemoteError(msg) : new IntegrityError(msg);
  }
  const body = await readLimited(res.body, DEFAULTS.maxDocumentBytes, `${what} ${url.href}`);
  return { body, url: res.url, contentType: res.contentType };
}

/** A JSON object, refused in one line naming the document (`<what> <url>: not valid JSON`); the caller checks its fields. */
const parseDoc = <T>(b: Buffer, what: string, url: URL): T => parseJsonObject(b, `${what} ${url.href}`) as T;

function resolveHttp(ref: string, base: URL, what: string): URL {
  let u: URL;
  try {
    u = new URL(ref, base);
  } catch {
    throw new IntegrityError(`${what}: invalid URL ${JSON.stringify(ref)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new IntegrityError(`${what}: ${u.href} must use http or https`);
  }
  return u;
}

export interface VerifyTarget {
  /** registry-url with a trailing slash: where .well-known/terraform.json is served. */
  root: URL;
  namespace: string;
  name: string;
  /** Check only these versions; all listed ones when empty. */
  versions: string[];
  /** The network mirror's host segment; skip the mirror when undefined. */
  mirrorHost?: string;
}

export interface PlatformCheck {
  version: string;
  platform: string;
  filename: string;
  shasum: string;
  h1: string;
  size: number;
  keyId: string;
  /** Where the package was fetched and checked. */
  url: string;
  /** The download document's protocols. */
  protocols: string[];
  /** The SHA256SUMS bytes the package and signature were checked against. */
  sums: Buffer;
  /** The package, kept on disk (VerifyOptions.keepDir). */
  file?: string;
}

/** A package read back and checked: its sha256, size and h1 as the client computes them. */
export interface PackageRead {
  sha256: string;
  size: number;
  h1: string;
}

export interface VerifyOptions {
  /**
   * Packages already read back and checked (PackageReadBack), by URL: the
   * walk takes their results rather than downloading them again.
   */
  packages?: ReadonlyMap<string, Promise<PackageRead>>;
  /** Keep every package checked in this directory, under its file name (promotion copies those very bytes). */
  keepDir?: string;
}

/**
 * Walks a registry exactly as `terraform init` does and applies its checks:
 * discovery (200, application/json, providers.v1 ending in '/'), versions
 * (no invalid strings), each download document (os/arch echo, 64-hex shasum,
 * protocols within 5..6, http(s) URLs), SHA256SUMS (no blank lines, filename
 * present with the same hash), the binary signature against the listed keys,
 * the zip's sha256, its flat layout with exec bits, OpenTofu's `packages`,
 * and the network mirror's h1/zh hashes.
 */
export async function verifyRegistry(r: Reader, t: VerifyTarget, log: Logger, o: VerifyOptions = {}): Promise<PlatformCheck[]> {
  const discoUrl = new URL('.well-known/terraform.json', t.root);
  const disco = await readSmall(r, discoUrl, 'discovery document');
  const mt = (disco.contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (mt !== 'application/json')
    throw new IntegrityError(`discovery document ${discoUrl.href}: Content-Type is "${mt}", Terraform requires application/json`);
  const svc = parseDoc<Record<string, unknown>>(disco.body, 'discovery document', discoUrl)['providers.v1'];
  if (typeof svc !== 'string') throw new IntegrityError(`discovery document ${discoUrl.href}: no "providers.v1" string`);
  if (!svc.endsWith('/'))
    throw new IntegrityError(
      `discovery document ${discoUrl.href}: providers.v1 "${svc}" must end in '/' (Terraform drops its last segment otherwise)`,
    );
  const base = resolveHttp(svc, disco.url, 'providers.v1');

  const vUrl = new URL(`${t.namespace}/${t.name}/versions`, base);
  const vRes = await readSmall(r, vUrl, 'versions index');
  const vdoc = parseDoc<VersionsDoc>(vRes.body, 'versions index', vUrl);
  if (!Array.isArray(vdoc.versions)) throw new IntegrityError(`versions index ${vUrl.href}: no "versions" array`);
  const seen = new Set<string>();
  for (const v of vdoc.versions) {
    if (typeof v?.version !== 'string' || !isVersion(v.version))
      throw new IntegrityError(
        `versions index ${vUrl.href}: invalid version string ${JSON.stringify(v?.version)} (breaks every install on OpenTofu)`,
      );
    if (seen.has(v.version)) throw new IntegrityError(`versions index ${vUrl.href}: ${v.version} listed twice`);
    seen.add(v.version);
  }
  const wanted = t.versions.length ? t.versions : [...seen];
  for (const w of wanted) if (!seen.has(w)) throw new IntegrityError(`versions index ${vUrl.href}: does not list ${w}`);

  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-verify-'));
  const results: PlatformCheck[] = [];
  try {
    for (const version of wanted) {
      const entry = vdoc.versions.find((v) => v.version === version)!;
      if (!Array.isArray(entry.platforms) || entry.platforms.length === 0)
        throw new IntegrityError(`versions index ${vUrl.href}: ${version} lists no platforms`);
      const sumsCache = new Map<string, Buffer>();
      const allPlatforms = entry.platforms.map(platformKey);
      const checked = await mapLimit(entry.platforms, DEFAULTS.verifyParallel, (platform) => {
        log.progress(`verifying ${version} ${platformKey(platform)}`);
        return verifyPlatform({ reader: r, base, target: t, version, platform, allPlatforms, tmp, sumsCache, opts: o });
      });
      results.push(...checked);
      if (t.mirrorHost) await verifyMirror(r, t, version, checked);
      log.info(`verified ${t.namespace}/${t.name} ${version}: ${entry.platforms.length} platform(s)`);
    }
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
  return results;
}

interface PlatformJob {
  reader: Reader;
  /** The providers.v1 service URL. */
  base: URL;
  target: VerifyTarget;
  version: string;
  platform: Platform;
  /** Every platform the version lists, as `os_arch`: OpenTofu's `packages` must list exactly these. */
  allPlatforms: string[];
  /** Where the package is downloaded to be hashed. */
  tmp: string;
  /** SHA256SUMS by URL, read once per version. */
  sumsCache: Map<string, Buffer>;
  opts: VerifyOptions;
}

async function verifyPlatform(job: PlatformJob): Promise<PlatformCheck> {
  const { reader: r, target: t, version, allPlatforms, sumsCache } = job;
  const { os: os_, arch } = job.platform;
  const key = platformKey(job.platform);
  const dUrl = new URL(`${t.namespace}/${t.name}/${version}/download/${os_}/${arch}`, job.base);
  const what = `download document ${dUrl.href}`;
  const d = await readSmall(r, dUrl, 'download document');
  const doc = parseDoc<DownloadDoc>(d.body, 'download document', dUrl);
  for (const p of doc.protocols ?? []) if (!/^\d+(\.\d+)?$/.test(p)) throw new IntegrityError(`${what}: invalid protocol version "${p}"`);
  if ((doc.protocols ?? []).length > 0 && !doc.protocols.some((p) => ['5', '6'].includes(p.split('.')[0]!))) {
    throw new IntegrityError(`${what}: protocols ${doc.protocols.join(',')} are outside Terraform's supported >= 5, < 7`);
  }
  if (doc.os !== os_ || doc.arch !== arch)
    throw new IntegrityError(`${what}: has os/arch ${platformKey(doc)}, Terraform requires it to echo ${key}`);
  if (typeof doc.shasum !== 'string' || !/^[0-9a-f]{64}$/i.test(doc.shasum))
    throw new IntegrityError(`${what}: shasum must be 64 hex characters`);
  const zipUrl = resolveHttp(doc.download_url, d.url, `${what} download_url`);
  const sumsUrl = resolveHttp(doc.shasums_url, d.url, `${what} shasums_url`);
  const sigUrl = resolveHttp(doc.shasums_signature_url, d.url, `${what} shasums_signature_url`);

  const sums = sumsCache.get(sumsUrl.href) ?? (await readSmall(r, sumsUrl, 'SHA256SUMS')).body;
  sumsCache.set(sumsUrl.href, sums);
  const lines = sums.toString('utf8').split('\n');
  if (lines.slice(0, -1).some((l) => l.trim() === ''))
    throw new IntegrityError(`SHA256SUMS ${sumsUrl.href}: has a blank line (Terraform panics on it)`);
  const line = lines.map((l) => l.trim().split(/\s+/)).find((f) => f[1] === doc.filename);
  if (!line) throw new IntegrityError(`SHA256SUMS ${sumsUrl.href}: checksum list has no SHA-256 hash for "${doc.filename}"`);
  if (line[0]!.toLowerCase() !== doc.shasum.toLowerCase())
    throw new IntegrityError(`SHA256SUMS ${sumsUrl.href}: hash for ${doc.filename} is ${line[0]}, download document says ${doc.shasum}`);

  const sig = (await readSmall(r, sigUrl, 'signature')).body;
  if (sig.subarray(0, 5).toString() === '-----')
    throw new IntegrityError(`signature ${sigUrl.href}: is ASCII-armored; Terraform needs a binary signature`);
  const keys = doc.signing_keys?.gpg_public_keys ?? [];
  if (keys.length === 0)
    throw new IntegrityError(`${what}: lists no gpg_public_keys (OpenTofu requires a signature for every custom registry)`);
  if (keys.some((k) => k.trust_signature !== '' && k.trust_signature !== undefined))
    throw new IntegrityError(`${what}: trust_signature must be empty (it is checked against HashiCorp's partner key)`);
  const keyId = await verifyDetached(
    sums,
    sig,
    keys.map((k) => k.ascii_armor),
  );
  if (!keyId)
    throw new IntegrityError(
      `signature ${sigUrl.href}: authentication signature from unknown issuer (does not verify with the listed keys)`,
    );

  const kept = job.opts.keepDir ? path.join(job.opts.keepDir, path.basename(doc.filename)) : undefined;
  // As Terraform: the archive's checksum first, then its content.
  const checksum = (sha256: string): void => {
    if (sha256 !== doc.shasum.toLowerCase())
      throw new IntegrityError(`package ${zipUrl.href}: archive has incorrect checksum ${zhHash(sha256)} (expected ${zhHash(doc.shasum)})`);
  };
  const pkg = await (job.opts.packages?.get(zipUrl.href) ??
    fetchPackage(r, zipUrl, t.name, kept ?? path.join(job.tmp, `${version}_${key}.zip`), checksum));
  const { sha256, size, h1 } = pkg;
  const zh = zhHash(sha256);
  checksum(sha256);

  if (doc.packages !== undefined) {
    const keysInPkgs = Object.keys(doc.packages).sort();
    if (JSON.stringify(keysInPkgs) !== JSON.stringify([...allPlatforms].sort()))
      throw new IntegrityError(
        `${what}: "packages" must list exactly the version's platforms (${allPlatforms.join(', ')}), lists ${keysInPkgs.join(', ')}`,
      );
    const mine = doc.packages[key]!;
    if (mine.package_size !== size)
      throw new IntegrityError(`${what}: packages.${key}.package_size is ${mine.package_size}, the archive has ${size} bytes`);
    if (!mine.hashes.includes(zh) || mine.hashes.some((x) => x.startsWith('zh:') && x !== zh))
      throw new IntegrityError(`${what}: packages.${key} zh hash differs from shasum`);
    if (mine.hashes.some((x) => x.startsWith('h1:') && x !== h1))
      throw new IntegrityError(`${what}: packages.${key} h1 hash differs from the archive's (${h1})`);
  }
  return {
    version,
    platform: key,
    filename: doc.filename,
    shasum: sha256,
    h1,
    size,
    keyId,
    url: zipUrl.href,
    protocols: doc.protocols ?? [],
    sums,
    ...(kept ? { file: kept } : {}),
  };
}

/**
 * Downloads a package to `file` as Terraform does, hashing it on the way, and
 * checks its layout: sha256, size and h1. `checksum` judges the sha256 before
 * the content is looked at, as Terraform does.
 */
export async function fetchPackage(
  r: Reader,
  zipUrl: URL,
  name: string,
  file: string,
  checksum: (sha256: string) => void,
): Promise<PackageRead> {
  const { sha256, size } = await hashPackage(r, zipUrl, file);
  checksum(sha256);
  const h1 = await checkZipLayout(file, name, zipUrl.href);
  return { sha256, size, h1 };
}

/** A package's sha256 and size as it streams from the registry; saved to `file` when one is given. */
async function hashPackage(r: Reader, zipUrl: URL, file?: string): Promise<{ sha256: string; size: number }> {
  // A package may be large: its deadline grows with its size (Content-Length, at most the largest executable accepted).
  const res = await r.get(zipUrl, DEFAULTS.maxBinaryBytes);
  if (res.status !== 200) {
    res.body.resume();
    throw new IntegrityError(`package ${zipUrl.href}: HTTP ${res.status}`);
  }
  const hashing = new HashingStream();
  if (file) await pipeline(res.body, hashing, createWriteStream(file, { highWaterMark: ZLIB_CHUNK }));
  else await pipeline(res.body, hashing, new Writable({ write: (_c, _e, cb) => cb() }));
  return { sha256: hashing.sha256(), size: hashing.size };
}

/**
 * Reads packages back as soon as they are written, a few at once, while the
 * rest upload: each is downloaded, its sha256 compared with what was written,
 * and its layout and h1 checked (fetchPackage). `settled` waits for all and
 * throws the first failure (the publish then stops before its commit point);
 * the final walk takes the results from `results`.
 */
export class PackageReadBack {
  readonly results = new Map<string, Promise<PackageRead>>();
  private readonly slots: Semaphore;
  private n = 0;
  constructor(
    private readonly reader: Reader,
    private readonly name: string,
    private readonly dir: string,
    parallel: number,
    private readonly signal?: AbortSignal,
  ) {
    this.slots = new Semaphore(parallel);
  }

  /**
   * `h1`: the hash Relay computed from these very bytes as it made (or
   * verified) them. A read-back with the same sha256 is then the same bytes,
   * so it is hashed as it streams, not saved and inflated again.
   */
  start(url: URL, sha256: string, h1?: string): void {
    if (this.results.has(url.href)) return; // already under way (a zip written ahead of the plan)
    const file = path.join(this.dir, `readback-${this.n++}.zip`);
    const p = (async (): Promise<PackageRead> => {
      const release = await this.slots.acquire(this.signal);
      try {
        const check = (got: string): void => {
          if (got !== sha256) throw new IntegrityError(`package ${url.href}: reads back with sha256 ${got}, but ${sha256} was written`);
        };
        if (h1 !== undefined) {
          const { sha256: got, size } = await hashPackage(this.reader, url);
          check(got);
          return { sha256: got, size, h1 };
        }
        return await fetchPackage(this.reader, url, this.name, file, check);
      } finally {
        release();
        await fs.rm(file, { force: true });
      }
    })();
    p.catch(() => undefined); // observed by settled() or the walk
    this.results.set(url.href, p);
  }

  /** Every read-back done; the first failure thrown. */
  async settled(): Promise<void> {
    for (const p of this.results.values()) await p;
  }

  /** Every read-back ended, failed or not (before its directory is removed). */
  async idle(): Promise<void> {
    await Promise.allSettled(this.results.values());
  }
}

/** The zip must hold the executable at top level, with exec bits, and nothing that changes h1. */
async function checkZipLayout(file: string, name: string, where: string): Promise<string> {
  const entries = await readZipDirectory(file).catch((e: Error) => {
    throw new IntegrityError(`package ${where}: not a readable zip (${e.message})`);
  });
  if (entries.some((e) => e.name.endsWith('/')))
    throw new IntegrityError(`package ${where}: has directory entries (they change the h1 hash)`);
  const exe = entries.find((e) => new RegExp(`^terraform-provider-${name}([_.].*)?$`).test(e.name));
  if (!exe)
    throw new IntegrityError(`package ${where}: could not find executable file starting with terraform-provider-${name} at the top level`);
  if ((exe.mode & 0o111) === 0)
    throw new IntegrityError(`package ${where}: ${exe.name} has no exec bits (Terraform would install a provider it cannot run)`);
  if (entries.length !== 1) throw new IntegrityError(`package ${where}: expected exactly one file, found ${entries.length}`);
  const h = createHash('sha256');
  try {
    await pipeline(await openZipEntry(file, exe), h);
  } catch (e) {
    throw new IntegrityError(`package ${where}: ${exe.name} cannot be read back (${(e as Error).message})`);
  }
  return h1ForSingleFile(h.digest('hex'), exe.name);
}

/** The version's checked packages, as the static network mirror lists them. */
async function verifyMirror(r: Reader, t: VerifyTarget, version: string, checks: PlatformCheck[]): Promise<void> {
  const base = new URL(`mirror/${t.mirrorHost}/${t.namespace}/${t.name}/`, t.root);
  const idxUrl = new URL('index.json', base);
  const idx = parseDoc<Partial<MirrorIndexDoc>>((await readSmall(r, idxUrl, 'mirror index')).body, 'mirror index', idxUrl);
  if (!idx.versions || !(version in idx.versions)) throw new IntegrityError(`mirror index ${idxUrl.href}: does not list ${version}`);
  const vUrl = new URL(`${version}.json`, base);
  const v = await readSmall(r, vUrl, 'mirror version document');
  const doc = parseDoc<Partial<MirrorVersionDoc>>(v.body, 'mirror version document', vUrl);
  for (const c of checks) {
    const a = doc.archives?.[c.platform];
    if (!a) throw new IntegrityError(`mirror ${vUrl.href}: no archive for ${c.platform}`);
    const hashes = a.hashes ?? [];
    const zh = zhHash(c.shasum);
    if (!hashes.includes(c.h1) || !hashes.includes(zh))
      throw new IntegrityError(`mirror ${vUrl.href}: ${c.platform} hashes do not match the package (want ${c.h1} and ${zh})`);
    const zipUrl = new URL(a.url, v.url);
    // The registry's own check already fetched and hashed this very URL.
    if (zipUrl.href === c.url) continue;
    const head = await r.get(zipUrl);
    head.body.destroy();
    if (head.status !== 200)
      throw new IntegrityError(`mirror ${vUrl.href}: ${c.platform} archive ${zipUrl.href} answers HTTP ${head.status}`);
  }
}
