// publish-terraform-registry deciding and checking protocols from the
// provider: stand-in providers built with Go (see go-standins.ts), published
// into a file store.
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { InputError } from '../../src/errors.js';
import { NullLogger } from '../../src/log/logger.js';
import { publishTerraformRegistry } from '../../src/operations/index.js';
import { captured, secretKey } from '../../../../test/support/leaks.js';
import { rsaKey, snapshot, tarball, tmpDir } from '../fixtures.js';
import { buildStandin, describeWithGo, goHost } from './go-standins.js';

// Waits on processes and the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(60_000);

const describeGo = describeWithGo();

describeGo('publish: protocols read from stand-in providers', () => {
  let key: string;
  let dir: string;
  let host: { os: string; arch: string };
  const marker: Record<string, string> = {};
  const bin: Record<string, string> = {};

  beforeAll(async () => {
    dir = await tmpDir('relay-publish-protocols-');
    host = await goHost();
    key = secretKey(await rsaKey());
    const build = async (k: string, s: Parameters<typeof buildStandin>[0]): Promise<void> => {
      marker[k] = path.join(dir, `${k}.marker`);
      bin[k] = await buildStandin({ ...s, marker: marker[k] }, dir);
    };
    await build('framework', { cmd: 'framework' });
    await build('frameworkDarwin', { cmd: 'framework', goos: 'darwin', goarch: 'arm64' });
    await build('frameworkWindows', { cmd: 'framework', goos: 'windows', goarch: 'amd64' });
  }, 600_000);
  // the suite's secret scan: nothing Relay logged here may hold the signing key
  afterAll(async () => {
    captured(...logs.flatMap((l) => l.lines));
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** Teleport-style tarballs for the host, darwin/arm64 and windows/amd64, each holding a stand-in. */
  async function tarballs(where: string): Promise<string[]> {
    await fs.mkdir(where, { recursive: true });
    const plats: [string, string, string][] = [
      [host.os, host.arch, bin.framework!],
      ['darwin', 'arm64', bin.frameworkDarwin!],
      ['windows', 'amd64', bin.frameworkWindows!],
    ];
    return Promise.all(
      plats.map(async ([os, arch, exe]) =>
        tarball(where, `terraform-provider-demo-v1.0.0-${os}-${arch}-bin.tar.gz`, [
          { name: `terraform-provider-demo${os === 'windows' ? '.exe' : ''}`, body: await fs.readFile(exe) },
          { name: 'LICENSE', body: 'MPL-2.0\n', mode: 0o644 },
        ]),
      ),
    );
  }

  function inputs(over: Record<string, unknown>) {
    return {
      namespace: 'acme',
      name: 'demo',
      version: '1.0.0',
      tarballs: [] as string[],
      source: undefined,
      store: '',
      'registry-url': 'https://registry.example.com/',
      'signing-key': key,
      'signing-key-passphrase': undefined,
      protocols: [] as string[],
      'detect-protocols': 'handshake',
      immutable: true,
      'dry-run': false,
      's3-endpoint': undefined,
      'max-binary-size': 1024,
      ...over,
    } as Parameters<typeof publishTerraformRegistry.run>[0];
  }
  const logs: NullLogger[] = [];
  const ctx = () => {
    const log = new NullLogger();
    logs.push(log);
    return { log, env: {}, cwd: '/' };
  };
  const versionsOf = async (store: string): Promise<unknown> =>
    JSON.parse(await fs.readFile(path.join(store, 'registry/acme/demo/versions'), 'utf8'));
  const clearMarkers = (): Promise<void[]> => Promise.all(Object.values(marker).map((m) => fs.rm(m, { force: true })));

  test('no manifest, a framework provider: 6.0 by its handshake in every document; the zips are the bytes of a publish without detection', async () => {
    await clearMarkers();
    const tbs = await tarballs(path.join(dir, 'a'));
    const store = path.join(dir, 'a', 'reg');
    const c = ctx();
    const res = await publishTerraformRegistry.run(inputs({ tarballs: tbs, store: `file://${store}` }), c);
    expect(await versionsOf(store)).toMatchObject({ versions: [{ version: '1.0.0', protocols: ['6.0'] }] });
    for (const p of [`${host.os}/${host.arch}`, 'darwin/arm64', 'windows/amd64']) {
      const doc = JSON.parse(await fs.readFile(path.join(store, `registry/acme/demo/1.0.0/download/${p}`), 'utf8'));
      expect(doc.protocols).toEqual(['6.0']);
    }
    const manifest = JSON.parse(
      await fs.readFile(path.join(store, 'store/acme/demo/1.0.0/terraform-provider-demo_1.0.0_manifest.json'), 'utf8'),
    );
    expect(manifest).toEqual({ version: 1, metadata: { protocol_versions: ['6.0'] } });
    const note = res.report.sections.find((s) => s.heading === 'Protocols');
    expect(note && 'text' in note && note.text).toMatch(
      new RegExp(
        `^6\\.0 from the go-plugin handshake of the ${host.os}_${host.arch} executable \\(offered 5: answered 6; offered 6: answered 6\\); agrees: Go build information \\(terraform-plugin-framework v1\\.4\\.2`,
      ),
    );
    expect(c.log.lines.some((l) => l.startsWith('protocols 6.0 from the go-plugin handshake'))).toBe(true);
    // it ran here, and only the host's executable did
    expect(existsSync(marker.framework!)).toBe(true);
    expect(existsSync(marker.frameworkDarwin!)).toBe(false);
    expect(existsSync(marker.frameworkWindows!)).toBe(false);

    const offStore = path.join(dir, 'a', 'reg-off');
    await publishTerraformRegistry.run(
      inputs({ tarballs: tbs, store: `file://${offStore}`, protocols: ['6.0'], 'detect-protocols': 'off' }),
      ctx(),
    );
    const zips = async (s: string): Promise<Record<string, string>> =>
      Object.fromEntries(Object.entries(await snapshot(s)).filter(([k]) => k.endsWith('.zip')));
    expect(Object.keys(await zips(store))).toHaveLength(3);
    expect(await zips(store)).toEqual(await zips(offStore));
  });

  test('the protocols input disagreeing with the provider is refused in one line naming both, and nothing is written', async () => {
    const tbs = await tarballs(path.join(dir, 'b'));
    const store = path.join(dir, 'b', 'reg');
    await publishTerraformRegistry.run(inputs({ tarballs: tbs, store: `file://${store}`, version: '1.0.0' }), ctx());
    const before = await snapshot(store);
    const v2 = await Promise.all(
      tbs.map(async (t) => {
        const to = t.replace('v1.0.0', 'v1.1.0');
        await fs.copyFile(t, to);
        return to;
      }),
    );
    const err = await publishTerraformRegistry
      .run(inputs({ tarballs: v2, store: `file://${store}`, version: '1.1.0', protocols: ['5.0'] }), ctx())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    const msg = (err as Error).message;
    expect(msg).not.toContain('\n');
    expect(msg).toMatch(
      new RegExp(
        `^input 'protocols' says 5\\.0, but the provider serves protocol 6, by the go-plugin handshake of the ${host.os}_${host.arch} executable`,
      ),
    );
    expect(await snapshot(store)).toEqual(before);
  });

  test('detect-protocols: static decides by build information and never runs the executable', async () => {
    await clearMarkers();
    const tbs = await tarballs(path.join(dir, 'c'));
    const store = path.join(dir, 'c', 'reg');
    const res = await publishTerraformRegistry.run(
      inputs({ tarballs: tbs, store: `file://${store}`, 'detect-protocols': 'static' }),
      ctx(),
    );
    expect(await versionsOf(store)).toMatchObject({ versions: [{ protocols: ['6.0'] }] });
    const note = res.report.sections.find((s) => s.heading === 'Protocols');
    expect(note && 'text' in note && note.text).toMatch(
      /the same on 3 executables; no handshake to decide \(detect-protocols is static\)$/,
    );
    for (const m of Object.values(marker)) expect(existsSync(m)).toBe(false);
  });

  test('an executable for another platform is never run: one named for this host but built for another is refused first', async () => {
    await clearMarkers();
    const where = path.join(dir, 'd');
    await fs.mkdir(where, { recursive: true });
    const store = path.join(where, 'reg');
    const other = host.arch === 'arm64' ? 'amd64' : 'arm64';
    // this host's executable, labelled for another arch: it could run here, and must not
    const t = await tarball(where, `terraform-provider-demo-v1.0.0-${host.os}-${other}-bin.tar.gz`, [
      { name: 'terraform-provider-demo', body: await fs.readFile(bin.framework!) },
    ]);
    const err = await publishTerraformRegistry.run(inputs({ tarballs: [t], store: `file://${store}` }), ctx()).catch((e: unknown) => e);
    expect((err as Error).message).toBe(
      `tarball '${path.basename(t)}' is named for ${host.os}_${other}, but its provider executable is ELF for ${host.arch}`,
    );
    // a darwin executable in an archive named for this host: refused, not run
    const d = await tarball(where, `terraform-provider-demo-v1.0.0-${host.os}-${host.arch}-bin.tar.gz`, [
      { name: 'terraform-provider-demo', body: await fs.readFile(bin.frameworkDarwin!) },
    ]);
    await expect(publishTerraformRegistry.run(inputs({ tarballs: [d], store: `file://${store}` }), ctx())).rejects.toThrow(
      `is named for ${host.os}_${host.arch}, but its provider executable is Mach-O for arm64`,
    );
    for (const m of Object.values(marker)) expect(existsSync(m)).toBe(false);
    expect(await snapshot(store)).toEqual({});
  });
});
