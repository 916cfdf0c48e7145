// Hostile archives: an executable for another platform, a header that lies
// about its size, a gzip bomb. Each is refused in one line naming the archive,
// before anything is written (the store snapshot is unchanged).
import { beforeAll, describe, expect, jest, test } from '@jest/globals';
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { NullLogger } from '../../src/log/logger.js';
import { publishTerraformRegistry } from '../../src/operations/index.js';
import { providerTarball, rsaKey, snapshot, tarball, tmpDir } from '../fixtures.js';

// Waits on the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(30_000);

let key: string;
beforeAll(async () => {
  key = await rsaKey();
});

/** The first bytes of an executable of a format and machine (enough for the header check). */
function header(format: 'elf' | 'macho' | 'pe', machine: number): Buffer {
  const b = Buffer.alloc(512);
  if (format === 'elf') {
    b.writeUInt32BE(0x7f454c46, 0);
    b[4] = 2; // 64-bit
    b[5] = 1; // little-endian
    b.writeUInt16LE(machine, 18);
  } else if (format === 'macho') {
    b.writeUInt32LE(0xfeedfacf, 0);
    b.writeUInt32LE(machine, 4);
  } else {
    b.write('MZ', 0, 'latin1');
    b.writeUInt32LE(0x80, 0x3c);
    b.writeUInt32BE(0x50450000, 0x80);
    b.writeUInt16LE(machine, 0x84);
    b.writeUInt16LE(0x20b, 0x80 + 24);
  }
  return b;
}

async function publish(dir: string, tarballs: string[], over: Record<string, unknown> = {}) {
  const store = path.join(dir, 'reg');
  await fs.mkdir(store, { recursive: true });
  const before = await snapshot(store);
  const run = publishTerraformRegistry.run(
    {
      namespace: 'acme',
      name: 'demo',
      version: '1.0.0',
      tarballs,
      source: undefined,
      store: `file://${store}`,
      'registry-url': 'https://registry.example.com/',
      'signing-key': key,
      'signing-key-passphrase': undefined,
      protocols: ['5.0'],
      'detect-protocols': 'off',
      'max-binary-size': 1024,
      immutable: true,
      'dry-run': false,
      's3-endpoint': undefined,
      ...over,
    } as Parameters<typeof publishTerraformRegistry.run>[0],
    { log: new NullLogger(), env: {}, cwd: dir },
  );
  return { run, unchanged: async () => expect(await snapshot(store)).toEqual(before) };
}

describe('the executable matches the platform in its archive name', () => {
  test.each([
    ['linux', 'amd64', 'ELF for arm64', header('elf', 0xb7)],
    ['linux', 'arm64', 'PE for amd64', header('pe', 0x8664)],
    ['windows', 'amd64', 'ELF for amd64', header('elf', 0x3e)],
    ['darwin', 'arm64', 'Mach-O for amd64', header('macho', 0x01000007)],
  ])('%s_%s holding %s is refused, naming both', async (os, arch, what, content) => {
    const dir = await tmpDir();
    const t = await providerTarball(dir, 'demo', '1.0.0', os, arch, content);
    const { run, unchanged } = await publish(dir, [t]);
    await expect(run).rejects.toThrow(
      new RegExp(
        `^tarball '${path.basename(t).replace(/\./g, '\\.')}' is named for ${os}_${arch}, but its provider executable is ${what}$`,
      ),
    );
    await unchanged();
  });

  test.each([
    ['linux', 'arm64', 'elf 0xb7', header('elf', 0xb7)],
    ['windows', 'amd64', 'pe 0x8664', header('pe', 0x8664)],
    ['darwin', 'arm64', 'macho 0x0100000c', header('macho', 0x0100000c)],
    ['freebsd', 'amd64', 'elf 0x3e', header('elf', 0x3e)],
  ])('%s_%s with its own executable (%s) publishes', async (os, arch, _what, content) => {
    const dir = await tmpDir();
    const { run } = await publish(dir, [await providerTarball(dir, 'demo', '1.0.0', os, arch, content)]);
    await expect(run).resolves.toBeDefined();
  });
});

describe('size limits up front', () => {
  test('an entry whose header declares more than max-binary-size is refused before it is inflated', async () => {
    const dir = await tmpDir();
    const t = await providerTarball(dir, 'demo', '1.0.0', 'linux', 'amd64', Buffer.alloc(3 << 20, 1));
    const { run, unchanged } = await publish(dir, [t], { 'max-binary-size': 2 });
    await expect(run).rejects.toThrow(
      `tarball '${path.basename(t)}': entry 'terraform-provider-demo' declares ${3 << 20} bytes, over the ${2 << 20}-byte limit (max-binary-size)`,
    );
    await unchanged();
  });

  test('a concatenated-gzip bomb is refused once it passes the limit', async () => {
    const dir = await tmpDir();
    // a small provider first, then many gzip members of zeros appended: a tar reader keeps inflating them
    const small = await tarball(dir, 'inner.tar.gz', [{ name: 'terraform-provider-demo', body: 'bin' }]);
    const file = path.join(dir, 'terraform-provider-demo-v1.0.0-linux-amd64-bin.tar.gz');
    const zeros = gzipSync(Buffer.alloc(16 << 20));
    const members = [await fs.readFile(small), ...Array.from({ length: 64 }, () => zeros)];
    await pipeline(Readable.from(members), createWriteStream(file));
    expect((await fs.stat(file)).size).toBeLessThan(3 << 20); // 1 GiB of zeros in a few MB
    const { run, unchanged } = await publish(dir, [file], { 'max-binary-size': 4 });
    await expect(run).rejects.toThrow(
      `tarball '${path.basename(file)}': inflates to more than ${8 << 20} bytes (twice the binary size limit); refusing it`,
    );
    await unchanged();
  });

  test('max-binary-size must be positive', async () => {
    const dir = await tmpDir();
    const { run } = await publish(dir, [await providerTarball(dir, 'demo', '1.0.0', 'linux', 'amd64')], { 'max-binary-size': 0 });
    await expect(run).rejects.toThrow(`input 'max-binary-size': expected a positive number of MiB, got "0"`);
  });
});

describe('documents already in the store', () => {
  test('a versions index too large to handle is refused in the plan, nothing written', async () => {
    const dir = await tmpDir();
    const store = path.join(dir, 'reg');
    await fs.mkdir(path.join(store, 'registry/acme/demo'), { recursive: true });
    const huge = JSON.stringify({ versions: [], padding: 'x'.repeat(9 << 20) });
    await fs.writeFile(path.join(store, 'registry/acme/demo/versions'), huge);
    const { run, unchanged } = await publish(dir, [await providerTarball(dir, 'demo', '1.0.0', 'linux', 'amd64')]);
    await expect(run).rejects.toThrow(
      `file://${store}/registry/acme/demo/versions is ${huge.length} bytes, more than the ${8 << 20} Relay reads; refusing to overwrite it (repair or remove it by hand)`,
    );
    await unchanged();
  });

  test.each([
    [
      'an entry without protocols',
      { versions: [{ version: '0.9.0', platforms: [] }] },
      'lists version 0.9.0 without a "protocols" array of strings',
    ],
    [
      'platforms of the wrong shape',
      { versions: [{ version: '0.9.0', protocols: ['5.0'], platforms: 'linux' }] },
      'lists version 0.9.0 without a "platforms" array of {os, arch}',
    ],
  ])('a versions index with %s is refused in one line, nothing written', async (_name, doc, why) => {
    const dir = await tmpDir();
    const store = path.join(dir, 'reg');
    await fs.mkdir(path.join(store, 'registry/acme/demo'), { recursive: true });
    await fs.writeFile(path.join(store, 'registry/acme/demo/versions'), JSON.stringify(doc));
    const { run, unchanged } = await publish(dir, [await providerTarball(dir, 'demo', '1.0.0', 'linux', 'amd64')]);
    await expect(run).rejects.toThrow(
      `file://${store}/registry/acme/demo/versions ${why}; refusing to overwrite it (repair or remove it by hand)`,
    );
    await unchanged();
  });
});
