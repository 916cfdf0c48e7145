// The signature policy's inputs, and verifyOne on garbage: a signature read
// from a registry is untrusted input, so whatever its bytes, the answer is a
// verdict (refused, with a reason), never a thrown error.
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InputError } from '../../src/errors.js';
import { matcher, signaturePolicy, type SignaturePolicy } from '../../src/oci/signatures/policy.js';
import { verifyOne } from '../../src/oci/signatures/verify.js';

const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();

describe('signature-identity and signature-issuer', () => {
  test('exact unless written /…/; a pattern matches unanchored, as cosign -regexp flags', () => {
    const exact = matcher('https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main', 'signature-identity');
    expect(exact.test('https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main')).toBe(true);
    expect(exact.test('https://github.com/acme/app/.github/workflows/release.yml@refs/heads/mainx')).toBe(false);
    // A dot is a dot in an exact value, not "any character".
    expect(matcher('a.b@example.com', 'signature-identity').test('aXb@example.com')).toBe(false);
    const re = matcher('/github\\.com/acme/', 'signature-identity');
    expect(re.test('https://github.com/acme/app')).toBe(true);
    expect(re.test('https://github.com/other/app')).toBe(false);
    expect(matcher('/^x$/', 'i').test(undefined)).toBe(false);
    expect(() => matcher('/(/', 'signature-issuer')).toThrow(
      /^input 'signature-issuer': expected an exact value or \/regular expression\//,
    );
  });
});

describe('signaturePolicy', () => {
  test('nothing asked: no policy; require-signature or trusted-root alone: usage errors', async () => {
    expect(await signaturePolicy({ 'require-signature': false }, '/')).toBeUndefined();
    await expect(signaturePolicy({ 'require-signature': true }, '/')).rejects.toThrow(InputError);
    await expect(signaturePolicy({ 'trusted-root': 'root.json' }, '/')).rejects.toThrow(
      "input 'trusted-root': expected signature-key or signature-identity to go with it",
    );
  });

  test('a key and an identity at once are refused; a key given inline or as a path', async () => {
    await expect(signaturePolicy({ 'signature-key': pem, 'signature-identity': 'x' }, '/')).rejects.toThrow(
      "input 'signature-identity': expected unset when signature-key is given",
    );
    const dir = await mkdtemp(path.join(tmpdir(), 'relay-sigpol-'));
    await writeFile(path.join(dir, 'cosign.pub'), pem);
    const p = (await signaturePolicy({ 'signature-key': 'cosign.pub' }, dir)) as Extract<SignaturePolicy, { kind: 'key' }>;
    expect(p.kind).toBe('key');
    expect(p.key.asymmetricKeyType).toBe('ec');
    await expect(signaturePolicy({ 'signature-key': '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----' }, dir)).rejects.toThrow(
      /^input 'signature-key': expected a PEM public key that parses/,
    );
  });

  test('a trusted-root that is not a Sigstore TrustedRoot is refused naming the file', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'relay-sigpol-'));
    await writeFile(path.join(dir, 'root.json'), JSON.stringify({ mediaType: 'application/json', tlogs: [] }));
    await expect(signaturePolicy({ 'signature-identity': 'a', 'signature-issuer': 'b', 'trusted-root': 'root.json' }, dir)).rejects.toThrow(
      `input 'trusted-root': expected a Sigstore trusted root (mediaType application/vnd.dev.sigstore.trustedroot…+json), got "root.json"`,
    );
    await writeFile(path.join(dir, 'bad.json'), '{');
    await expect(signaturePolicy({ 'signature-identity': 'a', 'signature-issuer': 'b', 'trusted-root': 'bad.json' }, dir)).rejects.toThrow(
      /^input 'trusted-root': expected a Sigstore trusted-root JSON file/,
    );
  });
});

describe('verifyOne on untrusted bytes', () => {
  const digest = 'sha256:' + 'a'.repeat(64);
  test('any legacy layer (payload and annotations) or bundle gives a refusal with a reason, never a throw', async () => {
    const policy = (await signaturePolicy({ 'signature-key': pem }, '/'))!;
    const annotation = fc.oneof(
      fc.string(),
      fc.base64String(),
      fc.json(),
      fc.constant('{"SignedEntryTimestamp":"AA==","Payload":{"body":"e30=","integratedTime":1,"logIndex":1,"logID":"zz"}}'),
    );
    const legacy = fc.record({
      form: fc.constant('tag' as const),
      where: fc.constant('layer'),
      payload: fc.oneof(fc.string(), fc.json()).map((s) => Buffer.from(s)),
      annotations: fc.dictionary(
        fc.constantFrom(
          'dev.cosignproject.cosign/signature',
          'dev.sigstore.cosign/certificate',
          'dev.sigstore.cosign/chain',
          'dev.sigstore.cosign/bundle',
        ),
        annotation,
      ),
    });
    const bundle = fc.record({
      form: fc.constant('bundle' as const),
      where: fc.constant('referrer'),
      bundle: fc
        .oneof(
          fc.json(),
          fc.constant(
            '{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":""},"tlogEntries":[]},"dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AA==","keyid":""}]}}',
          ),
        )
        .map((s) => Buffer.from(s)),
    });
    await fc.assert(
      fc.asyncProperty(fc.oneof(legacy, bundle), async (s) => {
        const v = await verifyOne(s, digest, Buffer.from('{}'), policy);
        expect(v.ok).toBe(false);
        if (!v.ok) expect(v.why).toMatch(/^[^\n]+$/);
      }),
      { numRuns: 300 },
    );
  }, 60_000);
});
