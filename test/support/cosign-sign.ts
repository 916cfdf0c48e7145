// Signs images in a registry the way cosign does, byte for byte in the
// formats cosign writes, by plain HTTP (not Relay):
//  - legacy: the `sha256-<hex>.sig` manifest of simple-signing payload layers
//    (cosign pkg/oci/static, pkg/cosign/bundle/rekor.go RekorBundle);
//  - cosign 3: a Sigstore bundle v0.3 (DSSE in-toto statement, predicate
//    https://sigstore.dev/cosign/sign/v1) pushed as an OCI referrer
//    (cosign pkg/oci/remote/write.go WriteReferrer), listed in the fallback index.
// Keyless signing uses a stand-in for Sigstore's public services made here:
// a throwaway Fulcio-like CA (root, intermediate, leaf certificates with the
// Fulcio OID extensions) and a throwaway Rekor key signing the SET and the
// checkpoint, given to Relay as a trusted-root JSON file (protobuf-specs
// TrustedRoot).
import 'reflect-metadata';
import { createHash, generateKeyPairSync, KeyObject, sign as cryptoSign, webcrypto, type KeyObject as Key } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { rawPush, sha } from './oci-attach.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKeyPair = webcrypto.CryptoKeyPair;

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const BUNDLE_V03 = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const EMPTY = Buffer.from('{}');
const ALG = { name: 'ECDSA', hash: 'SHA-256', namedCurve: 'P-256' } as const;

export interface Subject {
  digest: string;
  size: number;
  mediaType: string;
}

export interface KeyPair {
  privateKey: Key;
  publicKey: Key;
  publicPem: string;
}

/** An ECDSA P-256 key pair, as `cosign generate-key-pair` makes. */
export function ecKeyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicKey, publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** Go's encoding/json for a map: keys sorted (the canonical JSON Rekor signs). */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

const sha256 = (b: Buffer | string): Buffer => createHash('sha256').update(b).digest();
const derUtf8 = (s: string): Buffer => Buffer.concat([Buffer.from([0x0c, Buffer.byteLength(s)]), Buffer.from(s)]);

export interface Leaf {
  certPem: string;
  key: KeyPair;
}

/** Stand-in for Fulcio and Rekor: a CA (root → intermediate) and a log key, made in the test. */
export class FakeSigstore {
  private constructor(
    private readonly rootCert: x509.X509Certificate,
    private readonly interCert: x509.X509Certificate,
    private readonly interKeys: CryptoKeyPair,
    readonly rekor: KeyPair,
  ) {}

  static async create(): Promise<FakeSigstore> {
    const notBefore = new Date(Date.now() - 3600_000);
    const notAfter = new Date(Date.now() + 365 * 86400_000);
    const rootKeys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
    const root = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name: 'CN=relay-test fulcio root, O=relay-test',
      notBefore,
      notAfter,
      keys: rootKeys,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(true, 1, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey),
      ],
    });
    const interKeys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
    const inter = await x509.X509CertificateGenerator.create({
      serialNumber: '02',
      subject: 'CN=relay-test fulcio intermediate, O=relay-test',
      issuer: root.subject,
      notBefore,
      notAfter,
      signingKey: rootKeys.privateKey,
      publicKey: interKeys.publicKey,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(interKeys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(rootKeys.publicKey),
      ],
    });
    return new FakeSigstore(root, inter, interKeys, ecKeyPair());
  }

  get logId(): Buffer {
    return sha256(this.rekor.publicKey.export({ type: 'spki', format: 'der' }));
  }

  /** The intermediate and root, PEM: what cosign writes in `dev.sigstore.cosign/chain`. */
  get chainPem(): string {
    return `${this.interCert.toString('pem')}\n${this.rootCert.toString('pem')}\n`;
  }

  /**
   * The TrustedRoot JSON (protobuf-specs, as Sigstore's trusted_root.json):
   * the CA's chain (the intermediate too, unless `rootOnly`, which leaves it
   * to the signature's chain annotation) and the Rekor key. No CT log.
   */
  trustedRoot(opts: { rootOnly?: boolean } = {}): string {
    const certs = opts.rootOnly ? [this.rootCert] : [this.interCert, this.rootCert];
    return JSON.stringify({
      mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
      tlogs: [
        {
          baseUrl: 'https://rekor.relay-test.invalid',
          hashAlgorithm: 'SHA2_256',
          publicKey: {
            rawBytes: this.rekor.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
            keyDetails: 'PKIX_ECDSA_P256_SHA_256',
            validFor: { start: '2020-01-01T00:00:00Z' },
          },
          logId: { keyId: this.logId.toString('base64') },
        },
      ],
      certificateAuthorities: [
        {
          subject: { organization: 'relay-test', commonName: 'relay-test fulcio' },
          uri: 'https://fulcio.relay-test.invalid',
          certChain: { certificates: certs.map((c) => ({ rawBytes: Buffer.from(c.rawData).toString('base64') })) },
          validFor: { start: '2020-01-01T00:00:00Z' },
        },
      ],
      ctlogs: [],
      timestampAuthorities: [],
    });
  }

  /** A Fulcio-like leaf: SAN (URI or email), issuer in OIDs 1.3.6.1.4.1.57264.1.1 and .1.8, code signing, 10 minutes. */
  async leaf(identity: string, issuer: string, opts: { notBefore?: Date; minutes?: number } = {}): Promise<Leaf> {
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
    const notBefore = opts.notBefore ?? new Date(Date.now() - 60_000);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: createHash('sha256')
        .update(identity + Math.random())
        .digest('hex')
        .slice(0, 16),
      subject: '',
      issuer: this.interCert.subject,
      notBefore,
      notAfter: new Date(notBefore.getTime() + (opts.minutes ?? 10) * 60_000),
      signingKey: this.interKeys.privateKey,
      publicKey: keys.publicKey,
      signingAlgorithm: ALG,
      extensions: [
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension(['1.3.6.1.5.5.7.3.3']),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(this.interKeys.publicKey),
        new x509.SubjectAlternativeNameExtension(
          [{ type: identity.includes('@') && !identity.includes('://') ? 'email' : 'url', value: identity }],
          true,
        ),
        new x509.Extension('1.3.6.1.4.1.57264.1.1', false, Buffer.from(issuer)),
        new x509.Extension('1.3.6.1.4.1.57264.1.8', false, derUtf8(issuer)),
      ],
    });
    const privateKey = KeyObject.from(keys.privateKey);
    const publicKey = KeyObject.from(keys.publicKey);
    return {
      certPem: cert.toString('pem'),
      key: { privateKey, publicKey, publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() },
    };
  }

  /** A Rekor entry for `body` at `integratedTime`: SET over the canonical payload, single-leaf inclusion proof and signed checkpoint. */
  logEntry(body: Buffer, integratedTime = Math.floor(Date.now() / 1000)) {
    const logIndex = Math.floor(Math.random() * 1e9);
    const payload = { body: body.toString('base64'), integratedTime, logIndex, logID: this.logId.toString('hex') };
    const set = cryptoSign('sha256', Buffer.from(canonical(payload)), this.rekor.privateKey);
    const root = sha256(Buffer.concat([Buffer.from([0]), body]));
    const note = `rekor.relay-test.invalid - 1\n1\n${root.toString('base64')}\n`;
    const sig = cryptoSign('sha256', Buffer.from(note), this.rekor.privateKey);
    const envelope = `${note}\n\u2014 rekor.relay-test.invalid ${Buffer.concat([this.logId.subarray(0, 4), sig]).toString('base64')}\n`;
    return {
      payload,
      set,
      inclusionProof: { logIndex: '0', rootHash: root.toString('base64'), treeSize: '1', hashes: [], checkpoint: { envelope } },
    };
  }
}

/** The simple-signing payload cosign signs (sigstore/sigstore pkg/signature/payload: Go struct order, optional null). */
export function simpleSigningPayload(reference: string, digest: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': reference },
        image: { 'docker-manifest-digest': digest },
        type: 'cosign container image signature',
      },
      optional: null,
    }),
  );
}

function hashedRekordBody(payload: Buffer, sig: Buffer, verifierPem: string): Buffer {
  return Buffer.from(
    canonical({
      apiVersion: '0.0.1',
      kind: 'hashedrekord',
      spec: {
        data: { hash: { algorithm: 'sha256', value: sha256(payload).toString('hex') } },
        signature: { content: sig.toString('base64'), publicKey: { content: Buffer.from(verifierPem).toString('base64') } },
      },
    }),
  );
}

export interface LegacyOptions {
  /** The signer's key (key-based), or a leaf's key with its certificate (keyless). */
  key: KeyPair;
  leaf?: Leaf;
  /** The chain annotation (keyless); default the CA's chain. false: left out. */
  chain?: string | false;
  /** Rekor bundle annotation from this log (keyless needs one). */
  log?: FakeSigstore;
  /** The digest the payload names (default the subject's: another makes a signature for another image). */
  signs?: string;
  /** Replace the payload after signing (a tampered payload, signature and Rekor entry untouched). */
  tamper?: boolean;
  /** Leave the signature annotation out (a malformed layer). */
  omitSignature?: boolean;
}

/** One cosign legacy signature layer with its annotations; pushes `sha256-<hex>.sig` holding it. */
export async function signLegacy(host: string, repo: string, subject: Subject, o: LegacyOptions, auth?: string): Promise<string> {
  const payload = simpleSigningPayload(`${host}/${repo}`, o.signs ?? subject.digest);
  const sig = cryptoSign('sha256', payload, o.key.privateKey);
  const annotations: Record<string, string> = { 'dev.cosignproject.cosign/signature': sig.toString('base64') };
  if (o.log) {
    const body = hashedRekordBody(payload, sig, o.leaf ? o.leaf.certPem : o.key.publicPem);
    const e = o.log.logEntry(body);
    annotations['dev.sigstore.cosign/bundle'] = JSON.stringify({ SignedEntryTimestamp: e.set.toString('base64'), Payload: e.payload });
  }
  if (o.leaf) {
    annotations['dev.sigstore.cosign/certificate'] = o.leaf.certPem;
    if (o.chain !== false) annotations['dev.sigstore.cosign/chain'] = o.chain ?? o.log?.chainPem ?? '';
  }
  if (o.omitSignature) delete annotations['dev.cosignproject.cosign/signature'];
  const stored = o.tamper ? Buffer.from(payload.toString().replace('"optional":null', '"optional":{"tampered":"yes"}')) : payload;
  const config = Buffer.from(
    JSON.stringify({
      architecture: '',
      created: '0001-01-01T00:00:00Z',
      history: [{ created: '0001-01-01T00:00:00Z' }],
      os: '',
      rootfs: { type: 'layers', diff_ids: [sha(stored)] },
      config: {},
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', size: config.length, digest: sha(config) },
      layers: [
        {
          mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
          size: stored.length,
          digest: sha(stored),
          annotations: Object.fromEntries(Object.entries(annotations).sort(([a], [b]) => a.localeCompare(b))),
        },
      ],
    }),
  );
  return rawPush(host, repo, `sha256-${subject.digest.slice(7)}.sig`, manifest, OCI_MANIFEST, [config, stored], auth);
}

const pae = (type: string, body: Buffer): Buffer =>
  Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${body.length} `), body]);

/**
 * cosign 3's signature: a Sigstore bundle v0.3 with a DSSE envelope of the
 * in-toto statement naming the digest, as a referrer (manifest with subject,
 * artifactType the bundle's media type), added to the fallback index.
 */
export async function signBundle(
  host: string,
  repo: string,
  subject: Subject,
  o: { key: KeyPair; leaf?: Leaf; log?: FakeSigstore; signs?: string },
  auth?: string,
): Promise<string> {
  const statement = Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ digest: { sha256: (o.signs ?? subject.digest).slice(7) } }],
      predicateType: 'https://sigstore.dev/cosign/sign/v1',
      predicate: {},
    }),
  );
  const payloadType = 'application/vnd.in-toto+json';
  const sig = cryptoSign('sha256', pae(payloadType, statement), o.key.privateKey);
  const envelope = { payload: statement.toString('base64'), payloadType, signatures: [{ sig: sig.toString('base64'), keyid: '' }] };
  const tlogEntries = [];
  if (o.log) {
    const body = Buffer.from(
      canonical({
        apiVersion: '0.0.1',
        kind: 'dsse',
        spec: {
          envelopeHash: { algorithm: 'sha256', value: sha256(JSON.stringify(envelope)).toString('hex') },
          payloadHash: { algorithm: 'sha256', value: sha256(statement).toString('hex') },
          signatures: [
            { signature: sig.toString('base64'), verifier: Buffer.from(o.leaf ? o.leaf.certPem : o.key.publicPem).toString('base64') },
          ],
        },
      }),
    );
    const e = o.log.logEntry(body);
    tlogEntries.push({
      logIndex: String(e.payload.logIndex),
      logId: { keyId: o.log.logId.toString('base64') },
      kindVersion: { kind: 'dsse', version: '0.0.1' },
      integratedTime: String(e.payload.integratedTime),
      inclusionPromise: { signedEntryTimestamp: e.set.toString('base64') },
      inclusionProof: e.inclusionProof,
      canonicalizedBody: body.toString('base64'),
    });
  }
  const material = o.leaf
    ? { certificate: { rawBytes: Buffer.from(new x509.X509Certificate(o.leaf.certPem).rawData).toString('base64') } }
    : { publicKey: { hint: sha256(o.key.publicKey.export({ type: 'spki', format: 'der' })).toString('base64') } };
  const bundle = Buffer.from(
    JSON.stringify({ mediaType: BUNDLE_V03, verificationMaterial: { ...material, tlogEntries }, dsseEnvelope: envelope }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', size: 2, digest: sha(EMPTY), artifactType: BUNDLE_V03 },
      layers: [{ mediaType: BUNDLE_V03, size: bundle.length, digest: sha(bundle) }],
      annotations: {
        'dev.sigstore.bundle.content': 'dsse-envelope',
        'dev.sigstore.bundle.predicateType': 'https://sigstore.dev/cosign/sign/v1',
        'org.opencontainers.image.created': new Date().toISOString().slice(0, 19) + 'Z',
      },
      subject,
      artifactType: BUNDLE_V03,
    }),
  );
  const digest = await rawPush(host, repo, sha(manifest), manifest, OCI_MANIFEST, [EMPTY, bundle], auth);
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ mediaType: OCI_MANIFEST, digest, size: manifest.length, artifactType: BUNDLE_V03 }],
    }),
  );
  await rawPush(host, repo, `sha256-${subject.digest.slice(7)}`, index, OCI_INDEX, [], auth);
  return digest;
}
