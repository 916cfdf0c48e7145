// Property-based tests for every parser of untrusted input: generated garbage
// and near-misses may be accepted or refused, but nothing other than a typed
// refusal (a RelayError, which the faces print as one line with exit 1) may
// come out: never a TypeError, a RangeError, a hang, or an "internal error".
import { describe, expect, jest, test } from '@jest/globals';
import fc from 'fast-check';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RelayError } from '../../src/errors.js';
import { NullLogger } from '../../src/log/logger.js';
import { dockerConfigProvider } from '../../src/oci/repo/auth/docker-config.js';
import { parseMirrorConfig } from '../../src/mirror/config.js';
import { parseReference } from '../../src/oci/ref/reference.js';
import { manifestType, parseManifest } from '../../src/oci/ref/media.js';
import { splitList } from '../../src/inputs/spec.js';
import { mergeVersion, parseMirrorIndex, parseVersionsDoc } from '../../src/terraform/documents.js';
import { parseTarballName } from '../../src/terraform/names.js';
import { parseRegistryManifest } from '../../src/terraform/repack.js';
import { parseRegistryUrl } from '../../src/operations/common.js';

// Waits on the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(30_000);

const RUNS = { numRuns: 400 };

/** Runs fn; passes when it returns or throws a RelayError with a one-line message. */
function typedOrOk(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof RelayError)) throw new Error(`not a typed refusal: ${String(err)}`);
    expect(err.message.includes('\n')).toBe(false);
  }
}

/** JSON values shaped like the documents, with fields of the wrong type mixed in. */
const anyJson = fc.jsonValue({ maxDepth: 4 });
const versionsish = fc.record(
  {
    versions: fc.oneof(
      fc.array(
        fc.record(
          {
            version: fc.oneof(fc.constantFrom('1.0.0', '2.0.0-rc.1', 'v1', ''), fc.string(), fc.integer(), fc.constant(null)),
            protocols: fc.oneof(
              fc.array(fc.oneof(fc.constantFrom('5.0', '6.0'), fc.string(), fc.integer())),
              fc.string(),
              fc.constant(null),
            ),
            platforms: fc.oneof(
              fc.array(
                fc.oneof(fc.record({ os: fc.oneof(fc.string(), fc.integer()), arch: fc.oneof(fc.string(), fc.constant(null)) }), anyJson),
              ),
              fc.string(),
              fc.constant(null),
            ),
          },
          { requiredKeys: [] },
        ),
      ),
      anyJson,
    ),
  },
  { requiredKeys: [] },
);
const bytes = (v: unknown): Buffer => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));
const entry = { version: '1.0.0', protocols: ['5.0'], platforms: [{ os: 'linux', arch: 'amd64' }] };

describe('terraform documents read from a store', () => {
  test('versions: parsed and merged, or refused', () => {
    fc.assert(
      fc.property(fc.oneof(versionsish, anyJson, fc.string()), fc.boolean(), (doc, immutable) =>
        typedOrOk(() => mergeVersion(parseVersionsDoc('store/versions', bytes(doc)), entry, immutable, 'store/versions')),
      ),
      RUNS,
    );
  });
  test('mirror index', () => {
    fc.assert(
      fc.property(fc.oneof(anyJson, fc.string(), fc.record({ versions: anyJson })), (doc) =>
        typedOrOk(() => parseMirrorIndex('idx', bytes(doc))),
      ),
      RUNS,
    );
  });
  test('terraform-registry-manifest.json', () => {
    fc.assert(
      fc.property(
        fc.oneof(anyJson, fc.string(), fc.record({ version: anyJson, metadata: fc.record({ protocol_versions: anyJson }) })),
        (doc) => typedOrOk(() => parseRegistryManifest('m', bytes(doc))),
      ),
      RUNS,
    );
  });
  test('tarball names', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.tuple(fc.string(), fc.string(), fc.string()).map(([v, o, a]) => `terraform-provider-demo-v${v}-${o}-${a}-bin.tar.gz`),
          fc.tuple(fc.string(), fc.string(), fc.string()).map(([v, o, a]) => `terraform-provider-demo_${v}_${o}_${a}.zip`),
        ),
        (name) => typedOrOk(() => parseTarballName(name, 'demo')),
      ),
      RUNS,
    );
  });
  test('registry URLs', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.webUrl({ withQueryParameters: true, withFragments: true })), (u) =>
        typedOrOk(() => parseRegistryUrl(u)),
      ),
      RUNS,
    );
  });
});

describe('OCI', () => {
  test('references, ports out of range included', () => {
    const host = fc.oneof(fc.domain(), fc.constantFrom('localhost', '127.0.0.1', '[::1]'));
    const port = fc.oneof(fc.integer({ min: -5, max: 99999 }).map(String), fc.string());
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.tuple(host, port, fc.string(), fc.string()).map(([h, p, r, t]) => `${h}:${p}/${r}:${t}`),
          fc
            .tuple(host, fc.string(), fc.string({ unit: fc.constantFrom(...'0123456789abcdefg') }))
            .map(([h, r, d]) => `${h}/${r}@sha256:${d}`),
          fc.string().map((s) => `oci:${s}`),
          fc.string().map((s) => `docker://${s}`),
        ),
        (ref) => typedOrOk(() => parseReference(ref, 'source')),
      ),
      RUNS,
    );
  });
  test('manifests and indexes with fields of the wrong type', () => {
    const descriptor = fc.oneof(
      fc.record(
        { mediaType: fc.oneof(fc.string(), anyJson), digest: fc.oneof(fc.string(), anyJson), size: fc.oneof(fc.nat(), anyJson) },
        { requiredKeys: [] },
      ),
      anyJson,
    );
    const manifestish = fc.record(
      {
        schemaVersion: anyJson,
        mediaType: fc.oneof(
          fc.constantFrom('application/vnd.oci.image.manifest.v1+json', 'application/vnd.oci.image.index.v1+json'),
          anyJson,
        ),
        config: descriptor,
        layers: fc.oneof(fc.array(descriptor), anyJson),
        manifests: fc.oneof(fc.array(descriptor), anyJson),
        subject: descriptor,
        annotations: anyJson,
        artifactType: anyJson,
      },
      { requiredKeys: [] },
    );
    const served = fc.constantFrom(
      'application/vnd.oci.image.manifest.v1+json',
      'application/vnd.oci.image.index.v1+json',
      'application/vnd.docker.distribution.manifest.v2+json',
      'application/vnd.docker.distribution.manifest.list.v2+json',
      'text/html',
      undefined,
    );
    fc.assert(
      fc.property(fc.oneof(manifestish, anyJson, fc.string()), served, (doc, type) =>
        typedOrOk(() => {
          const b = bytes(doc);
          const mediaType = manifestType('manifest', type, b);
          return parseManifest({ digest: 'sha256:' + '0'.repeat(64), mediaType, bytes: b });
        }),
      ),
      RUNS,
    );
  });
});

describe('inputs and files people write', () => {
  test('Docker config files with entries of any shape', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'relay-prop-'));
    const entryish = fc.oneof(
      fc.record(
        { auth: fc.oneof(fc.base64String(), fc.string(), anyJson), username: anyJson, password: anyJson, identitytoken: anyJson },
        { requiredKeys: [] },
      ),
      anyJson,
    );
    const configish = fc.oneof(
      fc.record(
        { auths: fc.oneof(fc.dictionary(fc.constantFrom('ghcr.io', 'https://ghcr.io/v1/', 'x'), entryish), anyJson), credHelpers: anyJson },
        { requiredKeys: [] },
      ),
      anyJson,
      fc.string(),
    );
    await fc.assert(
      fc.asyncProperty(configish, async (cfg) => {
        await writeFile(path.join(dir, 'config.json'), typeof cfg === 'string' ? cfg : JSON.stringify(cfg));
        try {
          await dockerConfigProvider('ghcr.io', { DOCKER_CONFIG: dir, PATH: '/nonexistent' }, new NullLogger()).get();
        } catch (err) {
          if (!(err instanceof RelayError)) throw new Error(`not a typed refusal: ${String(err)}`);
        }
      }),
      { numRuns: 200 },
    );
  });

  test('list inputs never throw', () => {
    fc.assert(
      fc.property(fc.string(), (s) => expect(Array.isArray(splitList(s))).toBe(true)),
      RUNS,
    );
  });
  test('the mirror file: any YAML, any shape', () => {
    const yamlish = fc.oneof(
      fc.string(),
      anyJson.map((v) => JSON.stringify(v)),
      fc
        .record(
          {
            version: anyJson,
            targets: fc.dictionary(
              fc.string(),
              fc.oneof(anyJson, fc.record({ registry: anyJson, repository: anyJson }, { requiredKeys: [] })),
            ),
            tiers: fc.dictionary(fc.string(), fc.oneof(fc.array(fc.string()), anyJson)),
            images: fc.oneof(
              fc.array(fc.record({ name: anyJson, source: anyJson, tier: anyJson, tags: anyJson }, { requiredKeys: [] })),
              anyJson,
            ),
          },
          { requiredKeys: [] },
        )
        .map((v) => JSON.stringify(v)),
    );
    fc.assert(
      fc.property(yamlish, (text) => typedOrOk(() => parseMirrorConfig(text, 'mirror.yml', { env: {}, cwd: '/' }))),
      RUNS,
    );
  });
});
