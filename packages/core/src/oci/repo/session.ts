import path from 'node:path';
import { HttpClient } from '../../http/client.js';
import type { HttpClientOptions } from '../../http/client.js';
import type { Logger } from '../../log/logger.js';
import type { Reference } from '../ref/reference.js';
import { anonymous, fixed } from './auth/credentials.js';
import type { CredentialProvider, InputCredentials } from './auth/credentials.js';
import { dockerConfigProvider } from './auth/docker-config.js';
import { RegistryAuth } from './auth/registry-auth.js';
import { LayoutRepo } from './layout.js';
import { Registry } from './registry.js';
import type { Repo } from './repo.js';

export interface OciSessionOptions {
  env: Record<string, string | undefined>;
  log: Logger;
  cwd?: string;
  /** Hosts spoken to over plain HTTP besides loopback. */
  insecureRegistries?: readonly string[];
  /** Credentials given as inputs, by registry host. */
  credentials?: InputCredentials;
  /**
   * A host's native credential sources, tried after inputs and before docker's
   * config (ECR's: oci/ecr/auth.ts ecrKeychain). The session knows no cloud.
   */
  keychain?: (host: string) => CredentialProvider[];
  /** Overrides for tests and stand-ins (retry timing, --connect-to). */
  http?: Omit<HttpClientOptions, 'insecureHosts' | 'log'>;
  /** Context.signal: cancels every registry request in flight. */
  signal?: AbortSignal;
  /** How long a credential helper may run (the subprocess-timeout input); DEFAULTS.subprocessTimeoutMs if unset. */
  subprocessTimeoutMs?: number;
}

/** Tries providers in order; the first with credentials answers; failures fall through to the next. */
function firstOf(providers: CredentialProvider[], log: Logger): CredentialProvider {
  let chosen: CredentialProvider = anonymous;
  const resolved = (async () => {
    let failure: unknown;
    for (const p of providers) {
      try {
        const c = await p.get();
        if (c) {
          chosen = p;
          return c;
        }
      } catch (err) {
        log.debug(`${p.source}: ${(err as Error).message}`);
        failure ??= err;
      }
    }
    // Anonymous may still do (public pulls); if not, the refusal names what failed.
    if (failure) chosen = { source: `no credentials (${(failure as Error).message})`, get: async () => undefined };
    return undefined;
  })();
  resolved.catch(() => undefined);
  return {
    get source() {
      return chosen.source;
    },
    get: () => resolved,
    refresh: () => (chosen.refresh ? chosen.refresh() : Promise.resolve(undefined)),
  };
}

/**
 * Where repositories come from: one HTTP client and one auth session per
 * registry host, shared by source and target (so mounts reuse tokens).
 */
export class OciSession {
  readonly http: HttpClient;
  private readonly registries = new Map<string, Registry>();

  constructor(private readonly opts: OciSessionOptions) {
    this.http = new HttpClient({
      env: opts.env,
      signal: opts.signal,
      ...opts.http,
      insecureHosts: opts.insecureRegistries ?? [],
      log: opts.log,
    });
  }

  /** explicit input > the keychain's (native ECR / ECR Public) > docker config > anonymous. */
  private provider(host: string): CredentialProvider {
    const { log, env } = this.opts;
    const chain: CredentialProvider[] = [];
    const given = this.opts.credentials?.[host];
    if (given) {
      log.mask(given.credential.kind === 'basic' ? given.credential.password : given.credential.token);
      chain.push(fixed(given.credential, given.source));
    }
    chain.push(...(this.opts.keychain?.(host) ?? []));
    chain.push(dockerConfigProvider(host, env, log, this.opts.subprocessTimeoutMs));
    return firstOf(chain, log);
  }

  registry(host: string): Registry {
    let r = this.registries.get(host);
    if (!r) {
      r = new Registry(host, this.http, new RegistryAuth(host, this.http, this.provider(host), this.opts.log), this.opts.log);
      this.registries.set(host, r);
    }
    return r;
  }

  open(ref: Reference, access: 'pull' | 'push'): Repo {
    if (ref.kind === 'layout') return new LayoutRepo(path.resolve(this.opts.cwd ?? '.', ref.dir));
    return this.registry(ref.registry).repo(ref.repository, access);
  }

  close(): void {
    this.http.close();
  }
}
