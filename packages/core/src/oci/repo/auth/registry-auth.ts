import { AuthError, RemoteError } from '../../../errors.js';
import { bindCredential } from '../../../http/client.js';
import type { BoundCredential, HttpClient, HttpResponse } from '../../../http/client.js';
import { parseJsonObject } from '../../../json.js';
import type { Logger } from '../../../log/logger.js';
import { parseChallenges, pickChallenge } from './challenge.js';
import type { Challenge } from './challenge.js';
import { basicHeader } from './credentials.js';
import type { Credential, CredentialProvider } from './credentials.js';

interface Token {
  value: string;
  expiresAt: number;
}

/** Tokens younger than this before their end are fetched again rather than risked. */
const EXPIRY_SLACK_MS = 10_000;

/**
 * Authorization for one registry: learns its challenge once, sends Basic or
 * a Bearer token fetched from the realm and cached per scope set, and renews
 * either when the registry refuses it.
 */
export class RegistryAuth {
  private challenge: Promise<Challenge | undefined> | undefined;
  private readonly tokens = new Map<string, { promise: Promise<Token>; token?: Token }>();
  private credential: Promise<Credential | undefined> | undefined;

  constructor(
    readonly host: string,
    private readonly http: HttpClient,
    readonly provider: CredentialProvider,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  private base(): string {
    return `${this.http.schemeFor(this.host)}://${this.host}`;
  }

  /** The registry's origin: the only one its credentials and tokens are sent to (the token realm's aside). */
  get origin(): string {
    return new URL(this.base()).origin;
  }

  /** What `header` gives, bound to the registry's origin for HttpClient (undefined for anonymous). */
  async bound(scopes: readonly string[]): Promise<BoundCredential | undefined> {
    const h = await this.header(scopes);
    return h === undefined ? undefined : bindCredential(h, this.base());
  }

  private cred(): Promise<Credential | undefined> {
    return (this.credential ??= this.provider.get());
  }

  /** GET /v2/ once: 200 means no auth; 401 says how to authenticate. */
  private learn(): Promise<Challenge | undefined> {
    return (this.challenge ??= (async () => {
      const res = await this.http.request({ url: `${this.base()}/v2/` });
      await res.discard();
      if (res.status === 401) return pickChallenge(parseChallenges(res.header('www-authenticate')));
      if (res.ok || res.status === 404) return undefined;
      throw new RemoteError(`registry ${this.host}: GET /v2/ answered HTTP ${res.status}; is it an OCI registry?`);
    })());
  }

  /** The Authorization header for a request needing `scopes`, or undefined for anonymous. */
  async header(scopes: readonly string[]): Promise<string | undefined> {
    const cred = await this.cred();
    if (cred?.kind === 'bearer') return `Bearer ${cred.token}`;
    const ch = await this.learn();
    if (!ch) return cred?.kind === 'basic' ? basicHeader(cred.username, cred.password) : undefined;
    if (ch.scheme === 'basic') return cred?.kind === 'basic' ? basicHeader(cred.username, cred.password) : undefined;
    const token = await this.token(ch, scopes, cred);
    return `Bearer ${token}`;
  }

  private token(ch: Challenge, scopes: readonly string[], cred: Credential | undefined): Promise<string> {
    const key = scopes.join(' ');
    const cached = this.tokens.get(key);
    // Decided synchronously, so concurrent requests for one scope share one fetch.
    if (cached && (!cached.token || cached.token.expiresAt - EXPIRY_SLACK_MS > this.now())) return cached.promise.then((t) => t.value);
    const entry: { promise: Promise<Token>; token?: Token } = { promise: this.fetchToken(ch, scopes, cred) };
    this.tokens.set(key, entry);
    entry.promise.then(
      (t) => {
        entry.token = t;
      },
      () => {
        if (this.tokens.get(key) === entry) this.tokens.delete(key);
      },
    );
    return entry.promise.then((t) => t.value);
  }

  private async fetchToken(ch: Challenge, scopes: readonly string[], cred: Credential | undefined): Promise<Token> {
    const realm = ch.params.realm;
    if (!realm) throw new AuthError(`registry ${this.host}: Bearer challenge without a realm`);
    const url = new URL(realm, this.base());
    let res: HttpResponse;
    if (cred?.kind === 'identity-token') {
      // Docker's identity token is an OAuth2 refresh token (distribution oauth.md).
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: cred.token,
        client_id: 'relay',
        service: ch.params.service ?? '',
        scope: scopes.join(' '),
      });
      res = await this.http.request({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
      });
    } else {
      if (ch.params.service) url.searchParams.set('service', ch.params.service);
      for (const s of scopes) url.searchParams.append('scope', s);
      // The one place a registry's credentials leave its origin, as the token protocol (distribution token.md)
      // has it: the realm its own challenge names (Docker Hub's auth.docker.io for registry-1.docker.io).
      const auth = cred?.kind === 'basic' ? bindCredential(basicHeader(cred.username, cred.password), url) : undefined;
      res = await this.http.request({ url, ...(auth && { credential: auth }) });
    }
    if (!res.ok) {
      await res.discard();
      const who = cred ? `credentials from ${this.provider.source}` : 'anonymous access';
      throw new AuthError(`registry ${this.host}: token service ${url.host} refused ${who} (HTTP ${res.status})`);
    }
    const body = parseJsonObject(await res.bytes(1024 * 1024), `registry ${this.host}: token service ${url.host}`, 'auth') as {
      token?: string;
      access_token?: string;
      expires_in?: number;
      issued_at?: string;
    };
    const value = body.token ?? body.access_token;
    if (!value) throw new AuthError(`registry ${this.host}: token service ${url.host} returned no token`);
    this.log.mask(value);
    const issued = body.issued_at ? Date.parse(body.issued_at) : NaN;
    const start = Number.isNaN(issued) ? this.now() : Math.min(issued, this.now());
    // distribution token.md: expires_in defaults to 60 seconds.
    return { value, expiresAt: start + (body.expires_in ?? 60) * 1000 };
  }

  /**
   * The registry refused `sentHeader`. Returns true when a retry may succeed:
   * a challenge we had not seen, a cached token to drop, or credentials the
   * provider can renew (ECR, ECR Public's 400 DENIED).
   */
  async refused(res: HttpResponse, scopes: readonly string[], sentHeader: string | undefined): Promise<boolean> {
    const credAtEntry = this.credential;
    const offered = pickChallenge(parseChallenges(res.header('www-authenticate')));
    const known = await this.learn().catch(() => undefined);
    if (offered && (!known || offered.scheme !== known.scheme || offered.params.realm !== known.params.realm)) {
      this.challenge = Promise.resolve(offered);
      this.tokens.clear();
      return true;
    }
    const current = await this.header(scopes).catch(() => undefined);
    // Another request already renewed what we sent: just try again.
    if (this.credential !== credAtEntry || (current !== undefined && current !== sentHeader)) return true;
    if (this.provider.refresh) {
      this.log.debug(`registry ${this.host}: renewing credentials from ${this.provider.source}`);
      const old = this.credential;
      const next = this.provider.refresh().catch(() => undefined);
      // Assigned before any await, so concurrent refusals see it and do not renew again.
      this.credential = next.then(async (c) => c ?? (await old));
      if (await next) {
        this.tokens.clear();
        return true;
      }
    }
    if (sentHeader?.startsWith('Bearer ') && (await this.cred())?.kind !== 'bearer') {
      this.tokens.delete(scopes.join(' '));
      return true;
    }
    return false;
  }
}
