import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { sleep } from '../../concurrency.js';
import { RemoteError } from '../../errors.js';
import type { HttpClient, HttpResponse, RequestBody } from '../../http/client.js';
import { parseJson } from '../../json.js';
import type { Logger } from '../../log/logger.js';
import type { GithubTarget } from '../config.js';

/** The parts of GitHub's release and asset objects Relay reads. */
export interface GhAsset {
  id: number;
  name: string;
  size: number;
  url: string;
  browser_download_url?: string;
  /** `sha256:<hex>`, which GitHub computes for assets uploaded since mid-2025. */
  digest?: string | null;
  state?: string;
}
export interface GhRelease {
  id: number;
  tag_name: string;
  draft: boolean;
  url: string;
  upload_url: string;
  html_url?: string;
  immutable?: boolean;
  assets: GhAsset[];
}

const API_VERSION = '2022-11-28';

/**
 * The slice of GitHub's releases REST API a provider release needs, through
 * Relay's one HTTP client (retries, timeouts, and redirects that drop
 * Authorization when an asset download moves to another host). The token is
 * masked before the first request and never appears in a message.
 */
export class GithubReleases {
  private readonly base: string;

  constructor(
    private readonly http: HttpClient,
    readonly target: GithubTarget,
    log: Logger,
    private readonly signal?: AbortSignal,
  ) {
    // No token only in a dry run (the plan job holds no secrets): GitHub answers anonymous reads of public releases.
    if (target.token) log.mask(target.token);
    this.base = `${target.apiUrl}/repos/${target.repository}`;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return {
      ...(this.target.token && { authorization: `Bearer ${this.target.token}` }),
      accept: 'application/vnd.github+json',
      'x-github-api-version': API_VERSION,
      ...extra,
    };
  }

  private async call(method: string, url: string, body?: unknown): Promise<HttpResponse> {
    return this.http.request({
      method,
      url,
      headers: this.headers(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(body !== undefined && { body: JSON.stringify(body) }),
      ...(this.signal && { signal: this.signal }),
    });
  }

  /** A one-line error for an unexpected answer, with GitHub's own message when it gave one. */
  private async refusal(res: HttpResponse, what: string): Promise<RemoteError> {
    const text = await res.text(64 * 1024).catch(() => '');
    let msg = '';
    try {
      const j = parseJson(text, what) as { message?: unknown; errors?: { message?: unknown; code?: unknown }[] };
      msg = [j.message, ...(j.errors ?? []).map((e) => e.message ?? e.code)].filter((x) => typeof x === 'string' && x).join(': ');
    } catch {
      msg = text.trim().split('\n')[0]?.slice(0, 200) ?? '';
    }
    return new GithubError(res.status, `${what}: HTTP ${res.status}${msg ? `: ${msg}` : ''}`);
  }

  private async json<T>(res: HttpResponse, what: string): Promise<T> {
    if (!res.ok) throw await this.refusal(res, what);
    return parseJson(await res.bytes(8 * 1024 * 1024), what, 'remote') as T;
  }

  /** The published release with this tag (GitHub answers 404 for drafts here), or undefined. */
  async publishedByTag(tag: string): Promise<GhRelease | undefined> {
    const res = await this.call('GET', `${this.base}/releases/tags/${encodeURIComponent(tag)}`);
    if (res.status === 404) {
      await res.discard();
      return undefined;
    }
    return this.json<GhRelease>(res, `GET release ${tag} of ${this.target.repository}`);
  }

  /** A draft release with this tag (listed only to a token that may push), or undefined. */
  async draftByTag(tag: string): Promise<GhRelease | undefined> {
    for (let page = 1; page <= 10; page++) {
      const res = await this.call('GET', `${this.base}/releases?per_page=100&page=${page}`);
      const list = await this.json<GhRelease[]>(res, `GET releases of ${this.target.repository}`);
      const hit = list.find((r) => r.tag_name === tag && r.draft);
      if (hit) return hit;
      if (list.length < 100) return undefined;
    }
    return undefined;
  }

  async createDraft(tag: string, name: string, body: string): Promise<GhRelease> {
    const res = await this.call('POST', `${this.base}/releases`, { tag_name: tag, name, body, draft: true, prerelease: tag.includes('-') });
    return this.json<GhRelease>(res, `POST release ${tag} to ${this.target.repository}`);
  }

  async assets(release: GhRelease): Promise<GhAsset[]> {
    const out: GhAsset[] = [];
    for (let page = 1; page <= 10; page++) {
      const res = await this.call('GET', `${release.url}/assets?per_page=100&page=${page}`);
      const list = await this.json<GhAsset[]>(res, `GET assets of release ${release.tag_name}`);
      out.push(...list);
      if (list.length < 100) break;
    }
    return out;
  }

  /** Uploads one asset to the upload URL the API gave (its `{?name,label}` template filled). */
  async upload(release: GhRelease, name: string, size: number, body: RequestBody): Promise<GhAsset> {
    const url = new URL(release.upload_url.replace(/\{[^}]*\}$/, ''));
    url.searchParams.set('name', name);
    const res = await this.http.request({
      method: 'POST',
      url,
      headers: this.headers({ 'content-type': 'application/octet-stream', 'content-length': String(size) }),
      body,
      ...(this.signal && { signal: this.signal }),
    });
    return this.json<GhAsset>(res, `upload ${name} to release ${release.tag_name}`);
  }

  async deleteAsset(release: GhRelease, a: GhAsset): Promise<void> {
    const res = await this.call('DELETE', a.url);
    if (res.status !== 204 && !res.ok) throw await this.refusal(res, `DELETE asset ${a.name} of release ${release.tag_name}`);
    await res.discard();
  }

  /** The asset's bytes as GitHub serves them (API URL, Accept octet-stream: a redirect to another host): sha256 and size. */
  async readBack(a: GhAsset): Promise<{ sha256: string; size: number }> {
    const res = await this.http.request({
      url: a.url,
      headers: this.headers({ accept: 'application/octet-stream' }),
      ...(this.signal && { signal: this.signal }),
    });
    if (!res.ok) throw await this.refusal(res, `GET asset ${a.name}`);
    return hashStream(res.body);
  }

  async publish(release: GhRelease): Promise<GhRelease> {
    const res = await this.call('PATCH', release.url, { draft: false });
    return this.json<GhRelease>(res, `PATCH release ${release.tag_name} (publish)`);
  }
}

export class GithubError extends RemoteError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function hashStream(s: Readable): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of s) {
    h.update(c as Buffer);
    size += (c as Buffer).length;
  }
  return { sha256: h.digest('hex'), size };
}

/**
 * Polls `<registry>/v1/providers/<ns>/<name>/versions` until `version` is
 * listed or the time is up. True when it appeared.
 */
export async function watchRegistry(
  http: HttpClient,
  w: NonNullable<GithubTarget['watch']>,
  coords: { namespace: string; name: string; version: string },
  log: Logger,
  signal?: AbortSignal,
): Promise<boolean> {
  const url = `${w.registryUrl}/v1/providers/${coords.namespace}/${coords.name}/versions`;
  const deadline = Date.now() + w.timeoutMs;
  for (;;) {
    try {
      const res = await http.request({ url, headers: { accept: 'application/json' }, ...(signal && { signal }) });
      if (res.ok) {
        const doc = parseJson(await res.bytes(8 * 1024 * 1024), `versions ${url}`, 'remote') as { versions?: { version?: unknown }[] };
        if ((doc.versions ?? []).some((v) => v.version === coords.version)) return true;
      } else await res.discard();
    } catch (err) {
      log.debug(`watch ${url}: ${(err as Error).message}`);
    }
    const left = deadline - Date.now();
    if (left <= 0) return false;
    await sleep(Math.min(w.intervalMs, left), signal);
  }
}
