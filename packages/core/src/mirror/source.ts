import { badInput, errorMessage } from '../errors.js';
import { mapLimit } from '../concurrency.js';
import type { Logger } from '../log/logger.js';
import { readGraph, type SourceGraph } from '../oci/copy/graph.js';
import { isIndexType, parseManifest } from '../oci/ref/media.js';
import type { Registry, RegistryRepo } from '../oci/repo/registry.js';
import type { OciSession } from '../oci/repo/session.js';
import { passesFilter, tagIsVersion, type Image } from './config.js';

/** One source image to mirror: the tags of one image that resolve to one digest, read once. */
export interface Unit {
  image: Image;
  tags: string[];
  /** Root digest; empty when the source could not be read. */
  digest: string;
  source: RegistryRepo;
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

/** Every tag of a registry repository (paginated tags/list). */
export async function listTags(reg: Registry, repository: string): Promise<string[]> {
  const out: string[] = [];
  let url: string | undefined = reg.url(`/v2/${repository}/tags/list?n=1000`);
  const scopes = [`repository:${repository}:pull`];
  while (url) {
    const res = await reg.call('GET', url, scopes, { allow: [404] });
    if (res.status === 404) {
      await res.discard();
      break;
    }
    const body = JSON.parse(await res.text(16 * 1024 * 1024)) as { tags?: string[] | null };
    out.push(...(body.tags ?? []));
    const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(res.header('link') ?? '')?.[1];
    url = next ? new URL(next, url).href : undefined;
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
  session: OciSession,
  parallel: number,
): Promise<Wanted[]> {
  const perImage = await mapLimit(images, parallel, async (image): Promise<Wanted[]> => {
    const tags = new Set(image.tags);
    if (image.filter) {
      try {
        for (const t of await listTags(session.registry(image.source.registry), image.source.repository)) {
          if (passesFilter(t, image.filter)) tags.add(t);
        }
      } catch (err) {
        return [{ image, tag: '(tag-filter)', error: `listing the tags of ${image.sourceText}: ${errorMessage(err)}` }];
      }
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
export async function readUnits(wanted: Wanted[], session: OciSession, parallel: number, log: Logger): Promise<Unit[]> {
  const resolved = await mapLimit(wanted, parallel, async (w) => {
    const source = session.registry(w.image.source.registry).repo(w.image.source.repository, 'pull');
    if (w.error) return { w, source, error: w.error };
    try {
      const d = await source.headManifest(w.tag);
      if (!d) return { w, source, error: `source ${w.image.sourceText}:${w.tag}: not found` };
      return { w, source, digest: d.digest };
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
