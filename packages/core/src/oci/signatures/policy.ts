import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { TrustedRoot } from '@sigstore/protobuf-specs';
import { badInput, InputError } from '../../errors.js';

/**
 * What a signature must satisfy to count: signed by `key` (key-based), or by
 * a certificate whose identity and issuer match (keyless), checked against
 * `trustedRoot` (a file's, else Sigstore's public one, fetched by TUF only
 * when a keyless signature needs it).
 */
export type SignaturePolicy =
  | { kind: 'key'; key: KeyObject; keyText: string; trustedRoot?: TrustedRoot; trustedRootFrom?: string }
  | {
      kind: 'identity';
      identity: Matcher;
      issuer: Matcher;
      trustedRoot?: TrustedRoot;
      trustedRootFrom?: string;
    };

/** cosign's `--certificate-identity` (exact) or `--certificate-identity-regexp` (a pattern, unanchored, as Go's MatchString). */
export interface Matcher {
  text: string;
  test(value: string | undefined): boolean;
}

/**
 * An exact value, or `/pattern/` for a regular expression (JavaScript syntax;
 * unanchored like cosign's `-regexp` flags, so anchor it with ^…$).
 */
export function matcher(text: string, input: string): Matcher {
  const m = /^\/(.+)\/$/s.exec(text);
  if (!m) return { text, test: (v) => v === text };
  let re: RegExp;
  try {
    re = new RegExp(m[1]!, 'u');
  } catch (err) {
    badInput(input, `an exact value or /regular expression/ (${(err as Error).message})`, text);
  }
  return { text, test: (v) => v !== undefined && re.test(v) };
}

export interface SignatureInputs {
  'require-signature'?: boolean | undefined;
  'signature-key'?: string | undefined;
  'signature-identity'?: string | undefined;
  'signature-issuer'?: string | undefined;
  'trusted-root'?: string | undefined;
}

/**
 * A CommonJS module's exports from `import()`: Node and jest give them as named
 * exports, the esbuild bundle only as `default`.
 */
export function cjs<T extends object>(m: T): T {
  return (m as { default?: T }).default ?? m;
}

/** Largest key or trusted-root file read (the public root is ~10 KiB). */
const MAX_FILE = 1024 * 1024;

async function readSmall(file: string, cwd: string, input: string): Promise<string> {
  const p = path.resolve(cwd, file);
  try {
    const s = await stat(p);
    if (!s.isFile()) badInput(input, 'a file', file);
    if (s.size > MAX_FILE) badInput(input, `a file of at most ${MAX_FILE} bytes`, file);
    return await readFile(p, 'utf8');
  } catch (err) {
    if (err instanceof InputError) throw err;
    badInput(input, `a readable file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, file);
  }
}

/** A trusted-root JSON file in Sigstore's TrustedRoot format (protobuf-specs), with at least one log or CA. */
export async function loadTrustedRoot(file: string, cwd: string): Promise<TrustedRoot> {
  const input = 'trusted-root';
  const text = await readSmall(file, cwd, input);
  const { TrustedRoot } = cjs(await import('@sigstore/protobuf-specs'));
  let root: TrustedRoot;
  try {
    root = TrustedRoot.fromJSON(JSON.parse(text));
  } catch (err) {
    badInput(input, `a Sigstore trusted-root JSON file (${(err as Error).message})`, file);
  }
  if (!/^application\/vnd\.dev\.sigstore\.trustedroot(\.v0\.\d+)?\+json/.test(root.mediaType)) {
    badInput(input, 'a Sigstore trusted root (mediaType application/vnd.dev.sigstore.trustedroot…+json)', file);
  }
  if (root.tlogs.length === 0 && root.certificateAuthorities.length === 0) {
    badInput(input, 'a trusted root listing at least one transparency log or certificate authority', file);
  }
  return root;
}

/**
 * The policy the signature inputs ask for, or undefined when they ask for
 * none. Refuses, before anything is read from a registry, a require-signature
 * with nothing to verify against, half a keyless identity, and a key and an
 * identity at once (cosign verifies one or the other).
 */
export async function signaturePolicy(inp: SignatureInputs, cwd: string): Promise<SignaturePolicy | undefined> {
  const keyText = inp['signature-key']?.trim() || undefined;
  const identity = inp['signature-identity']?.trim() || undefined;
  const issuer = inp['signature-issuer']?.trim() || undefined;
  const rootFile = inp['trusted-root']?.trim() || undefined;
  if (!keyText && !identity && !issuer) {
    if (inp['require-signature'])
      badInput('require-signature', 'signature-key, or signature-identity and signature-issuer, to verify signatures against');
    if (rootFile) badInput('trusted-root', 'signature-key or signature-identity to go with it');
    return undefined;
  }
  const trustedRoot = rootFile ? await loadTrustedRoot(rootFile, cwd) : undefined;
  const root = trustedRoot ? { trustedRoot, trustedRootFrom: rootFile! } : {};
  if (keyText) {
    if (identity || issuer) badInput('signature-identity', 'unset when signature-key is given (a signature is key-based or keyless)');
    return { kind: 'key', ...(await loadPublicKey(keyText, cwd)), ...root };
  }
  if (!identity) badInput('signature-identity', 'the signer certificate identity (SAN: email or URI) to go with signature-issuer');
  if (!issuer) badInput('signature-issuer', 'the OIDC issuer of the signer certificate to go with signature-identity');
  return {
    kind: 'identity',
    identity: matcher(identity, 'signature-identity'),
    issuer: matcher(issuer, 'signature-issuer'),
    ...root,
  };
}

/** A PEM public key given as contents, or as the path of a file holding it. */
async function loadPublicKey(text: string, cwd: string): Promise<{ key: KeyObject; keyText: string }> {
  const input = 'signature-key';
  const pem = text.startsWith('-----BEGIN') ? text : await readSmall(text, cwd, input);
  if (!/-----BEGIN PUBLIC KEY-----/.test(pem)) badInput(input, 'a PEM public key (-----BEGIN PUBLIC KEY-----) or the path of one');
  try {
    const key = createPublicKey({ key: pem, format: 'pem' });
    return { key, keyText: pem.trim() };
  } catch (err) {
    badInput(input, `a PEM public key that parses (${(err as Error).message})`);
  }
}

/** How the policy reads in messages: "key <sha256 of the DER>" or "identity X issued by Y". */
export function describePolicy(p: SignaturePolicy): string {
  if (p.kind === 'key') return `a signature by signature-key (${keyFingerprint(p.key)})`;
  return `a keyless signature by identity ${p.identity.text} (issuer ${p.issuer.text})`;
}

export function keyFingerprint(k: KeyObject): string {
  return (
    'sha256:' +
    createHash('sha256')
      .update(k.export({ type: 'spki', format: 'der' }))
      .digest('hex')
      .slice(0, 16)
  );
}
