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
