import { errorMessage } from '../errors.js';
import { OCI_INDEX } from '../oci/ref/media.js';
import type { ObservedResponse, Registry } from '../oci/repo/registry.js';
import type { Target } from './config.js';

/** What the referrers endpoint turned out to be. */
export type ReferrersSupport = 'api' | 'missing' | 'fake 200';

/** Rate-limit headers a registry sent (Docker Hub: `ratelimit-remaining: 76;w=21600`). */
export interface RateLimit {
  limit?: string;
  /** The lowest remaining count seen in the run. */
  remaining?: number;
  remainingText?: string;
  source?: string;
}

/** Requests and rate-limit headers seen per registry host, from the engine's response observer. */
export class RegistryWatch {
  readonly rateLimits = new Map<string, RateLimit>();
  /** host → method → count */
  readonly requests = new Map<string, Map<string, number>>();
  private readonly watched = new Set<string>();

  watch(reg: Registry): void {
    if (this.watched.has(reg.host)) return;
    this.watched.add(reg.host);
    reg.observers.push((r) => this.see(r));
  }

  private see(r: ObservedResponse): void {
    const byMethod = this.requests.get(r.host) ?? new Map<string, number>();
    byMethod.set(r.method, (byMethod.get(r.method) ?? 0) + 1);
    this.requests.set(r.host, byMethod);
    const remaining = r.header('ratelimit-remaining');
    const limit = r.header('ratelimit-limit');
    if (remaining === undefined && limit === undefined) return;
    const rl = this.rateLimits.get(r.host) ?? {};
    if (limit !== undefined) rl.limit = limit;
    const n = remaining === undefined ? NaN : Number(/^\s*(\d+)/.exec(remaining)?.[1]);
    if (Number.isFinite(n) && (rl.remaining === undefined || n <= rl.remaining)) {
      rl.remaining = n;
      rl.remainingText = remaining;
    }
    const src = r.header('docker-ratelimit-source');
    if (src) rl.source = src;
    this.rateLimits.set(r.host, rl);
  }

  count(host: string, method: string): number {
    return this.requests.get(host)?.get(method) ?? 0;
  }
}

/** What Relay learned about one target, reported in the summary and steering the copy. */
export class Capabilities {
  referrers: ReferrersSupport | undefined;
  referrersNote = '';
  /** OCI-Subject seen on a manifest PUT: the registry indexed a subject itself. */
  subjectHeader = false;
  artifacts: 'accepted' | 'refused' | undefined;
  mountsHonoured = 0;
  mountsRefused = 0;
  immutability: { immutable: (tag: string) => boolean; from: string } | undefined;
  private referrersProbe: Promise<ReferrersSupport> | undefined;

  constructor(readonly target: Target) {
    const o = target.overrides;
    if (o.referrers) this.referrers = o.referrers === 'api' ? 'api' : 'missing';
    if (o.immutableTags !== undefined) this.immutability = { immutable: () => o.immutableTags!, from: 'mirror file' };
  }

  /** Whether the target indexes referrers itself; probed once (GET /referrers) unless overridden. */
  referrersApi(reg: Registry, repository: string, subject: string, scopes: string[]): Promise<ReferrersSupport> {
    if (this.referrers) return Promise.resolve(this.referrers);
    this.referrersProbe ??= probeReferrers(reg, repository, subject, scopes).then((r) => {
      this.referrers = r.support;
      this.referrersNote = r.note;
      return r.support;
    });
    return this.referrersProbe;
  }

  /** One line per capability for the summary's probe table. */
  describe(rl: RateLimit | undefined): Record<string, string> {
    const o = this.target.overrides;
    const over = ' (mirror file)';
    return {
      referrers:
        (this.referrers === undefined
          ? 'not probed (nothing to write or check)'
          : this.referrers === 'api'
            ? 'API'
            : this.referrers === 'fake 200'
              ? 'fake 200 (treated as missing: tag fallback)'
              : 'missing (tag fallback)') +
        (o.referrers ? over : this.subjectHeader ? ', OCI-Subject sent' : '') +
        (this.referrersNote ? ` ${this.referrersNote}` : ''),
      artifacts:
        o.artifacts !== undefined
          ? `${o.artifacts ? 'accepted' : 'refused: referrers not mirrored'}${over}`
          : (this.artifacts ?? 'not tested (no artifact manifest written)'),
      mounts:
        o.mounts === false
          ? `off${over}`
          : this.mountsHonoured + this.mountsRefused === 0
            ? 'not tested (no mount needed)'
            : this.mountsRefused === 0
              ? `honoured (${this.mountsHonoured})`
              : `${this.mountsHonoured} honoured, ${this.mountsRefused} refused (uploaded instead)`,
      'tag immutability': this.immutability
        ? `${this.immutability.immutable('x') ? 'immutable' : 'mutable'} (${this.immutability.from})`
        : 'unknown (no API; a refused move is reported as a conflict)',
      'rate limit': rl
        ? `${rl.remainingText ?? '?'} of ${rl.limit ?? '?'}${rl.source ? ` (source ${rl.source})` : ''}`
        : 'no rate-limit headers',
    };
  }
}

/**
 * GET /v2/<repo>/referrers/<digest>. A real API answers an OCI index for any
 * digest (empty when nothing refers to it); 404/405/501 mean none; a 200 that
 * is not an index (a login page, `{}`) is a fake the copy must not trust.
 */
export async function probeReferrers(
  reg: Registry,
  repository: string,
  subject: string,
  scopes: string[],
): Promise<{ support: ReferrersSupport; note: string }> {
  try {
    const res = await reg.call('GET', reg.url(`/v2/${repository}/referrers/${subject}`), scopes, {
      headers: { accept: OCI_INDEX },
      allow: [400, 404, 405, 406, 501],
    });
    if (!res.ok) {
      await res.discard();
      return { support: 'missing', note: `(HTTP ${res.status})` };
    }
    const type = res.header('content-type')?.split(';')[0]?.trim();
    const text = await res.text(1024 * 1024);
    let body: { mediaType?: unknown; manifests?: unknown } | undefined;
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      body = undefined;
    }
    const isIndex =
      typeof body === 'object' && body !== null && Array.isArray(body.manifests) && (type === OCI_INDEX || body.mediaType === OCI_INDEX);
    return isIndex ? { support: 'api', note: '' } : { support: 'fake 200', note: `(200 ${type ?? 'without a type'}, not an OCI index)` };
  } catch (err) {
    return { support: 'missing', note: `(probe failed: ${errorMessage(err)})` };
  }
}
