// A workflow re-run racing the original: identical publishes of one version at
// the same moment all succeed, whichever writes each object first.
import { beforeAll, describe, expect, jest, test } from '@jest/globals';
import * as path from 'node:path';
import { NullLogger } from '../../src/log/logger.js';
import { publishTerraformRegistry, verifyTerraformRegistry } from '../../src/operations/index.js';
import { providerTarball, rsaKey, tmpDir } from '../fixtures.js';

// Waits on the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(30_000);

let key: string;
beforeAll(async () => {
  key = await rsaKey();
});

const inputs = (store: string, tarballs: string[]) =>
  ({
    namespace: 'acme',
    name: 'demo',
    version: '1.0.0',
    tarballs,
    source: undefined,
    store,
    'registry-url': 'https://registry.example.com/',
    'signing-key': key,
    'signing-key-passphrase': undefined,
    protocols: ['5.0'],
    'detect-protocols': 'off',
    'max-binary-size': 1024,
    immutable: true,
    'dry-run': false,
    's3-endpoint': undefined,
  }) as Parameters<typeof publishTerraformRegistry.run>[0];

describe('concurrent identical publishes', () => {
  test('six at once all succeed; one signature is kept; the registry verifies', async () => {
    const dir = await tmpDir();
    const tarballs = await Promise.all(
      (
        [
          ['linux', 'amd64'],
          ['darwin', 'arm64'],
        ] as const
      ).map(([os, arch]) => providerTarball(dir, 'demo', '1.0.0', os, arch, `bin ${os}\n`)),
    );
    const store = `file://${path.join(dir, 'reg')}`;
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, () => publishTerraformRegistry.run(inputs(store, tarballs), { log: new NullLogger(), env: {}, cwd: dir })),
    );
    expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))).toEqual(Array(6).fill('ok'));
    const v = await verifyTerraformRegistry.run(
      {
        'registry-url': 'https://registry.example.com/',
        namespace: 'acme',
        name: 'demo',
        version: '1.0.0',
        store,
        mirror: true,
        's3-endpoint': undefined,
      },
      { log: new NullLogger(), env: {}, cwd: dir },
    );
    expect(v.outputs.platforms).toBe('2');
  }, 60_000);
});
