import { Transform, pipeline, type Readable, type TransformCallback } from 'node:stream';
import { ConflictError, IntegrityError, RemoteError } from '../../errors.js';
import { isReplayable } from '../../http/client.js';
import { PageWalk, nextPage } from '../../http/pages.js';
import type { HttpClient, HttpResponse, RequestBody } from '../../http/client.js';
import { DEFAULTS } from '../../defaults.js';
import { parseJsonObject } from '../../json.js';
import type { Logger } from '../../log/logger.js';
import { parseRetryAfter } from '../../retry.js';
import { digestMismatch, isDigest, sha256Digest, verdict, verifyingBody } from '../ref/digest.js';
import { displayHost, isEcrPublic } from '../ref/hosts.js';
import { MANIFEST_ACCEPT, OCI_INDEX, manifestType, ownBytes } from '../ref/media.js';
import type { Descriptor, Manifest } from '../ref/media.js';
import { joinRef } from '../ref/reference.js';
import type { RegistryAuth } from './auth/registry-auth.js';
import { RegistryError, parseErrorBody } from './registry-errors.js';
import type { MountResult, Repo } from './repo.js';

/** What an observer sees of each registry response (rate-limit headers, request counts). */
export interface ObservedResponse {
  host: string;
  method: string;
  url: string;
  status: number;
  header(name: string): string | undefined;
}

/** One registry host: its auth session and the requests all its repositories make. */
export class Registry {
  /** Called with every response this registry sends (after auth renewals), before the caller reads it. */
  readonly observers: ((r: ObservedResponse) => void)[] = [];
  /**
   * False once the registry answered PATCH on an upload session with 405 or 501 (no streamed uploads): its
   * blobs then go in one PUT each (RegistryRepo.writeBlob).
   */
  streamedUploads = true;
  constructor(
    readonly host: string,
    readonly http: HttpClient,
    readonly auth: RegistryAuth,
    readonly log: Logger,
  ) {}

  url(path: string): string {
    return `${this.http.schemeFor(this.host)}://${this.host}${path}`;
  }

  repo(repository: string, access: 'pull' | 'push'): RegistryRepo {
    return new RegistryRepo(this, repository, access);
  }

  /**
   * One authorized request. Renews credentials once when refused (401, or
   * ECR Public's 400 DENIED for an expired token); statuses in `allow` come
   * back to the caller, any other failure throws one line naming the registry.
   */
  async call(
    method: string,
    url: string,
    scopes: readonly string[],
    opts: { headers?: Record<string, string>; body?: RequestBody; allow?: number[]; contentUpTo?: number } = {},
  ): Promise<HttpResponse> {
    const what = `${method} ${new URL(url).pathname}`;
    for (let attempt = 0; ; attempt++) {
      const credential = await this.auth.bound(scopes);
      const authorization = credential?.authorization;
      const res = await this.http.request({
        method,
        url,
        ...(opts.headers && { headers: opts.headers }),
        ...(credential && { credential }),
        ...(opts.body !== undefined && { body: opts.body }),
        ...(opts.contentUpTo !== undefined && { contentUpTo: opts.contentUpTo }),
      });
      for (const o of this.observers) o({ host: this.host, method, url, status: res.status, header: (n) => res.header(n) });
      if (res.ok || opts.allow?.includes(res.status)) return res;
      const text = method === 'HEAD' ? '' : await res.text(64 * 1024).catch(() => '');
      const err = parseErrorBody(text);
      // ECR Public answers an expired token with 400 DENIED (no challenge); a HEAD shows no body, so any 400 there.
      const denied400 = res.status === 400 && isEcrPublic(this.host) && (err.code === 'DENIED' || method === 'HEAD');
      const elsewhere = new URL(url).origin !== this.auth.origin;
      const canRetry = attempt === 0 && isReplayable(opts.body) && !elsewhere;
      if ((res.status === 401 || denied400) && canRetry && (await this.auth.refused(res, scopes, authorization))) continue;
      const status = `HTTP ${res.status}${err.code ? ` ${err.code}` : ''}`;
      let message: string;
      if ((res.status === 401 || res.status === 403) && elsewhere) {
        // Our credentials are the registry's, and stay on its origin whatever URL it hands over.
        message = `registry ${this.host}: ${what} on ${new URL(url).origin} refused without credentials (${status}); Relay sends the registry's credentials only to ${this.auth.origin}`;
      } else if (res.status === 401 || res.status === 403 || denied400) {
        const source = this.auth.provider.source;
        const who = authorization
          ? `credentials from ${source}`
          : `anonymous access (${source.startsWith('no credentials') ? source : 'no credentials found'})`;
        message = `registry ${this.host}: ${who} ${res.status === 403 ? 'not allowed' : 'rejected'} for ${what} (${status})`;
      } else {
        message = `registry ${this.host}: ${what}: ${status}${err.message ? `: ${err.message}` : ''}`;
      }
      // A bodiless 400 from ECR Public is its DENIED: typed so, it is an auth refusal.
      const code = err.code ?? (denied400 ? 'DENIED' : undefined);
      throw new RegistryError(message, res.status, code, parseRetryAfter(res.header('retry-after')));
    }
  }
}

export class RegistryRepo implements Repo {
  readonly name: string;
  readonly registry: string;
  private readonly scopes: string[];
  constructor(
    private readonly reg: Registry,
    readonly repository: string,
    access: 'pull' | 'push',
  ) {
    this.registry = reg.host;
    this.name = `${displayHost(reg.host)}/${repository}`;
    this.scopes = [`repository:${repository}:${access === 'push' ? 'pull,push' : 'pull'}`];
  }

  readonly requiresTag = false;

  async defaultReference(): Promise<string> {
    return 'latest';
  }

  private path(kind: string, ref: string): string {
    return this.reg.url(`/v2/${this.repository}/${kind}/${ref}`);
  }

  async getManifest(ref: string): Promise<Manifest | undefined> {
    const res = await this.reg.call('GET', this.path('manifests', ref), this.scopes, {
      headers: { accept: MANIFEST_ACCEPT },
      allow: [404],
    });
    if (res.status === 404) {
      await res.discard();
      return undefined;
    }
    const bytes = await res.bytes();
    const digest = sha256Digest(bytes);
    const what = `manifest ${joinRef(this.name, ref)}`;
    if (isDigest(ref) && digest !== ref) throw digestMismatch(what, ref, digest);
    // The header is optional (ECR omits it on GET) but must agree when present.
    const claimed = res.header('docker-content-digest');
    if (claimed?.startsWith('sha256:') && claimed !== digest) throw digestMismatch(what, claimed, digest);
    return { digest, mediaType: manifestType(what, res.header('content-type'), bytes), bytes: ownBytes(bytes) };
  }

  async headManifest(ref: string): Promise<Descriptor | undefined> {
    const res = await this.reg.call('HEAD', this.path('manifests', ref), this.scopes, {
      headers: { accept: MANIFEST_ACCEPT },
      allow: [404],
    });
    await res.discard();
    if (res.status === 404) return undefined;
    const digest = res.header('docker-content-digest');
    const size = Number(res.header('content-length'));
    const mediaType = res.header('content-type')?.split(';')[0];
    if (digest && isDigest(digest) && mediaType && Number.isFinite(size)) return { digest, size, mediaType };
    const m = await this.getManifest(ref);
    return m && { digest: m.digest, size: m.bytes.length, mediaType: m.mediaType };
  }

  async putManifest(m: Manifest, ref: string): Promise<{ subjectHandled: boolean }> {
    let res: HttpResponse;
    try {
      res = await this.reg.call('PUT', this.path('manifests', ref), this.scopes, {
        headers: { 'content-type': m.mediaType },
        body: m.bytes,
      });
    } catch (err) {
      if (err instanceof RegistryError && (err.reportedCode === 'TAG_INVALID' || /immutable/i.test(err.message))) {
        throw new ConflictError(`immutable tag conflict: ${this.name}:${ref} exists and the registry refuses to move it to ${m.digest}`);
      }
      throw err;
    }
    await res.discard();
    const stored = res.header('docker-content-digest');
    if (stored?.startsWith('sha256:') && stored !== m.digest)
      throw digestMismatch(`manifest ${this.name}:${ref} as stored`, m.digest, stored);
    return { subjectHandled: res.header('oci-subject') !== undefined };
  }

  async hasBlob(d: Descriptor): Promise<boolean> {
    const res = await this.reg.call('HEAD', this.path('blobs', d.digest), this.scopes, { allow: [404] });
    await res.discard();
    return res.status !== 404;
  }

  async blobSize(digest: string): Promise<number | undefined> {
    const res = await this.reg.call('HEAD', this.path('blobs', digest), this.scopes, { allow: [404] });
    await res.discard();
    if (res.status === 404) return undefined;
    const length = res.header('content-length');
    return length === undefined ? NaN : Number(length);
  }

  async openBlob(d: Descriptor): Promise<Readable> {
    const res = await this.reg.call('GET', this.path('blobs', d.digest), this.scopes, { contentUpTo: d.size });
    return res.body;
  }

  async mountBlob(d: Descriptor, from: Repo): Promise<MountResult> {
    if (from.registry !== this.registry || !from.repository) return { mounted: false };
    // The token needs pull on the source too; push scope first (some registries read only the first).
    const scopes = [...this.scopes, `repository:${from.repository}:pull`];
    const url = this.reg.url(
      `/v2/${this.repository}/blobs/uploads/?mount=${encodeURIComponent(d.digest)}&from=${encodeURIComponent(from.repository)}`,
    );
    try {
      const res = await this.reg.call('POST', url, scopes, { allow: [201, 202] });
      await res.discard();
      if (res.status === 201) return { mounted: true };
      const loc = res.header('location');
      return { mounted: false, ...(loc && { session: new URL(loc, url).href }) };
    } catch (err) {
      // Harbor and friends answer oddly to mounts they cannot do: upload instead.
      this.reg.log.debug(`mount of ${d.digest} into ${this.name} failed: ${(err as Error).message}`);
      return { mounted: false };
    }
  }

  /**
   * Chunked upload with one chunk (distribution-spec "Pushing a blob in
   * chunks"): POST opens a session (or a mount's 202 left one), one PATCH
   * streams the whole blob, and only once our own check of digest and size has
   * passed does `PUT <location>?digest=` (no body) commit it. A registry that
   * trusts its clients never sees a commit of wrong bytes; on any failure the
   * session is cancelled (DELETE, best effort). One PATCH, not several: GHCR
   * and ECR mishandle multi-PATCH uploads (stale Range, containers-roadmap #2831).
   *
   * A registry answering that PATCH with 405 or 501 takes no streamed uploads:
   * from then on its blobs go monolithic (`monolithic`), and this one too,
   * at once when none of its bytes were sent, else by the caller's next
   * whole-transfer attempt (a retryable error), the stream being spent.
   */
  async writeBlob(d: Descriptor, body: Readable, session?: string): Promise<void> {
    const what = `blob ${d.digest} to ${this.name}`;
    const checked = verifyingBody(body, d.digest, d.size, what);
    let location: string | undefined = session;
    try {
      location ??= await this.startUpload();
      if (!this.reg.streamedUploads) {
        await this.monolithic(d, checked, location, what);
        location = undefined;
        return;
      }
      const patch = await this.reg.call('PATCH', location, this.scopes, {
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(d.size) },
        body: checked,
        allow: [405, 501],
      });
      await patch.discard();
      if (patch.status === 405 || patch.status === 501) {
        this.noStreamedUploads(patch.status);
        await this.cancelUpload(location);
        location = undefined;
        if (checked.bytes > 0 || checked.errored) {
          throw new RemoteError(`registry ${this.registry}: ${what}: PATCH answered HTTP ${patch.status}; sending it again in one PUT`, {
            retryable: true,
          });
        }
        location = await this.startUpload();
        await this.monolithic(d, checked, location, what);
        location = undefined;
        return;
      }
      location = follow(patch, location);
      // Every byte read and checked before anything commits; a mismatch fails here.
      await verdict(checked, what);
      // Registries that say how much they hold (Range: 0-<last>) must hold all of it.
      const range = patch.header('range');
      const end = range ? /^(?:bytes=)?0-(\d+)$/.exec(range.trim())?.[1] : undefined;
      if (range && d.size > 0 && Number(end) !== d.size - 1) {
        throw new IntegrityError(`${what}: the registry holds ${range} of ${d.size} bytes after the upload`, { retryable: true });
      }
      const put = await this.reg.call('PUT', withQuery(location, 'digest', d.digest), this.scopes);
      await put.discard();
      location = undefined; // committed: nothing to cancel
    } catch (err) {
      checked.destroy();
      body.destroy();
      if (location) await this.cancelUpload(location);
      // Our own verdict on the bytes says more than how the request ended.
      throw checked.errored ?? err;
    }
  }

  /**
   * Monolithic upload (distribution-spec "Pushing a blob monolithically"):
   * `PUT <location>?digest=` with the whole blob, whose last chunk is held
   * back until our check of every byte before it has passed, so the registry
   * never has the whole body (Content-Length) of a blob that failed the check,
   * and cannot commit it.
   */
  private async monolithic(d: Descriptor, checked: Readable, location: string, what: string): Promise<void> {
    if (d.size === 0 && d.digest !== EMPTY_DIGEST) throw digestMismatch(what, d.digest, EMPTY_DIGEST);
    const held = pipeline(checked, new HoldLastChunk(), () => undefined);
    const put = await this.reg.call('PUT', withQuery(location, 'digest', d.digest), this.scopes, {
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(d.size) },
      body: held,
    });
    await put.discard();
    await verdict(checked, what);
  }

  private noStreamedUploads(status: number): void {
    if (!this.reg.streamedUploads) return;
    this.reg.streamedUploads = false;
    this.reg.log.info(
      `registry ${this.registry} takes no streamed uploads (PATCH answered HTTP ${status}): each blob goes in one PUT, checked before its last bytes are sent`,
    );
  }

  /** DELETE of an upload session: a courtesy, so never fails (registries may refuse it: quay). */
  async cancelUpload(location: string): Promise<void> {
    await this.reg.call('DELETE', location, this.scopes, { allow: [400, 401, 403, 404, 405] }).then(
      (r) => r.discard(),
      () => undefined,
    );
  }

  /** Opens an upload session; its Location, absolute. */
  private async startUpload(): Promise<string> {
    const start = this.reg.url(`/v2/${this.repository}/blobs/uploads/`);
    const res = await this.reg.call('POST', start, this.scopes, { allow: [202] });
    await res.discard();
    const loc = res.header('location');
    if (!loc) throw new RemoteError(`registry ${this.registry}: upload to ${this.name} started without a Location`);
    return new URL(loc, start).href;
  }

  /**
   * Every page of the referrers API (Link: rel="next"), within bounds: a
   * registry that pages in a loop or lists more than an image may hold is
   * refused rather than followed for ever.
   */
  async referrers(digest: string): Promise<Descriptor[] | undefined> {
    const what = `registry ${this.registry}: referrers of ${this.name}@${digest}`;
    const out: Descriptor[] = [];
    const walk = new PageWalk(what);
    let url: string | undefined = this.path('referrers', digest);
    while (url) {
      walk.visit(url);
      const res: HttpResponse = await this.reg.call('GET', url, this.scopes, { headers: { accept: OCI_INDEX }, allow: [404, 405, 501] });
      if (!res.ok) {
        await res.discard();
        // distribution 2.8 answers 404 "page not found": no referrers API here.
        if (out.length === 0) return undefined;
        break;
      }
      const index = parseJsonObject(await res.bytes(), what);
      const listed = index.manifests ?? [];
      if (!Array.isArray(listed) || !listed.every((d) => isDescriptor(d))) {
        throw new IntegrityError(`${what}: not an image index of descriptors (digest and size each)`);
      }
      out.push(...listed);
      if (out.length > DEFAULTS.ociMaxGraphManifests) {
        throw new IntegrityError(`${what}: more than ${DEFAULTS.ociMaxGraphManifests} listed, more than Relay copies for one image`);
      }
      url = nextPage(res, url);
    }
    return out;
  }
}

function isDescriptor(d: unknown): d is Descriptor {
  const o = d as Partial<Descriptor> | null;
  return typeof o === 'object' && o !== null && typeof o.digest === 'string' && typeof o.size === 'number';
}

const EMPTY_DIGEST = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** Passes every chunk on one behind, the last only once its source has ended cleanly (its check passed). */
class HoldLastChunk extends Transform {
  private last: Buffer | undefined;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const prev = this.last;
    this.last = chunk;
    cb(null, prev);
  }
  override _flush(cb: TransformCallback): void {
    cb(null, this.last);
  }
}

/** The session's next Location (each upload response may move it), resolved against the current one. */
function follow(res: HttpResponse, current: string): string {
  const loc = res.header('location');
  return loc ? new URL(loc, current).href : current;
}

/**
 * `url` with one more query parameter, the rest kept byte for byte: a
 * Location's query may carry state the registry signed (distribution-spec).
 */
function withQuery(url: string, name: string, value: string): string {
  const u = new URL(url);
  const param = `${name}=${encodeURIComponent(value)}`;
  return `${u.origin}${u.pathname}${u.search ? `${u.search}&${param}` : `?${param}`}`;
}
