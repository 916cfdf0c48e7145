import { createHash } from 'node:crypto';
import { ANN_BUNDLE, ANN_CERTIFICATE, ANN_CHAIN, ANN_SIGNATURE } from './found.js';

/** Why a signature could not even be read: each its own sentence in the gate's message. */
export class Malformed extends Error {}

/** The simple-signing payload cosign signs (sigstore/sigstore pkg/signature/payload). */
export interface SimpleSigning {
  critical?: { image?: { 'docker-manifest-digest'?: string }; type?: string; identity?: { 'docker-reference'?: string } };
}
export const SIMPLESIGNING_TYPE = 'cosign container image signature';

/** cosign's `dev.sigstore.cosign/bundle` annotation (pkg/cosign/bundle/rekor.go RekorBundle). */
interface RekorBundle {
  SignedEntryTimestamp?: string;
  Payload?: { body?: string; integratedTime?: number; logIndex?: number; logID?: string };
}

/** PEM blocks of one type, as DER. */
export function pemBlocks(text: string, type = 'CERTIFICATE'): Buffer[] {
  const re = new RegExp(`-----BEGIN ${type}-----([\\s\\S]*?)-----END ${type}-----`, 'g');
  return [...text.matchAll(re)].map((m) => Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
}

export function parsePayload(payload: Buffer): SimpleSigning {
  try {
    const p = JSON.parse(payload.toString('utf8')) as SimpleSigning;
    if (typeof p !== 'object' || p === null) throw new Error('not an object');
    return p;
  } catch (err) {
    throw new Malformed(`its payload is not simple-signing JSON (${(err as Error).message})`);
  }
}

/**
 * A legacy `.sig` layer as the Sigstore bundle (v0.1, the format that carries
 * cosign's Rekor SET without an inclusion proof) that says the same thing, so
 * that @sigstore/verify checks it: the message signature over the payload,
 * the certificate (keyless) or the key's hint, and the Rekor entry.
 */
export function legacyBundleJson(payload: Buffer, ann: Record<string, string>): { json: unknown; chain: Buffer[] } {
  const sig = ann[ANN_SIGNATURE];
  if (!sig || !/^[A-Za-z0-9+/=\s]+$/.test(sig)) throw new Malformed(`it has no base64 ${ANN_SIGNATURE} annotation`);
  const certPem = ann[ANN_CERTIFICATE];
  const certs = certPem ? pemBlocks(certPem) : [];
  if (certPem && certs.length !== 1) throw new Malformed(`its ${ANN_CERTIFICATE} annotation is not one PEM certificate`);
  const chain = ann[ANN_CHAIN] ? pemBlocks(ann[ANN_CHAIN]) : [];
  const tlogEntries = ann[ANN_BUNDLE] ? [tlogEntry(ann[ANN_BUNDLE])] : [];
  const json = {
    mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1',
    verificationMaterial: {
      ...(certs.length
        ? { x509CertificateChain: { certificates: certs.map((c) => ({ rawBytes: c.toString('base64') })) } }
        : { publicKey: { hint: '' } }),
      tlogEntries,
      timestampVerificationData: { rfc3161Timestamps: [] },
    },
    messageSignature: {
      messageDigest: { algorithm: 'SHA2_256', digest: createHash('sha256').update(payload).digest('base64') },
      signature: sig.replace(/\s+/g, ''),
    },
  };
  return { json, chain };
}

/** The Rekor bundle annotation as a bundle's tlog entry: the SET is its inclusion promise. */
function tlogEntry(text: string): unknown {
  let b: RekorBundle;
  try {
    b = JSON.parse(text) as RekorBundle;
  } catch (err) {
    throw new Malformed(`its ${ANN_BUNDLE} annotation is not JSON (${(err as Error).message})`);
  }
  const p = b.Payload;
  if (
    !b.SignedEntryTimestamp ||
    !p ||
    typeof p.body !== 'string' ||
    !p.logID ||
    p.integratedTime === undefined ||
    p.logIndex === undefined
  ) {
    throw new Malformed(`its ${ANN_BUNDLE} annotation lacks SignedEntryTimestamp or Payload{body,integratedTime,logIndex,logID}`);
  }
  let body: { kind?: string; apiVersion?: string };
  try {
    body = JSON.parse(Buffer.from(p.body, 'base64').toString('utf8')) as typeof body;
  } catch {
    throw new Malformed(`its ${ANN_BUNDLE} Payload.body is not base64 of a Rekor entry`);
  }
  return {
    logIndex: String(p.logIndex),
    logId: { keyId: Buffer.from(p.logID, 'hex').toString('base64') },
    kindVersion: { kind: body.kind ?? '', version: body.apiVersion ?? '' },
    integratedTime: String(p.integratedTime),
    inclusionPromise: { signedEntryTimestamp: b.SignedEntryTimestamp },
    canonicalizedBody: p.body,
  };
}

/** The sha256 a hashedrekord Rekor entry says the payload had, to tell an altered payload from another key. */
export function loggedPayloadHash(ann: Record<string, string>): string | undefined {
  try {
    const b = JSON.parse(ann[ANN_BUNDLE] ?? '') as RekorBundle;
    const body = JSON.parse(Buffer.from(b.Payload?.body ?? '', 'base64').toString('utf8')) as {
      spec?: { data?: { hash?: { value?: string } } };
    };
    return body.spec?.data?.hash?.value;
  } catch {
    return undefined;
  }
}
