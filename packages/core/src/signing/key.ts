import type * as OpenPgp from 'openpgp';

/** openpgp is ~0.8 MB of JavaScript: load it on first use, not at CLI start-up. */
let loaded: Promise<typeof OpenPgp> | undefined;
const pgp = (): Promise<typeof OpenPgp> => (loaded ??= import('openpgp'));
import { badInput, IntegrityError, InputError } from '../errors.js';
import type { Logger } from '../log/logger.js';

export interface SigningKey {
  key: OpenPgp.PrivateKey;
  publicArmor: string;
  /** Primary key ID, 16 upper-case hex digits, as the registry protocol shows it. */
  keyId: string;
  fingerprint: string;
  algorithm: string;
}

const ARMOR = '-----BEGIN PGP PRIVATE KEY BLOCK-----';

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
  const keyId = key.getKeyID().toHex().toUpperCase();
  if (await key.isRevoked(undefined, undefined, now)) throw new InputError(`input 'signing-key': key ${keyId} is revoked`);
  const expires = await key.getExpirationTime();
  if (expires instanceof Date && expires.getTime() <= now.getTime()) {
    throw new InputError(
      `input 'signing-key': key ${keyId} expired on ${expires.toISOString().slice(0, 10)}; extend its expiry or use another key`,
    );
  }
  let signer: OpenPgp.PrivateKey | OpenPgp.Subkey;
  try {
    signer = await key.getSigningKey(undefined, now);
  } catch {
    throw new InputError(`input 'signing-key': key ${keyId} has no valid signing-capable (sub)key`);
  }
  const algorithm = signer.getAlgorithmInfo().algorithm;
  if (!String(algorithm).startsWith('rsa')) {
    log.warn(`signing key ${keyId} uses ${algorithm}: Terraform older than 1.6 cannot verify it; an RSA key (4096 bits) works everywhere`);
  }
  return { key, publicArmor: key.toPublic().armor(), keyId, fingerprint: key.getFingerprint().toUpperCase(), algorithm: String(algorithm) };
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
