import type * as OpenPgp from 'openpgp';

/** openpgp is ~0.8 MB of JavaScript: load it on first use, not at CLI start-up. */
let loaded: Promise<typeof OpenPgp> | undefined;
const pgp = (): Promise<typeof OpenPgp> => (loaded ??= import('openpgp'));
import { badInput, IntegrityError, InputError } from '../errors.js';
import type { Logger } from '../log/logger.js';

/**
 * The signer as a plan knows it: the public key and its fingerprint. A plan
 * (a dry run) needs no more; only a run that writes holds the private key.
 */
export interface Signer {
  publicArmor: string;
  /** Primary key ID, 16 upper-case hex digits, as the registry protocol shows it. */
  keyId: string;
  /** OpenPGP v4 fingerprint of the primary key, 40 upper-case hex digits. */
  fingerprint: string;
  algorithm: string;
  /** The private key, decrypted: present only when the run was given `signing-key`. */
  key?: OpenPgp.PrivateKey;
}

/** A signer holding its private key: one that can sign. */
export interface SigningKey extends Signer {
  key: OpenPgp.PrivateKey;
}

const ARMOR = '-----BEGIN PGP PRIVATE KEY BLOCK-----';
const PUBLIC_ARMOR = '-----BEGIN PGP PUBLIC KEY BLOCK-----';

/** An OpenPGP v4 fingerprint as an input gives it: 40 hex digits, spaces and a `0x` allowed, upper-cased. */
export function parseFingerprint(text: string, input: string): string {
  const f = text.replace(/\s+/g, '').replace(/^0x/i, '').toUpperCase();
  if (!/^[0-9A-F]{40}$/.test(f)) badInput(input, 'an OpenPGP key fingerprint (40 hex digits, as `gpg --fingerprint` prints it)', text);
  return f;
}

/**
 * Loads and checks the signing key before anything is built or written:
 * it must decrypt, be unexpired, unrevoked and able to sign. Non-RSA keys
 * work on current Terraform but not on Terraform < 1.6 (no EdDSA there).
 */
export async function loadSigningKey(text: string, passphrase: string | undefined, log: Logger, now = new Date()): Promise<SigningKey> {
  const openpgp = await pgp();
  const input = 'signing-key';
  let key: OpenPgp.PrivateKey;
  try {
    key = await readKey(text.trim());
  } catch {
    badInput(input, `an OpenPGP private key, ASCII-armored (${ARMOR}) or base64 of it`);
  }
  if (!key.isDecrypted()) {
    if (!passphrase) badInput('signing-key-passphrase', 'the passphrase of the encrypted signing key');
    try {
      key = await openpgp.decryptKey({ privateKey: key, passphrase });
    } catch {
      throw new InputError(`input 'signing-key-passphrase': does not decrypt the signing key ${key.getKeyID().toHex().toUpperCase()}`);
    }
  }
  const signer = await checkSigner(key, input, log, now);
  return { ...signer, key };
}

/**
 * Loads the public half of the signing key, for a plan made without the
 * private key: the same checks as loadSigningKey (unexpired, unrevoked, able
 * to sign). A private key given here is refused without being read further:
 * this input is not a secret.
 */
export async function loadPublicKey(text: string, input: string, log: Logger, now = new Date()): Promise<Signer> {
  const openpgp = await pgp();
  const t = text.trim();
  const asText = t.startsWith('-----') ? t : Buffer.from(t.replace(/\s+/g, ''), 'base64').toString('utf8').trim();
  if (asText.startsWith(ARMOR))
    throw new InputError(`input '${input}': holds a private key; give only the public key (gpg --armor --export <fingerprint>)`);
  let key: OpenPgp.Key;
  try {
    key = asText.startsWith(PUBLIC_ARMOR)
      ? await openpgp.readKey({ armoredKey: asText })
      : await openpgp.readKey({ binaryKey: Buffer.from(t.replace(/\s+/g, ''), 'base64') });
  } catch {
    badInput(input, `an OpenPGP public key, ASCII-armored (${PUBLIC_ARMOR}) or base64 of it`);
  }
  if (key.isPrivate())
    throw new InputError(`input '${input}': holds a private key; give only the public key (gpg --armor --export <fingerprint>)`);
  return checkSigner(key, input, log, now);
}

/** What every signer must be, private key or public: unrevoked, unexpired, able to sign. */
async function checkSigner(key: OpenPgp.Key, input: string, log: Logger, now: Date): Promise<Signer> {
  const keyId = key.getKeyID().toHex().toUpperCase();
  if (await key.isRevoked(undefined, undefined, now)) throw new InputError(`input '${input}': key ${keyId} is revoked`);
  const expires = await key.getExpirationTime();
  if (expires instanceof Date && expires.getTime() <= now.getTime()) {
    throw new InputError(
      `input '${input}': key ${keyId} expired on ${expires.toISOString().slice(0, 10)}; extend its expiry or use another key`,
    );
  }
  let signing: OpenPgp.Key | OpenPgp.Subkey;
  try {
    signing = await key.getSigningKey(undefined, now);
  } catch {
    throw new InputError(`input '${input}': key ${keyId} has no valid signing-capable (sub)key`);
  }
  const algorithm = signing.getAlgorithmInfo().algorithm;
  if (!String(algorithm).startsWith('rsa')) {
    log.warn(`signing key ${keyId} uses ${algorithm}: Terraform older than 1.6 cannot verify it; an RSA key (4096 bits) works everywhere`);
  }
  // The public half, re-armored here whichever way it came: the documents that carry it are then the same bytes
  // for a plan made from the public key and an apply made from the private one.
  const publicArmor = (key.isPrivate() ? key.toPublic() : key).armor();
  return { publicArmor, keyId, fingerprint: key.getFingerprint().toUpperCase(), algorithm: String(algorithm) };
}

async function readKey(text: string): Promise<OpenPgp.PrivateKey> {
  const openpgp = await pgp();
  if (text.startsWith(ARMOR)) return openpgp.readPrivateKey({ armoredKey: text });
  const raw = Buffer.from(text.replace(/\s+/g, ''), 'base64');
  const asText = raw.toString('utf8');
  if (asText.trimStart().startsWith(ARMOR)) return openpgp.readPrivateKey({ armoredKey: asText.trim() });
  return openpgp.readPrivateKey({ binaryKey: raw });
}

/** A binary detached signature, verified with the public key before it is returned. */
export async function signDetached(k: SigningKey, data: Buffer, date?: Date): Promise<Buffer> {
  const openpgp = await pgp();
  const sig = await openpgp.sign({
    message: await openpgp.createMessage({ binary: data }),
    signingKeys: k.key,
    detached: true,
    format: 'binary',
    ...(date ? { date } : {}),
  });
  const out = Buffer.from(sig as Uint8Array);
  if (!(await verifyDetached(data, out, [k.publicArmor])))
    throw new IntegrityError(`signature made with key ${k.keyId} does not verify; not publishing`);
  return out;
}

/** True when `sig` is a valid detached signature over `data` by one of the armored public keys. */
export async function verifyDetached(data: Buffer, sig: Buffer, publicArmors: string[]): Promise<string | false> {
  const openpgp = await pgp();
  let signature: OpenPgp.Signature;
  try {
    signature = await openpgp.readSignature({ binarySignature: sig });
  } catch {
    return false;
  }
  for (const armor of publicArmors) {
    let keys: OpenPgp.Key[];
    try {
      keys = await openpgp.readKeys({ armoredKeys: armor });
    } catch {
      continue;
    }
    const res = await openpgp.verify({
      message: await openpgp.createMessage({ binary: data }),
      signature,
      verificationKeys: keys,
      format: 'binary',
    });
    for (const s of res.signatures) {
      try {
        await s.verified;
        return s.keyID.toHex().toUpperCase();
      } catch {
        // not this key
      }
    }
  }
  return false;
}

/** A throwaway RSA key for the demo and tests (never for real releases). */
export async function generateThrowawayKey(name: string, bits: 2048 | 3072 | 4096 = 3072): Promise<string> {
  const openpgp = await pgp();
  const { privateKey } = await openpgp.generateKey({
    type: 'rsa',
    rsaBits: bits,
    userIDs: [{ name, email: 'relay-demo@example.invalid' }],
    format: 'armored',
  });
  return privateKey;
}
