import { createHash } from 'node:crypto';
import type { Bundle } from '@sigstore/bundle';
import type { TrustedRoot } from '@sigstore/protobuf-specs';
import type { SignedEntity, TrustMaterial } from '@sigstore/verify';
import { GateError, IntegrityError, RemoteError } from '../../errors.js';
import { digestHex } from '../ref/digest.js';
import type { Repo } from '../repo/repo.js';
import { legacyBundleJson, loggedPayloadHash, Malformed, parsePayload, SIMPLESIGNING_TYPE } from './cosign-legacy.js';
import { ANN_CHAIN, findSignatures, type FoundSignature } from './found.js';
import { cjs, describePolicy, keyFingerprint, type SignaturePolicy } from './policy.js';

/** What cosign 3 signs for `cosign sign` (cosign pkg/types/predicate.go CosignSignPredicateType). */
const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
const INTOTO_PAYLOAD = 'application/vnd.in-toto+json';

export type Verdict = { ok: true; where: string; signer: string } | { ok: false; where: string; why: string };

/** The Sigstore libraries are CommonJS and sizeable: loaded when a signature is first verified. */
const libs = async () => {
  const [verify, bundle, core] = await Promise.all([
    import('@sigstore/verify').then(cjs),
    import('@sigstore/bundle').then(cjs),
    import('@sigstore/core').then(cjs),
  ]);
  return { ...verify, bundleFromJSON: bundle.bundleFromJSON, X509Certificate: core.X509Certificate };
};

let publicRoot: Promise<TrustedRoot> | undefined;
/**
 * Sigstore's public trust root, through TUF (signed metadata, cached under the
 * user's cache directory; @sigstore/tuf seeds it from the copy it embeds).
 * Only keyless verification without a trusted-root file needs it.
 */
async function sigstorePublicRoot(): Promise<TrustedRoot> {
  publicRoot ??= import('@sigstore/tuf').then(cjs).then((t) => t.getTrustedRoot({ timeout: 15000, retry: { retries: 2 } }));
  try {
    return await publicRoot;
  } catch (err) {
    publicRoot = undefined;
    throw new RemoteError(
      `signature verification: Sigstore's public trust root could not be fetched by TUF (${(err as Error).message}); give a trusted-root file to verify offline`,
    );
  }
}

const EMPTY_ROOT = { certificateAuthorities: [], timestampAuthorities: [], tlogs: [], ctlogs: [] } as unknown as TrustedRoot;

/**
 * Keyless certificates are issued by an intermediate that a trust root may
 * not list (a private CA listing only its root); cosign then takes it from
 * the signature's chain. An intermediate is added as an authority only when a
 * certificate the root trusts has signed it and it is a CA, which is the
 * check a path through it would make.
 */
function withIntermediates(
  material: TrustMaterial,
  chain: Buffer[],
  X509: Awaited<ReturnType<typeof libs>>['X509Certificate'],
): TrustMaterial {
  if (chain.length === 0) return material;
  const extra = material.certificateAuthorities.flatMap((ca) =>
    chain
      .map((der) => X509.parse(Buffer.from(der)))
      .filter((c) => c.isCA && !ca.certChain.some((t) => t.equals(c)) && ca.certChain.some((t) => safe(() => c.verify(t))))
      .map((c) => ({ certChain: [c, ...ca.certChain], validFor: ca.validFor })),
  );
  return { ...material, certificateAuthorities: [...extra, ...material.certificateAuthorities] };
}

function safe(fn: () => boolean): boolean {
  try {
    return fn();
  } catch {
    return false;
  }
}

/**
 * Verifies one signature against the policy for `digest`, with
 * @sigstore/verify: the signature over its payload (a legacy simple-signing
 * payload, a DSSE in-toto statement, or the image manifest itself for a
 * message-signature bundle), the key or the certificate's chain to the trust
 * root, the transparency-log proof (SET or inclusion proof), then what it
 * signs: this digest. Never throws for a bad signature: says why.
 */
export async function verifyOne(s: FoundSignature, digest: string, manifest: Buffer, policy: SignaturePolicy): Promise<Verdict> {
  const L = await libs();
  const where = s.where;
  const no = (why: string): Verdict => ({ ok: false, where, why });
  let bundle: Bundle;
  let chain: Buffer[] = [];
  let artifact: Buffer | undefined;
  try {
    if (s.form === 'tag') {
      parsePayload(s.payload);
      const b = legacyBundleJson(s.payload, s.annotations);
      bundle = L.bundleFromJSON(b.json);
      chain = b.chain;
      artifact = s.payload;
    } else {
      let json: unknown;
      try {
        json = JSON.parse(s.bundle.toString('utf8'));
      } catch (err) {
        throw new Malformed(`its bundle is not JSON (${(err as Error).message})`);
      }
      bundle = L.bundleFromJSON(json);
      const certs =
        bundle.verificationMaterial.content.$case === 'x509CertificateChain'
          ? bundle.verificationMaterial.content.x509CertificateChain.certificates
          : [];
      chain = certs.slice(1).map((c) => Buffer.from(c.rawBytes));
      if (bundle.content.$case === 'messageSignature') artifact = manifest;
    }
  } catch (err) {
    if (err instanceof Malformed) return no(`malformed: ${err.message}`);
    return no(`malformed: not a Sigstore bundle cosign would write (${(err as Error).message})`);
  }

  const keyless = policy.kind === 'identity';
  const root = policy.trustedRoot ?? (keyless ? await sigstorePublicRoot() : EMPTY_ROOT);
  const entity: SignedEntity = L.toSignedEntity(bundle, artifact);
  if (keyless && entity.key.$case !== 'certificate') {
    return no('missing certificate: it is signed by a key, and a keyless signature needs its Fulcio certificate and chain');
  }
  let material = L.toTrustMaterial(root, () =>
    policy.kind === 'key' ? { publicKey: policy.key, validFor: () => true } : { publicKey: undefined as never, validFor: () => false },
  );
  material = withIntermediates(material, chain, L.X509Certificate);
  // Key-based: the key alone decides (cosign verify --key --insecure-ignore-tlog); the log is checked
  // only against a trusted-root file, never fetched. Keyless: the log entry and its time are required.
  const checkLog = keyless || policy.trustedRoot !== undefined;
  const checked: SignedEntity =
    policy.kind === 'key'
      ? {
          ...entity,
          key: { $case: 'public-key', hint: '' },
          ...(checkLog ? {} : { tlogEntries: [], timestamps: [] }),
        }
      : entity;
  const verifier = new L.Verifier(material, {
    tlogThreshold: keyless ? 1 : checked.tlogEntries.length > 0 ? 1 : 0,
    timestampThreshold: keyless ? 1 : 0,
    // A root that lists CT logs (Sigstore's does) makes the certificate's SCT required, as cosign does.
    ctlogThreshold: keyless && root.ctlogs.length > 0 ? 1 : 0,
  });
  let signer;
  try {
    signer = verifier.verify(checked);
  } catch (err) {
    return no(explain(err as { code?: string; message: string }, s, policy, chain));
  }
  if (policy.kind === 'identity') {
    const san = signer.identity?.subjectAlternativeName;
    const issuer = signer.identity?.extensions?.issuer;
    if (!policy.identity.test(san))
      return no(`wrong identity: its certificate is for ${san ?? 'no identity'}, expected ${policy.identity.text}`);
    if (!policy.issuer.test(issuer))
      return no(`wrong issuer: its certificate was issued for ${issuer ?? 'no OIDC issuer'}, expected ${policy.issuer.text}`);
  }
  const subject = signedSubject(s, bundle, digest);
  if (subject !== true) return no(subject);
  const by =
    policy.kind === 'key'
      ? `signature-key ${keyFingerprint(policy.key)}`
      : `${signer.identity?.subjectAlternativeName} (${signer.identity?.extensions?.issuer})`;
  return { ok: true, where, signer: by };
}

/** Whether the verified content names this digest: the legacy payload, the DSSE statement's subject, or the signed manifest digest. */
function signedSubject(s: FoundSignature, bundle: Bundle, digest: string): true | string {
  if (s.form === 'tag') {
    const p = parsePayload(s.payload);
    if (p.critical?.type !== SIMPLESIGNING_TYPE)
      return `malformed: its payload's critical.type is ${JSON.stringify(p.critical?.type)}, not "${SIMPLESIGNING_TYPE}"`;
    const signed = p.critical?.image?.['docker-manifest-digest'];
    return signed === digest ? true : `other digest: it signs ${signed ?? 'no digest'}, not ${digest}`;
  }
  if (bundle.content.$case === 'messageSignature') {
    const d = bundle.content.messageSignature.messageDigest;
    const hex = d ? Buffer.from(d.digest).toString('hex') : '';
    return hex === digestHex(digest) ? true : `other digest: it signs sha256:${hex}, not ${digest}`;
  }
  const env = bundle.content.dsseEnvelope;
  if (env.payloadType !== INTOTO_PAYLOAD) return `malformed: its DSSE payload type is ${env.payloadType}, not ${INTOTO_PAYLOAD}`;
  let st: { predicateType?: string; subject?: { digest?: Record<string, string> }[] };
  try {
    st = JSON.parse(Buffer.from(env.payload).toString('utf8')) as typeof st;
  } catch {
    return 'malformed: its DSSE payload is not an in-toto statement';
  }
  if (st.predicateType !== COSIGN_SIGN_PREDICATE) return `not a signature: an attestation of ${st.predicateType ?? 'no predicate type'}`;
  const subjects = (st.subject ?? []).map((x) => x.digest?.sha256);
  return subjects.includes(digestHex(digest))
    ? true
    : `other digest: it signs ${subjects.map((h) => `sha256:${h}`).join(', ') || 'no subject'}, not ${digest}`;
}

/** One clause per way @sigstore/verify refuses, in the terms a person fixes. */
function explain(err: { code?: string; message: string }, s: FoundSignature, policy: SignaturePolicy, chain: Buffer[]): string {
  const msg = err.message;
  const tampered = () => {
    if (s.form !== 'tag') return false;
    const logged = loggedPayloadHash(s.annotations);
    return logged !== undefined && logged !== createHash('sha256').update(s.payload).digest('hex');
  };
  switch (err.code) {
    case 'SIGNATURE_ERROR':
      if (tampered()) return 'tampered payload: its payload is not the one signed and logged in Rekor';
      if (policy.kind === 'key')
        return `wrong key: it does not verify with signature-key (${keyFingerprint(policy.key)}); another key signed it, or its payload was altered`;
      return 'tampered payload: its signature does not verify over its payload with its own certificate';
    case 'TLOG_BODY_ERROR':
      if (/digest/.test(msg) || tampered()) return 'tampered payload: its payload is not the one signed and logged in Rekor';
      return `its transparency-log entry is for another signature (${msg})`;
    case 'TIMESTAMP_ERROR':
      return 'no transparency-log timestamp: without a Rekor entry nothing shows its short-lived certificate was valid when it signed';
    case 'CERTIFICATE_ERROR': {
      // The chain check wraps the reason it failed for the last CA tried.
      const inner = (err as { cause?: { message?: string } }).cause?.message ?? msg;
      if (/expired|not valid/.test(inner)) return 'expired certificate: it was not valid at the time its transparency-log entry records';
      if (/SCT/.test(msg)) return `its certificate's SCT does not verify against the trusted root's CT logs`;
      if (/path|chain/.test(inner))
        return chain.length === 0 && s.form === 'tag'
          ? `missing certificate chain: its certificate does not chain to the trusted root, and it carries no ${ANN_CHAIN}`
          : 'untrusted certificate: its certificate does not chain to the trusted root';
      return `certificate: ${inner}`;
    }
    case 'TLOG_INCLUSION_PROMISE_ERROR':
    case 'TLOG_INCLUSION_PROOF_ERROR':
    case 'TLOG_MISSING_INCLUSION_ERROR':
    case 'TLOG_ERROR':
      return `transparency log: its Rekor entry does not verify against the trusted root's logs (${msg})`;
    case 'PUBLIC_KEY_ERROR':
      return `key: ${msg}`;
    default:
      return `does not verify: ${msg}`;
  }
}

export interface SignatureCheck {
  /** `repo@digest`, for messages. */
  image: string;
  digest: string;
  verdicts: Verdict[];
  verified?: Verdict & { ok: true };
}

/** Finds and verifies every signature `repo` holds for `digest`; the first that verifies is `verified`. */
export async function checkSignatures(repo: Repo, digest: string, manifest: Buffer, policy: SignaturePolicy): Promise<SignatureCheck> {
  const found = await findSignatures(repo, digest);
  const verdicts: Verdict[] = [];
  for (const s of found) verdicts.push(await verifyOne(s, digest, manifest, policy));
  const verified = verdicts.find((v): v is Verdict & { ok: true } => v.ok);
  return { image: `${repo.name}@${digest}`, digest, verdicts, ...(verified && { verified }) };
}

/** One line: what was expected of the image and why each signature found failed it. */
export function refusal(c: SignatureCheck, policy: SignaturePolicy, tag: string): string {
  const expected = describePolicy(policy);
  if (c.verdicts.length === 0) return `${c.image}: expected ${expected}, found no cosign signature (${tag}) or Sigstore bundle referrer`;
  const whys = c.verdicts.map((v) => `${v.where}: ${v.ok ? 'verifies' : v.why}`).join('; ');
  return `${c.image}: expected ${expected}, and none of its ${c.verdicts.length} signature(s) verifies: ${whys}`;
}

/**
 * The signature gate: the image at `digest` in `repo` must carry a signature
 * the policy accepts. On the source it runs before anything is written (a
 * GateError); on a target after the copy (an IntegrityError: what was
 * written there does not verify). Returns what verified, for the report.
 */
export async function requireSignature(
  repo: Repo,
  digest: string,
  manifest: Buffer,
  policy: SignaturePolicy,
  where: 'source' | 'target',
): Promise<string> {
  const c = await checkSignatures(repo, digest, manifest, policy);
  if (c.verified) return `${c.verified.where} by ${c.verified.signer}`;
  const line = refusal(c, policy, `sha256-${digestHex(digest)}.sig`);
  if (where === 'source') throw new GateError(`require-signature: ${line}`);
  throw new IntegrityError(`require-signature: after the copy, ${line}`);
}
