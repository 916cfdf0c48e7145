// A registry stand-in that misbehaves on purpose, for what the real registries
// here never do: it trusts its clients. It implements just enough of the
// distribution API for Relay's copy (/v2/, blob HEAD/GET/POST/PATCH/PUT/DELETE,
// manifest HEAD/GET/PUT, no referrers API) and:
//   - commits whatever the final `PUT <upload>?digest=<d>` says, without
//     checking the bytes against <d> (mode 'trusting', the default);
//   - acknowledges every upload and manifest PUT and keeps nothing
//     (mode 'forgetful');
// and, as a source, serves whatever bytes a test planted under a digest
// (`plant`), so it can also lie the other way.
// Every request is logged (method, path, query) so tests can check the order
// of an upload and that a session was cancelled.
import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  path: string;
  query: string;
  /** Body bytes received (PATCH, PUT). */
  bytes: number;
}

interface Upload {
  chunks: Buffer[];
  /** Bumped by each PATCH: the Location moves, as registries' `_state` does. */
  state: number;
}

const sha = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex');

export class TrustingRegistry {
  /**
   * 'trusting': commits what it is told; 'forgetful': acknowledges every upload
   * and manifest and keeps nothing; 'forgets-blobs': keeps manifests only.
   */
  mode: 'trusting' | 'forgetful' | 'forgets-blobs' = 'trusting';
  /** A referrers API, page by page (`next`: the Link to the following page); none by default. */
  referrersApi?: (subject: string, page: URL) => { manifests: unknown; next?: string } | undefined;
  /** When set, PATCH on an upload session answers this (405, 501): a registry without streamed uploads. */
  patchStatus: number | undefined;
  /** Applied to a blob's bytes as it is committed (a store that truncates, say). */
  onCommit: (bytes: Buffer) => Buffer = (b) => b;
  readonly seen: SeenRequest[] = [];
  /** Committed blobs by repository and digest: bytes as received, never checked. */
  readonly blobs = new Map<string, Buffer>();
  /** Manifests by repository and tag or digest. */
  readonly manifests = new Map<string, { bytes: Buffer; type: string }>();
  readonly uploads = new Map<string, Upload>();
  host = '';
  private readonly server = http.createServer((req, res) => {
    // Logged on arrival: a request whose body the client abandons is seen too.
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const seen: SeenRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.search, bytes: 0 };
    this.seen.push(seen);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      chunks.push(c);
      seen.bytes += c.length;
    });
    req.on('error', () => undefined);
    req.on('end', () => this.handle(req, res, url, Buffer.concat(chunks)));
  });

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.host = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  /** Stores `bytes` as the blob `digest` of `repo`, whatever they hash to. */
  plant(repo: string, digest: string, bytes: Buffer): void {
    this.blobs.set(`${repo}@${digest}`, bytes);
  }

  /** Serves `bytes` for the next `times` GETs of the blob, then what is stored. */
  lie(repo: string, digest: string, bytes: Buffer, times = Infinity): void {
    this.lies.set(`${repo}@${digest}`, { bytes, times });
  }
  private readonly lies = new Map<string, { bytes: Buffer; times: number }>();

  /** Stores a manifest under its digest and, given one, a tag (for a source). */
  plantManifest(repo: string, bytes: Buffer, type: string, tag?: string): string {
    const digest = sha(bytes);
    this.manifests.set(`${repo}@${digest}`, { bytes, type });
    if (tag) this.manifests.set(`${repo}:${tag}`, { bytes, type });
    return digest;
  }

  /** Requests in order, as `METHOD path` (uploads as `.../uploads/*`). */
  calls(filter?: RegExp): string[] {
    return this.seen
      .map((r) => `${r.method} ${r.path.replace(/\/uploads\/[^/]+$/, '/uploads/*')}`)
      .filter((c) => !filter || filter.test(c));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL, body: Buffer): void {
    const method = req.method ?? 'GET';
    const reply = (status: number, headers: Record<string, string> = {}, payload?: Buffer | string): void => {
      const data = payload === undefined ? undefined : Buffer.from(payload);
      res.writeHead(status, { 'content-length': String(data?.length ?? 0), ...headers });
      res.end(method === 'HEAD' ? undefined : data);
    };
    const error = (status: number, code: string): void =>
      reply(status, { 'content-type': 'application/json' }, JSON.stringify({ errors: [{ code, message: code.toLowerCase() }] }));

    if (url.pathname === '/v2/' || url.pathname === '/v2') return reply(200, { 'content-type': 'application/json' }, '{}');
    const m = /^\/v2\/(.+)\/(blobs\/uploads|blobs|manifests|referrers)(?:\/(.*))?$/.exec(url.pathname);
    if (!m) return error(404, 'NAME_UNKNOWN');
    const [, repo, kind, ref = ''] = m as unknown as [string, string, string, string | undefined];

    if (kind === 'referrers') {
      // No referrers API unless a test gives one: clients use the fallback tag.
      const page = this.referrersApi?.(ref, url);
      if (!page) return error(404, 'NAME_UNKNOWN');
      return reply(
        200,
        { 'content-type': 'application/vnd.oci.image.index.v1+json', ...(page.next && { link: `<${page.next}>; rel="next"` }) },
        JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: page.manifests }),
      );
    }

    if (kind === 'blobs/uploads') {
      if (method === 'POST' && ref === '') {
        const id = randomUUID();
        this.uploads.set(id, { chunks: [], state: 0 });
        return reply(202, { location: `/v2/${repo}/blobs/uploads/${id}?_state=0`, 'docker-upload-uuid': id, range: '0-0' });
      }
      const upload = this.uploads.get(ref);
      if (!upload) return error(404, 'BLOB_UPLOAD_UNKNOWN');
      if (method === 'DELETE') {
        this.uploads.delete(ref);
        return reply(204);
      }
      // Like distribution's _state, a Location is good for one step: clients must follow each response's.
      if (url.searchParams.get('_state') !== String(upload.state)) return error(400, 'BLOB_UPLOAD_INVALID');
      if (method === 'PATCH') {
        if (this.patchStatus) return error(this.patchStatus, 'UNSUPPORTED');
        upload.chunks.push(body);
        upload.state++;
        const held = upload.chunks.reduce((n, c) => n + c.length, 0);
        return reply(202, {
          location: `/v2/${repo}/blobs/uploads/${ref}?_state=${upload.state}`,
          range: `0-${Math.max(0, held - 1)}`,
          'docker-upload-uuid': ref,
        });
      }
      if (method === 'PUT') {
        const digest = url.searchParams.get('digest');
        if (!digest) return error(400, 'DIGEST_INVALID');
        this.uploads.delete(ref);
        // The point of this stand-in: no check that the bytes hash to `digest`.
        if (this.mode === 'trusting') this.blobs.set(`${repo}@${digest}`, this.onCommit(Buffer.concat([...upload.chunks, body])));
        return reply(201, { location: `/v2/${repo}/blobs/${digest}`, 'docker-content-digest': digest });
      }
      return error(405, 'UNSUPPORTED');
    }

    if (kind === 'blobs') {
      if (method !== 'HEAD' && method !== 'GET') return error(405, 'UNSUPPORTED');
      const lie = method === 'GET' ? this.lies.get(`${repo}@${ref}`) : undefined;
      if (lie && lie.times-- > 0)
        return reply(200, { 'content-type': 'application/octet-stream', 'docker-content-digest': ref }, lie.bytes);
      const blob = this.blobs.get(`${repo}@${ref}`);
      if (!blob) return error(404, 'BLOB_UNKNOWN');
      return reply(200, { 'content-type': 'application/octet-stream', 'docker-content-digest': ref }, blob);
    }

    // manifests
    if (method === 'PUT') {
      const type = String(req.headers['content-type'] ?? '');
      const digest = sha(body);
      if (this.mode !== 'forgetful') {
        this.manifests.set(`${repo}@${digest}`, { bytes: body, type });
        if (!ref.startsWith('sha256:')) this.manifests.set(`${repo}:${ref}`, { bytes: body, type });
      }
      return reply(201, { location: `/v2/${repo}/manifests/${digest}`, 'docker-content-digest': digest });
    }
    if (method !== 'HEAD' && method !== 'GET') return error(405, 'UNSUPPORTED');
    const found = this.manifests.get(ref.startsWith('sha256:') ? `${repo}@${ref}` : `${repo}:${ref}`);
    if (!found) return error(404, 'MANIFEST_UNKNOWN');
    return reply(200, { 'content-type': found.type, 'docker-content-digest': sha(found.bytes) }, found.bytes);
  }
}
