import { describe, expect, test } from '@jest/globals';
import { parseChallenges, pickChallenge } from '../../src/oci/repo/auth/challenge.js';
import { sha256Digest } from '../../src/oci/ref/digest.js';
import { MANIFEST_ACCEPT, OCI_INDEX, OCI_MANIFEST, manifestType, parseManifest } from '../../src/oci/ref/media.js';
import { cosignTag, fallbackTag, mergeFallbackIndex, referrerDescriptor } from '../../src/oci/copy/referrers.js';

describe('WWW-Authenticate', () => {
  test('a Bearer challenge with a quoted, comma-holding scope', () => {
    expect(
      parseChallenges(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push"',
      ),
    ).toEqual([
      {
        scheme: 'bearer',
        params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull,push' },
      },
    ]);
  });
  test("quay's two challenges on one line: Bearer is chosen", () => {
    const cs = parseChallenges('Basic realm="quay.io", Bearer realm="https://quay.io/v2/auth",service="quay.io"');
    expect(cs.map((c) => c.scheme)).toEqual(['basic', 'bearer']);
    expect(pickChallenge(cs)?.params.realm).toBe('https://quay.io/v2/auth');
  });
  test("ECR's Basic and ECR Public's odd scope", () => {
    expect(
      pickChallenge(parseChallenges('Basic realm="https://1.dkr.ecr.us-east-1.amazonaws.com/",service="ecr.amazonaws.com"'))?.scheme,
    ).toBe('basic');
    expect(parseChallenges('Bearer realm="https://public.ecr.aws/token/",service="public.ecr.aws",scope="aws"')[0]?.params.scope).toBe(
      'aws',
    );
    expect(parseChallenges(undefined)).toEqual([]);
  });
});

const image = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: 'sha256:' + '1'.repeat(64), size: 10 },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: 'sha256:' + '2'.repeat(64), size: 20 }],
  }),
);

describe('manifests', () => {
  test('the Accept list names all four types Relay copies unchanged', () => {
    expect(MANIFEST_ACCEPT.split(', ').sort()).toEqual([
      'application/vnd.docker.distribution.manifest.list.v2+json',
      'application/vnd.docker.distribution.manifest.v2+json',
      'application/vnd.oci.image.index.v1+json',
      'application/vnd.oci.image.manifest.v1+json',
    ]);
  });
  test('refuses schema 1 and unknown types, naming the object', () => {
    const s1 = Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'x', fsLayers: [] }));
    expect(() => manifestType('r/x:1', 'application/vnd.docker.distribution.manifest.v1+prettyjws', s1)).toThrow(
      'r/x:1: Docker schema 1 manifests cannot be copied without changing their digest',
    );
    expect(() => manifestType('r/x:1', 'application/json', s1)).toThrow('schema 1');
    expect(() => manifestType('r/x:1', 'text/html', Buffer.from('{}'))).toThrow(
      'r/x:1: manifest type text/html is not one Relay can copy unchanged',
    );
    expect(() => manifestType('r/x:1', undefined, Buffer.from('<html>'))).toThrow('r/x:1: the manifest is not a JSON object');
  });
  test('takes the served type, else the mediaType field, else the shape', () => {
    expect(manifestType('x', 'application/vnd.oci.image.manifest.v1+json; charset=utf-8', image)).toBe(OCI_MANIFEST);
    expect(manifestType('x', 'application/octet-stream', image)).toBe(OCI_MANIFEST);
    expect(manifestType('x', undefined, Buffer.from('{"schemaVersion":2,"manifests":[]}'))).toBe(OCI_INDEX);
    expect(() => manifestType('x', OCI_INDEX, image)).toThrow('served as application/vnd.oci.image.index.v1+json but its mediaType says');
  });
  test('parts: blobs of an image, config type as artifact type', () => {
    const p = parseManifest({ digest: sha256Digest(image), mediaType: OCI_MANIFEST, bytes: image });
    expect(p.isIndex).toBe(false);
    expect(p.blobs.map((b) => b.size)).toEqual([10, 20]);
    expect(p.artifactType).toBe('application/vnd.oci.image.config.v1+json');
  });
});

describe('referrers', () => {
  const d = 'sha256:' + 'ab'.repeat(32);
  test('tag schema and cosign tags', () => {
    expect(fallbackTag(d)).toBe('sha256-' + 'ab'.repeat(32));
    expect(cosignTag(d, 'att')).toBe('sha256-' + 'ab'.repeat(32) + '.att');
  });
  test('the fallback index merges by digest and is unchanged when nothing is new', () => {
    const sbom = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: 'application/spdx+json',
        subject: { mediaType: OCI_MANIFEST, digest: d, size: 1 },
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: 'sha256:' + '4'.repeat(64), size: 2 },
        layers: [],
        annotations: { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' },
      }),
    );
    const desc = referrerDescriptor({ digest: sha256Digest(sbom), mediaType: OCI_MANIFEST, bytes: sbom });
    expect(desc).toEqual({
      mediaType: OCI_MANIFEST,
      digest: sha256Digest(sbom),
      size: sbom.length,
      artifactType: 'application/spdx+json',
      annotations: { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' },
    });
    const first = mergeFallbackIndex(undefined, [desc]) as Buffer;
    expect(JSON.parse(first.toString()).manifests).toEqual([desc]);
    const existing = { digest: sha256Digest(first), mediaType: OCI_INDEX, bytes: first };
    expect(mergeFallbackIndex(existing, [desc])).toBeUndefined();
    const other = { ...desc, digest: 'sha256:' + '5'.repeat(64) };
    expect(JSON.parse((mergeFallbackIndex(existing, [desc, other]) as Buffer).toString()).manifests).toEqual([desc, other]);
  });
});
