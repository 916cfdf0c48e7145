import { badInput } from '../../../errors.js';
import type { Reference } from '../../ref/reference.js';

/** What a registry is given to prove who we are. */
export type Credential =
  | { kind: 'basic'; username: string; password: string }
  /** Docker's identity token (username `<token>`): an OAuth2 refresh token for the realm. */
  | { kind: 'identity-token'; token: string }
  /** Sent as-is as `Bearer …` (ECR Public's GetAuthorizationToken result). */
  | { kind: 'bearer'; token: string };

/** Credentials for one registry, and where they came from (for messages, never the secret). */
export interface CredentialProvider {
  /** e.g. "docker config", "ECR GetAuthorizationToken", "input 'destination-password'". */
  readonly source: string;
  get(): Promise<Credential | undefined>;
  /** Fresh credentials after the registry refused the current ones; undefined when this source cannot renew. */
  refresh?(): Promise<Credential | undefined>;
}

export const anonymous: CredentialProvider = { source: 'no credentials', get: async () => undefined };

export function fixed(credential: Credential, source: string): CredentialProvider {
  return { source, get: async () => credential };
}

export function basicHeader(username: string, password: string): string {
  return 'Basic ' + Buffer.from(`${username}:${password}`).toString('base64');
}

/** Credentials given as inputs, by registry host; `source` names the input for messages. */
export type InputCredentials = Record<string, { credential: Credential; source: string }>;

/** Username/password pairs given as inputs, keyed by the registry they are for. */
export function inputCredentials(
  pairs: { ref: Reference; user: string | undefined; pass: string | undefined; input: string }[],
): InputCredentials {
  const out: InputCredentials = {};
  for (const p of pairs) {
    if (!p.user && !p.pass) continue;
    if (!p.user || !p.pass) badInput(`${p.input}-username`, `both ${p.input}-username and ${p.input}-password, or neither`);
    if (p.ref.kind !== 'registry') badInput(`${p.input}-username`, `a registry ${p.input}, not an OCI layout`);
    const credential: Credential = { kind: 'basic', username: p.user, password: p.pass };
    out[p.ref.registry] = { credential, source: `input '${p.input}-password'` };
  }
  return out;
}
