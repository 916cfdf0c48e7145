// A local stand-in of GitHub's releases REST API (github.com cannot be reached
// here), behaving as GitHub does where Relay depends on it:
// - three hosts (three ports on 127.0.0.1): the API, the uploads host the
//   release's `upload_url` template points at, and an objects host that
//   serves asset bytes (the API's asset URL with Accept: application/octet-stream
//   answers 302 there, as GitHub redirects to objects.githubusercontent.com);
// - drafts: GET /releases/tags/{tag} answers 404 for a draft; GET /releases
//   lists drafts only to a token that may push;
// - immutable releases: once published, asset uploads and deletes and edits
//   of the release answer 422;
// - `digest: "sha256:…"` on assets (computed from the bytes stored);
// - a corruption mode: the named asset is stored with one byte changed;
// - a public registry's versions endpoint (`/registry/v1/providers/…`)
//   listing published versions when `ingest` is on.
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StandinAsset {
  id: number;
  name: string;
  bytes: Buffer;
  contentType: string;
}
export interface StandinRelease {
  id: number;
  repo: string;
  tag: string;
  name: string;
  body: string;
  draft: boolean;
  immutable: boolean;
  assets: StandinAsset[];
}
export interface SeenRequest {
  host: 'api' | 'uploads' | 'objects';
  method: string;
  path: string;
  authorization?: string;
  accept?: string;
  apiVersion?: string;
  contentType?: string;
}

export class GithubStandin {
  readonly releases: StandinRelease[] = [];
  readonly seen: SeenRequest[] = [];
  /** Asset names stored with one byte changed (an upload corrupted on the way). */
  corrupt = new Set<string>();
  /** Whether asset JSON carries GitHub's `digest` field. */
  digests = true;
  /** Whether the registry endpoint lists published versions (registry.terraform.io ingested them). */
  ingest = true;
  /** When set, assets' API `url` names this origin instead of the API's (a URL handed over on another origin). */
  assetOrigin: string | undefined;
  /** Whether publishing makes a release immutable (the repository's immutable-releases setting). */
  immutableReleases = true;
  private nextId = 1000;
  private servers: http.Server[] = [];
  api = '';
  uploads = '';
  objects = '';

  private constructor(private readonly token: string) {}

  static async start(token: string): Promise<GithubStandin> {
    const s = new GithubStandin(token);
    const listen = async (host: SeenRequest['host'], fn: (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void) => {
      const srv = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          s.seen.push({
            host,
            method: req.method!,
            path: req.url!,
            ...(req.headers.authorization && { authorization: req.headers.authorization }),
            ...(req.headers.accept && { accept: req.headers.accept }),
            ...(req.headers['x-github-api-version'] && { apiVersion: String(req.headers['x-github-api-version']) }),
            ...(req.headers['content-type'] && { contentType: req.headers['content-type'] }),
          });
          try {
            fn(req, res, Buffer.concat(chunks));
          } catch (err) {
            send(res, 500, { message: (err as Error).message });
          }
        });
      });
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
      s.servers.push(srv);
      return `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
    };
    s.api = await listen('api', (q, r, b) => s.onApi(q, r, b));
    s.uploads = await listen('uploads', (q, r, b) => s.onUpload(q, r, b));
    s.objects = await listen('objects', (q, r) => s.onObject(q, r));
    return s;
  }

  async close(): Promise<void> {
    await Promise.all(this.servers.map((srv) => new Promise((r) => srv.close(r))));
  }

  /** A release made outside Relay (a different build, or an earlier draft). */
  seed(repo: string, tag: string, files: { name: string; bytes: Buffer }[], draft = false): StandinRelease {
    const rel: StandinRelease = {
      id: this.nextId++,
      repo,
      tag,
      name: tag,
      body: '',
      draft,
      immutable: !draft && this.immutableReleases,
      assets: files.map((f) => ({ id: this.nextId++, name: f.name, bytes: f.bytes, contentType: 'application/octet-stream' })),
    };
    this.releases.push(rel);
    return rel;
  }

  release(repo: string, tag: string): StandinRelease | undefined {
    return this.releases.find((r) => r.repo === repo && r.tag === tag);
  }

  private authorized(req: http.IncomingMessage): boolean {
    return req.headers.authorization === `Bearer ${this.token}`;
  }

  private releaseJson(r: StandinRelease): Record<string, unknown> {
    return {
      id: r.id,
      tag_name: r.tag,
      name: r.name,
      body: r.body,
      draft: r.draft,
      prerelease: false,
      immutable: r.immutable,
      url: `${this.api}/repos/${r.repo}/releases/${r.id}`,
      html_url: `https://github.com/${r.repo}/releases/tag/${r.tag}`,
      upload_url: `${this.uploads}/repos/${r.repo}/releases/${r.id}/assets{?name,label}`,
      assets: r.assets.map((a) => this.assetJson(r, a)),
    };
  }

  private assetJson(r: StandinRelease, a: StandinAsset): Record<string, unknown> {
    return {
      id: a.id,
      name: a.name,
      size: a.bytes.length,
      state: 'uploaded',
      content_type: a.contentType,
      url: `${this.assetOrigin ?? this.api}/repos/${r.repo}/releases/assets/${a.id}`,
      browser_download_url: `${this.objects}/${r.repo}/releases/download/${r.tag}/${a.name}`,
      ...(this.digests && { digest: `sha256:${createHash('sha256').update(a.bytes).digest('hex')}` }),
    };
  }

  private onApi(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
    const url = new URL(req.url!, this.api);
    const p = url.pathname;
    const reg = /^\/registry\/v1\/providers\/([^/]+)\/([^/]+)\/versions$/.exec(p);
    if (reg) {
      if (!this.ingest) return send(res, 404, { errors: ['Not Found'] });
      const versions = this.releases.filter((r) => !r.draft).map((r) => ({ version: r.tag.replace(/^v/, ''), protocols: ['6.0'] }));
      return send(res, 200, { id: `${reg[1]}/${reg[2]}`, versions });
    }
    if (!this.authorized(req)) return send(res, 401, { message: 'Bad credentials' });
    const m = /^\/repos\/([^/]+\/[^/]+)\/releases(?:\/(.*))?$/.exec(p);
    if (!m) return send(res, 404, { message: 'Not Found' });
    const repo = m[1]!;
    const rest = m[2] ?? '';
    const mine = this.releases.filter((r) => r.repo === repo);
    const method = req.method!;
    let x: RegExpExecArray | null;
    if (rest === '' && method === 'GET')
      return send(
        res,
        200,
        [...mine].reverse().map((r) => this.releaseJson(r)),
      );
    if (rest === '' && method === 'POST') {
      const j = JSON.parse(body.toString()) as { tag_name: string; name?: string; body?: string; draft?: boolean };
      const taken = mine.find((r) => r.tag === j.tag_name && !r.draft);
      if (taken)
        return send(res, 422, {
          message: 'Validation Failed',
          errors: [{ resource: 'Release', code: 'already_exists', field: 'tag_name' }],
        });
      const r: StandinRelease = {
        id: this.nextId++,
        repo,
        tag: j.tag_name,
        name: j.name ?? j.tag_name,
        body: j.body ?? '',
        draft: j.draft ?? false,
        immutable: !(j.draft ?? false) && this.immutableReleases,
        assets: [],
      };
      this.releases.push(r);
      return send(res, 201, this.releaseJson(r));
    }
    if ((x = /^tags\/(.+)$/.exec(rest)) && method === 'GET') {
      const r = mine.find((y) => y.tag === decodeURIComponent(x![1]!) && !y.draft);
      return r ? send(res, 200, this.releaseJson(r)) : send(res, 404, { message: 'Not Found' });
    }
    if ((x = /^assets\/(\d+)$/.exec(rest))) {
      const id = Number(x[1]);
      const r = mine.find((y) => y.assets.some((a) => a.id === id));
      const a = r?.assets.find((y) => y.id === id);
      if (!r || !a) return send(res, 404, { message: 'Not Found' });
      if (method === 'GET') {
        if ((req.headers.accept ?? '').includes('application/octet-stream')) {
          res.writeHead(302, { location: `${this.objects}/objects/${a.id}?X-Signature=standin` });
          return void res.end();
        }
        return send(res, 200, this.assetJson(r, a));
      }
      if (method === 'DELETE') {
        if (r.immutable) return send(res, 422, { message: 'Cannot delete asset from an immutable release.' });
        r.assets = r.assets.filter((y) => y !== a);
        res.writeHead(204);
        return void res.end();
      }
    }
    if ((x = /^(\d+)(\/assets)?$/.exec(rest))) {
      const r = mine.find((y) => y.id === Number(x![1]));
      if (!r) return send(res, 404, { message: 'Not Found' });
      if (x[2] && method === 'GET')
        return send(
          res,
          200,
          r.assets.map((a) => this.assetJson(r, a)),
        );
      if (!x[2] && method === 'GET') return send(res, 200, this.releaseJson(r));
      if (!x[2] && method === 'PATCH') {
        if (r.immutable) return send(res, 422, { message: 'Cannot modify an immutable release.' });
        const j = JSON.parse(body.toString()) as { draft?: boolean };
        if (j.draft === false && r.draft) {
          r.draft = false;
          r.immutable = this.immutableReleases;
        }
        return send(res, 200, this.releaseJson(r));
      }
    }
    return send(res, 404, { message: 'Not Found' });
  }

  private onUpload(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
    const url = new URL(req.url!, this.uploads);
    if (!this.authorized(req)) return send(res, 401, { message: 'Bad credentials' });
    const m = /^\/repos\/([^/]+\/[^/]+)\/releases\/(\d+)\/assets$/.exec(url.pathname);
    const r = m && this.releases.find((y) => y.repo === m[1] && y.id === Number(m[2]));
    if (!r || req.method !== 'POST') return send(res, 404, { message: 'Not Found' });
    if (r.immutable) return send(res, 422, { message: 'Cannot upload assets to an immutable release.' });
    const name = url.searchParams.get('name');
    if (!name) return send(res, 422, { message: 'Validation Failed', errors: [{ field: 'name', code: 'missing' }] });
    if (!req.headers['content-type']) return send(res, 422, { message: 'Content-Type required' });
    if (r.assets.some((a) => a.name === name))
      return send(res, 422, {
        message: 'Validation Failed',
        errors: [{ resource: 'ReleaseAsset', code: 'already_exists', field: 'name' }],
      });
    let bytes = body;
    if (this.corrupt.has(name)) {
      bytes = Buffer.from(body);
      bytes[Math.floor(bytes.length / 2)] = bytes[Math.floor(bytes.length / 2)]! ^ 0xff;
    }
    const a: StandinAsset = { id: this.nextId++, name, bytes, contentType: req.headers['content-type'] };
    r.assets.push(a);
    return send(res, 201, this.assetJson(r, a));
  }

  private onObject(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url!, this.objects);
    const m = /^\/objects\/(\d+)$/.exec(url.pathname);
    const a = m && this.releases.flatMap((r) => r.assets).find((y) => y.id === Number(m[1]));
    if (!a) return send(res, 404, { message: 'Not Found' });
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': a.bytes.length });
    res.end(req.method === 'HEAD' ? undefined : a.bytes);
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const b = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': b.length });
  res.end(b);
}
