// Damaged input at any offset: every release archive (tar.gz, zip) truncated
// or with a byte changed, and every image blob in a layout likewise. Each run
// may pass (a change the format does not notice, in bytes nothing reads) or
// refuse with a typed error; it may never end in anything else: no exit 70,
// no unhandled stream error (ERR_STREAM_DESTROYED from a write stream
// destroyed with a write pending), which would reach the process here.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { writeSingleEntryZip } from '../../src/archive/zip-writer.js';
import { exitCodeFor, RelayError } from '../../src/errors.js';
import { NullLogger } from '../../src/log/logger.js';
import { copyImage, publishTerraformRegistry } from '../../src/operations/index.js';
import { hostPlatform } from '../../src/terraform/protocols/detect.js';
import { providerTarball, rsaKey, tmpDir } from '../fixtures.js';
import { makeFixture } from '../oci/fixtures.js';

// Waits on the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(30_000);

const RUNS = Number(process.env.RELAY_DAMAGE_RUNS ?? 100);

/** What a damaged input may lead to: success, or a typed refusal in one line. Anything else fails, naming it. */
async function typedOrOk(run: () => Promise<unknown>, what: string): Promise<'ok' | string> {
  try {
    await run();
    return 'ok';
  } catch (err) {
    if (!(err instanceof RelayError))
      throw new Error(`${what}: not a typed refusal (exit ${exitCodeFor(err)}): ${String((err as Error).stack ?? err)}`);
    expect([what, err.message.includes('\n')]).toEqual([what, false]);
    return err.kind;
  }
}

/**
 * Errors no one handled, caught at the process while the property runs. The
 * real process, not the test's: Jest gives each test file a stand-in `process`
 * whose listeners never hear the real one, and reports such errors only now
 * and then, against whichever test is running.
 */
const stray: unknown[] = [];
const onStray = (err: unknown): void => void stray.push(err);
const realProcess = process.getBuiltinModule('node:process');
beforeAll(() => {
  realProcess.on('uncaughtException', onStray);
  realProcess.on('unhandledRejection', onStray);
});
afterAll(() => {
  realProcess.off('uncaughtException', onStray);
  realProcess.off('unhandledRejection', onStray);
});

/** A change at a fraction of the way through: cut there, or one byte there inverted. */
const damage = fc.record({ how: fc.constantFrom('truncate', 'flip'), at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }) });
function damaged(bytes: Buffer, d: { how: string; at: number }): Buffer {
  const i = Math.floor(d.at * bytes.length);
  if (d.how === 'truncate') return bytes.subarray(0, i);
  const out = Buffer.from(bytes);
  out[i] = out[i]! ^ 0xff;
  return out;
}

describeArchives();

function describeArchives(): void {
  const host = hostPlatform();
  let key: string;
  let dir: string;
  const archives: { name: string; bytes: Buffer }[] = [];

  beforeAll(async () => {
    key = await rsaKey();
    dir = await tmpDir('relay-damage-');
    // An executable big enough to be mid-stream when the damage comes (incompressible, so the tarball is as long),
    // for this host, so its copy for the handshake is written on the way out too.
    const exe = Buffer.concat([Buffer.from('\x7fELF\x02\x01\x01', 'latin1'), randomBytes(3 * 1024 * 1024)]);
    exe.writeUInt16LE(host?.arch === 'arm64' ? 0xb7 : 0x3e, 18);
    const os_ = host?.os ?? 'linux';
    const arch = host?.arch ?? 'amd64';
    const tgz = await providerTarball(dir, 'demo', '1.0.0', os_, arch, exe, [{ name: 'README.md', body: 'docs\n' }]);
    archives.push({ name: path.basename(tgz), bytes: await fs.readFile(tgz) });
    const zipName = `terraform-provider-demo_1.0.0_${os_}_${arch}.zip`;
    await writeSingleEntryZip('terraform-provider-demo_v1.0.0', Readable.from([exe]), path.join(dir, zipName));
    archives.push({ name: zipName, bytes: await fs.readFile(path.join(dir, zipName)) });
  }, 120_000);
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  describe('release archives truncated or changed at any offset: publish passes or refuses, typed', () => {
    test.each([
      ['tar.gz', 0],
      ['zip', 1],
    ])(
      '%s',
      async (_kind, which) => {
        const { name, bytes } = archives[which]!;
        const kinds = new Map<string, number>();
        let n = 0;
        await fc.assert(
          fc.asyncProperty(damage, async (d) => {
            const run = path.join(dir, `run-${n++}`);
            await fs.mkdir(run);
            const file = path.join(run, name);
            await fs.writeFile(file, damaged(bytes, d));
            const what = `${name} ${d.how} at ${d.at.toFixed(6)}`;
            const kind = await typedOrOk(
              () =>
                publishTerraformRegistry.run(
                  {
                    namespace: 'acme',
                    name: 'demo',
                    version: '1.0.0',
                    tarballs: [file],
                    store: `file://${path.join(run, 'reg')}`,
                    'registry-url': 'https://registry.example.com/',
                    'signing-key': key,
                    protocols: ['5.0'],
                    'detect-protocols': 'handshake',
                    'max-binary-size': 64,
                    immutable: true,
                    'dry-run': true,
                  } as unknown as Parameters<typeof publishTerraformRegistry.run>[0],
                  { log: new NullLogger(), env: {}, cwd: run },
                ),
              what,
            );
            kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
            // Streams destroyed on the way out report on the next turns: give them those turns.
            await new Promise((r) => setTimeout(r, 20));
            expect(stray.map(String)).toEqual([]);
            await fs.rm(run, { recursive: true, force: true });
          }),
          { numRuns: RUNS, endOnFailure: true },
        );
        // The damage was seen: most damaged archives are refused, as input.
        expect(kinds.get('input') ?? 0).toBeGreaterThan(0);
      },
      600_000,
    );
  });

  describe('image blobs truncated or changed: copy-image refuses, typed', () => {
    test('every blob of a layout, any offset', async () => {
      const f = await makeFixture({ layerSize: 200_000 });
      const blobsDir = path.join(f.dir, 'blobs', 'sha256');
      const blobs = (await fs.readdir(blobsDir)).sort();
      const originals = new Map(await Promise.all(blobs.map(async (b) => [b, await fs.readFile(path.join(blobsDir, b))] as const)));
      const kinds = new Map<string, number>();
      let n = 0;
      await fc.assert(
        fc.asyncProperty(fc.nat({ max: blobs.length - 1 }), damage, async (i, d) => {
          const blob = blobs[i]!;
          const original = originals.get(blob)!;
          const changed = damaged(original, d);
          await fs.writeFile(path.join(blobsDir, blob), changed);
          try {
            const out = path.join(dir, `oci-${n++}`);
            const kind = await typedOrOk(
              () =>
                copyImage.run(
                  {
                    source: `oci:${f.dir}:v1`,
                    destination: `oci:${out}/image`,
                    tags: [],
                    'immutable-tags': false,
                    'dry-run': false,
                    'insecure-registries': [],
                  } as unknown as Parameters<typeof copyImage.run>[0],
                  { log: new NullLogger(), env: {}, cwd: dir },
                ),
              `blob ${blob.slice(0, 12)} ${d.how} at ${d.at.toFixed(6)}`,
            );
            kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
            // A damaged blob is never copied as if whole.
            if (!changed.equals(original)) expect(kind).not.toBe('ok');
            await new Promise((r) => setTimeout(r, 20));
            expect(stray.map(String)).toEqual([]);
            await fs.rm(out, { recursive: true, force: true });
          } finally {
            await fs.writeFile(path.join(blobsDir, blob), original);
          }
        }),
        // Each run copies a whole image: half as many as the archives get.
        { numRuns: Math.ceil(RUNS / 2), endOnFailure: true },
      );
      expect([...kinds.keys()].every((k) => k !== 'ok')).toBe(true);
    }, 600_000);
  });
}
