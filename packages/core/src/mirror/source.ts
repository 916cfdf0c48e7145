import { PageWalk, nextPage } from '../http/pages.js';
import { parseJsonObject } from '../json.js';
import { badInput, errorMessage } from '../errors.js';
import { mapLimit } from '../concurrency.js';
import type { Logger } from '../log/logger.js';
import { readGraph, type SourceGraph } from '../oci/copy/graph.js';
import { isDigest } from '../oci/ref/digest.js';
import { isTag, TAG_PATTERN } from '../oci/ref/reference.js';
import { isIndexType, parseManifest, type Descriptor, type Manifest } from '../oci/ref/media.js';
import type { Repo } from '../oci/repo/repo.js';
import type { Readable } from 'node:stream';
import type { Registry, RegistryRepo } from '../oci/repo/registry.js';
import type { OciSession } from '../oci/repo/session.js';
import { passesFilter, tagIsVersion, type Image } from './config.js';

/**
 * A source repository read through its tag list: cosign (`sha256-<hex>.sig`)
 * and fallback (`sha256-<hex>`) tags the list lacks are known absent without
 * asking, and once the registry shows it has no referrers API it is not asked
 * again. An image with three platforms then costs a handful of requests
 * instead of a dozen probes answering 404.
 */
export class ListedSource implements Repo {
  private apiProbe: Promise<Descriptor[] | undefined> | undefined;
  /** Manifests read, by digest: the root read by tag is not read again by digest. */
  private readonly byDigest = new Map<string, Manifest>();
  readonly name: string;
  readonly registry: string;
  readonly repository: string;
  readonly requiresTag = false;
  constructor(
    private readonly inner: RegistryRepo,
    private readonly tags: ReadonlySet<string> | undefined,
  ) {
    this.name = inner.name;
    this.registry = inner.registry;
    this.repository = inner.repository;
  }
  private absent(ref: string): boolean {
    return this.tags !== undefined && !isDigest(ref) && ref.startsWith('sha256-') && !this.tags.has(ref);
  }
  defaultReference(): Promise<string | undefined> {
    return this.inner.defaultReference();
  }
  async getManifest(ref: string): Promise<Manifest | undefined> {
    if (this.absent(ref)) return undefined;
    const cached = this.byDigest.get(ref);
    if (cached) return cached;
    const m = await this.inner.getManifest(ref);
    if (m) this.byDigest.set(m.digest, m);
    return m;
  }
  headManifest(ref: string): Promise<Descriptor | undefined> {
    return this.absent(ref) ? Promise.resolve(undefined) : this.inner.headManifest(ref);
  }
  async referrers(digest: string): Promise<Descriptor[] | undefined> {
    if (!this.apiProbe) {
      this.apiProbe = this.inner.referrers(digest);
      return this.apiProbe;
    }
    if ((await this.apiProbe.catch(() => null)) === undefined) return undefined;
    return this.inner.referrers(digest);
  }
  putManifest(m: Manifest, ref: string): Promise<{ subjectHandled: boolean }> {
    return this.inner.putManifest(m, ref);
  }
  hasBlob(d: Descriptor): Promise<boolean> {
    return this.inner.hasBlob(d);
  }
  blobSize(digest: string): Promise<number | undefined> {
    return this.inner.blobSize(digest);
  }
  openBlob(d: Descriptor): Promise<Readable> {
    return this.inner.openBlob(d);
  }
  writeBlob(d: Descriptor, body: Readable, session?: string): Promise<void> {
    return this.inner.writeBlob(d, body, session);
  }
}

/**
 * Each source repository's tag list, fetched once and shared (tag filters,
 * cosign and fallback tags). A name the registry lists that is not a tag
 * (distribution-spec's grammar: no line breaks, colons, slashes or spaces, at
 * most 128 characters) is skipped and reported once per repository, quoted:
 * it is never used, and never printed as it came.
 */
export class TagLists {
  private readonly lists = new Map<string, Promise<{ tags: string[]; set: ReadonlySet<string> } | { error: string }>>();
  constructor(
    private readonly session: OciSession,
    private readonly log?: Logger,
  ) {}
  get(registry: string, repository: string): Promise<{ tags: string[]; set: ReadonlySet<string> } | { error: string }> {
    const key = `${registry}/${repository}`;
    let p = this.lists.get(key);
    if (!p) {
      p = listTags(this.session.registry(registry), repository).then(
        (listed) => {
          const tags = listed.filter((t) => typeof t === 'string' && isTag(t));
          if (tags.length < listed.length) {
            const bad = listed.filter((t) => !(typeof t === 'string' && isTag(t)));
            const shown = bad.slice(0, 3).map((t) => JSON.stringify(typeof t === 'string' && t.length > 80 ? t.slice(0, 80) + '…' : t));
            this.log?.warn(
              `${key}: the registry lists ${bad.length} name(s) that are not tags (${TAG_PATTERN}), skipped: ${shown.join(', ')}${bad.length > 3 ? ', …' : ''}`,
            );
          }
          return { tags, set: new Set(tags) };
        },
        (err: unknown) => ({ error: errorMessage(err) }),
      );
      this.lists.set(key, p);
    }
    return p;
  }
  /** The set, or undefined when the repository cannot be listed (then tags are asked for one by one). */
  async set(registry: string, repository: string): Promise<ReadonlySet<string> | undefined> {
    const l = await this.get(registry, repository);
    return 'set' in l ? l.set : undefined;
  }
}

/** One source image to mirror: the tags of one image that resolve to one digest, read once. */
export interface Unit {
  image: Image;
  tags: string[];
  /** Root digest; empty when the source could not be read. */
  digest: string;
  source: ListedSource;
  graph?: SourceGraph;
  /** Why the source could not be read (every target of the unit fails with it). */
  error?: string;
  /** Required platforms the source lacks. */
  missingPlatforms: string[];
}

/** `i/n`: this job mirrors every n-th (image, tag), starting at the i-th. */
export interface Shard {
  index: number;
  count: number;
}

export function parseShard(text: string | undefined): Shard | undefined {
  if (!text) return undefined;
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (!m || count < 1 || index < 1 || index > count) badInput('shard', 'i/n with 1 <= i <= n, e.g. 2/3', text);
  return { index, count };
}

/** Every tag of a registry repository (paginated tags/list), within DEFAULTS.maxListPages and never a page twice. */
export async function listTags(reg: Registry, repository: string, maxPages?: number): Promise<string[]> {
  const out: string[] = [];
  let url: string | undefined = reg.url(`/v2/${repository}/tags/list?n=1000`);
  const scopes = [`repository:${repository}:pull`];
  const walk = new PageWalk(`registry ${reg.host}: tags of ${repository}`, maxPages);
  while (url) {
    walk.visit(url);
    const res = await reg.call('GET', url, scopes, { allow: [404] });
    if (res.status === 404) {
      await res.discard();
      break;
    }
    // A page that is not JSON is the registry's failure (exit 3), never a crash.
    const body = parseJsonObject(await res.bytes(16 * 1024 * 1024), `registry ${reg.host}: tags of ${repository}`, 'remote') as {
      tags?: string[] | null;
    };
    out.push(...(body.tags ?? []));
    url = nextPage(res, url);
  }
  return out;
}

interface Wanted {
  image: Image;
  tag: string;
  error?: string;
}

/**
 * The (image, tag) pairs this run mirrors: listed tags plus those passing the
 * tag filter, limited to `version` and to this shard. Reads only tag lists.
 */
export async function selectTags(
  images: Image[],
  opts: { version?: string; shard?: Shard },
  parallel: number,
  lists: TagLists,
): Promise<Wanted[]> {
  const perImage = await mapLimit(images, parallel, async (image): Promise<Wanted[]> => {
    const tags = new Set(image.tags);
    if (image.filter) {
      const listed = await lists.get(image.source.registry, image.source.repository);
      if ('error' in listed) return [{ image, tag: '(tag-filter)', error: `listing the tags of ${image.sourceText}: ${listed.error}` }];
      for (const t of listed.tags) if (passesFilter(t, image.filter)) tags.add(t);
    }
    const list = [...tags].filter((t) => opts.version === undefined || tagIsVersion(t, opts.version));
    return list.map((tag) => ({ image, tag }));
  });
  const all = perImage.flat();
  if (opts.version !== undefined && all.length === 0) {
    badInput('version', `a version named by an image's tags or tag-filter in this run's tiers`, opts.version);
  }
  const sorted = all.sort((a, b) => a.image.index - b.image.index || a.tag.localeCompare(b.tag));
  const shard = opts.shard;
  return shard ? sorted.filter((_, i) => i % shard.count === shard.index - 1) : sorted;
}

function platformOf(p: { os?: string; architecture?: string; variant?: string } | undefined): string {
  return [p?.os, p?.architecture, p?.variant].filter(Boolean).join('/');
}

/** Required platforms an image lacks (an index lists them; a single manifest has its config's, which we do not read). */
export function missingPlatforms(graph: SourceGraph, required: string[]): string[] {
  if (required.length === 0) return [];
  if (!isIndexType(graph.root.mediaType)) return required.map((p) => `${p} (the image is a single manifest, not an index)`);
  const have = new Set(parseManifest(graph.root).manifests.map((d) => platformOf(d.platform)));
  return required.filter((p) => !have.has(p));
}

/** The platform an index lists a child under, for messages. */
export function childPlatform(graph: SourceGraph, digest: string): string | undefined {
  if (!isIndexType(graph.root.mediaType)) return undefined;
  const d = parseManifest(graph.root).manifests.find((m) => m.digest === digest);
  return d ? platformOf(d.platform) || undefined : undefined;
}

/**
 * Resolves each tag on the source (HEAD), groups tags by digest and reads
 * each distinct image once. A source that cannot be read becomes a unit with
 * an error, so the report names it for every target.
 */
export async function readUnits(wanted: Wanted[], session: OciSession, parallel: number, log: Logger, lists: TagLists): Promise<Unit[]> {
  // One per repository, so its tag list, manifest cache and referrers-API finding are shared.
  const repos = new Map<string, Promise<ListedSource>>();
  const open = (registry: string, repository: string): Promise<ListedSource> => {
    const key = `${registry}/${repository}`;
    let p = repos.get(key);
    if (!p) {
      p = lists.set(registry, repository).then((set) => new ListedSource(session.registry(registry).repo(repository, 'pull'), set));
      repos.set(key, p);
    }
    return p;
  };
  const resolved = await mapLimit(wanted, parallel, async (w) => {
    const source = await open(w.image.source.registry, w.image.source.repository);
    if (w.error) return { w, source, error: w.error };
    try {
      // A GET, not a HEAD: the graph needs the bytes anyway, and reads them from the source's cache.
      const m = await source.getManifest(w.tag);
      if (!m) return { w, source, error: `source ${w.image.sourceText}:${w.tag}: not found` };
      return { w, source, digest: m.digest };
    } catch (err) {
      return { w, source, error: `source ${w.image.sourceText}:${w.tag}: ${errorMessage(err)}` };
    }
  });
  const units = new Map<string, Unit>();
  for (const r of resolved) {
    const key = r.error ? `${r.w.image.index}\0error\0${r.w.tag}` : `${r.w.image.index}\0${r.digest}`;
    const u = units.get(key);
    if (u) u.tags.push(r.w.tag);
    else
      units.set(key, {
        image: r.w.image,
        tags: [r.w.tag],
        digest: r.digest ?? '',
        source: r.source,
        missingPlatforms: [],
        ...(r.error && { error: r.error }),
      });
  }
  const list = [...units.values()];
  await mapLimit(list, parallel, async (u) => {
    if (u.error) return;
    try {
      u.graph = await readGraph(u.source, u.digest);
      u.missingPlatforms = missingPlatforms(u.graph, u.image.platforms);
      const g = u.graph;
      log.info(
        `${u.image.sourceText}:${u.tags.join(',')} ${u.digest}: ${g.nodes.size} manifests, ${g.blobs.size} blobs, ${g.cosignTags.length} cosign tags, ${[...g.referrers.values()].flat().length} referrers`,
      );
    } catch (err) {
      u.error = `source ${u.image.sourceText}@${u.digest}: ${errorMessage(err)}`;
    }
  });
  return list;
}
