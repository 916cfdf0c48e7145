import { badInput, InputError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { loadPublicKey, loadSigningKey, parseFingerprint, type Signer } from '../signing/key.js';

/**
 * The signing inputs of the operations that sign SHA256SUMS (spread into
 * their spec). The private key is needed only by a run that writes: a dry
 * run (the plan job of a reusable workflow, outside the protected
 * environment) plans the signature from the public key and its fingerprint,
 * and the fingerprint enters the plan hash, so the apply job's key must be
 * the one planned.
 */
export function signingInputs(keyDescription: string) {
  return {
    'signing-key': {
      description: `${keyDescription} Needed to write; a dry run may plan with \`signing-public-key\` instead. Pass it through a secret of the protected environment.`,
      secret: true,
      defaultNote: 'none: only a dry run, with `signing-public-key`',
    },
    'signing-key-passphrase': { description: 'Passphrase of the signing key, if it is encrypted.', secret: true },
    'signing-public-key': {
      description:
        'The public half of the signing key (ASCII-armored, or its base64; `gpg --armor --export <fingerprint>`): a dry run without `signing-key` plans the signature and the documents that carry the key from it. Not a secret.',
    },
    'signing-key-fingerprint': {
      description:
        'The OpenPGP fingerprint (40 hex digits) of the key that must sign: `signing-key` and `signing-public-key` are refused unless they are this key. The plan hash binds the fingerprint either way.',
    },
  } as const;
}

export interface SignerInputs {
  'signing-key'?: string;
  'signing-key-passphrase'?: string;
  'signing-public-key'?: string;
  'signing-key-fingerprint'?: string;
  'dry-run': boolean;
}

/**
 * The signer a run uses, every check before anything is built or written:
 * a write needs the private key; a dry run takes the private key or the
 * public one; each key given must be the pinned fingerprint (when given)
 * and the two keys the same key.
 */
export async function signerFromInputs(inp: SignerInputs, log: Logger): Promise<Signer> {
  const pin = inp['signing-key-fingerprint'] ? parseFingerprint(inp['signing-key-fingerprint'], 'signing-key-fingerprint') : undefined;
  if (!inp['signing-key'] && !inp['dry-run'])
    badInput(
      'signing-key',
      'the private signing key: a run that writes signs SHA256SUMS (signing-public-key and signing-key-fingerprint only plan, in a dry run)',
    );
  if (!inp['signing-key'] && !inp['signing-public-key'])
    badInput('signing-public-key', 'the public signing key (or signing-key) for a dry run: the documents it plans carry the key');
  const publicKey = inp['signing-public-key'] ? await loadPublicKey(inp['signing-public-key'], 'signing-public-key', log) : undefined;
  const privateKey = inp['signing-key'] ? await loadSigningKey(inp['signing-key'], inp['signing-key-passphrase'], log) : undefined;
  const signer = (privateKey ?? publicKey)!;
  for (const [input, k] of [
    ['signing-public-key', publicKey],
    ['signing-key', privateKey],
  ] as const) {
    if (k && pin && k.fingerprint !== pin)
      throw new InputError(`input '${input}': key ${k.fingerprint} is not the planned key ${pin} (input 'signing-key-fingerprint')`);
  }
  if (publicKey && privateKey && publicKey.fingerprint !== privateKey.fingerprint)
    throw new InputError(
      `input 'signing-public-key': key ${publicKey.fingerprint} is not the public half of signing-key (${privateKey.fingerprint})`,
    );
  log.info(
    privateKey
      ? `signing with key ${signer.keyId} (fingerprint ${signer.fingerprint}, ${signer.algorithm})`
      : `planning the signature of key ${signer.keyId} (fingerprint ${signer.fingerprint}) without its private key: nothing will be signed`,
  );
  return signer;
}
