// The build record every publish writes next to the version, what the summary
// warns about (executables left out of the zips, a registry-url with a port),
// and the read-back that must pass before a version is listed.
import { beforeAll, describe, expect, jest, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { IntegrityError } from '../../src/errors.js';
import { NullLogger } from '../../src/log/logger.js';
import { publishTerraformRegistry } from '../../src/operations/index.js';
import { FsStore } from '../../src/store/fs.js';
import type { Store } from '../../src/store/store.js';
import { executePlan } from '../../src/terraform/execute.js';
import { planRelease } from '../../src/terraform/plan.js';
import { buildRelease } from '../../src/terraform/release.js';
import { loadSigningKey } from '../../src/signing/key.js';
import { PackageReadBack, storeReader } from '../../src/terraform/verify.js';
import { providerTarball, rsaKey, snapshot, tarball, tmpDir } from '../fixtures.js';

// Waits on the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(30_000);

let key: string;
beforeAll(async () => {
  key = await rsaKey();
});

const inputs = (over: Record<string, unknown>) =>
  ({
    namespace: 'acme',
    name: 'demo',
    version: '1.0.0',
    tarballs: [] as string[],
    source: undefined,
    store: '',
    'registry-url': 'https://registry.example.com/',
    'signing-key': key,
    'signing-key-passphrase': undefined,
    protocols: ['6.0'],
    immutable: true,
    'dry-run': false,
    's3-endpoint': undefined,
    ...over,
  }) as Parameters<typeof publishTerraformRegistry.run>[0];

const actions = (env: Record<string, string>) => ({
  GITHUB_REF: 'refs/tags/terraform-provider-demo-v1.0.0',
  GITHUB_REPOSITORY: 'acme/terraform-provider-demo',
  GITHUB_RUN_ID: '4242',
  GITHUB_RUN_ATTEMPT: '1',
  GITHUB_WORKFLOW_REF: 'acme/terraform-provider-demo/.github/workflows/staging.yml@refs/tags/terraform-provider-demo-v1.0.0',
  ...env,
});

async function tarballs(dir: string, tag = 'a'): Promise<string[]> {
  return Promise.all([
    providerTarball(dir, 'demo', '1.0.0', 'linux', 'amd64', `linux ${tag}\n`),
    providerTarball(dir, 'demo', '1.0.0', 'darwin', 'arm64', `darwin ${tag}\n`),
  ]);
}

const sha = async (f: string): Promise<string> =>
  createHash('sha256')
    .update(await fs.readFile(f))
    .digest('hex');
const RECORD = 'store/acme/demo/1.0.0/relay-build.json';

describe('the build record', () => {
  test('names the archives, the ref and run, and every zip and SHA256SUMS by sha256', async () => {
    const dir = await tmpDir();
    const store = path.join(dir, 'reg');
    const files = await tarballs(dir);
    const log = new NullLogger();
    const res = await publishTerraformRegistry.run(inputs({ tarballs: files, store }), { log, env: actions({}), cwd: '/' });
    const rec = JSON.parse(await fs.readFile(path.join(store, RECORD), 'utf8'));
    const dirOf = path.join(store, 'store/acme/demo/1.0.0');
    expect(rec).toEqual({
      format: 'relay-build/1',
      provider: { namespace: 'acme', name: 'demo', version: '1.0.0' },
      ref: 'refs/tags/terraform-provider-demo-v1.0.0',
      repository: 'acme/terraform-provider-demo',
      run: {
        id: '4242',
        attempt: '1',
        workflow: 'acme/terraform-provider-demo/.github/workflows/staging.yml@refs/tags/terraform-provider-demo-v1.0.0',
      },
      sources: await Promise.all([...files].sort().map(async (f) => ({ name: path.basename(f), sha256: await sha(f) }))),
      files: await Promise.all(
        [
          'terraform-provider-demo_1.0.0_SHA256SUMS',
          'terraform-provider-demo_1.0.0_darwin_arm64.zip',
          'terraform-provider-demo_1.0.0_linux_amd64.zip',
        ].map(async (n) => ({ name: n, sha256: await sha(path.join(dirOf, n)) })),
      ),
    });
    expect(res.plan.find((r) => r.object === RECORD)).toMatchObject({ action: 'put' });
  });

  test('outside Actions it records no ref and no run', async () => {
    const dir = await tmpDir();
    const store = path.join(dir, 'reg');
    await publishTerraformRegistry.run(inputs({ tarballs: await tarballs(dir), store }), { log: new NullLogger(), env: {}, cwd: '/' });
    const rec = JSON.parse(await fs.readFile(path.join(store, RECORD), 'utf8'));
    expect([rec.ref, rec.repository, rec.run]).toEqual([null, null, undefined]);
  });

  test('a re-run of the same build keeps the first record; a mutable version rebuilt from another ref gets a new one', async () => {
    const dir = await tmpDir();
    const store = path.join(dir, 'reg');
    const files = await tarballs(dir);
    const run = (env: Record<string, string>, immutable = false) =>
      publishTerraformRegistry.run(inputs({ tarballs: files, store, immutable }), { log: new NullLogger(), env: actions(env), cwd: '/' });
    await run({});
    const first = await fs.readFile(path.join(store, RECORD), 'utf8');
    const again = await run({ GITHUB_RUN_ATTEMPT: '2' });
    expect(again.report.status).toBe('no-op');
    expect(again.plan.find((r) => r.object === RECORD)).toMatchObject({
      action: 'skip',
      why: 'same build already recorded (run 4242, attempt 1)',
    });
    expect(await fs.readFile(path.join(store, RECORD), 'utf8')).toBe(first);

    // staging: the same bytes published from another tag replace the record (promotion checks its ref), and the
    // provenance statement, whose external parameters name the ref
    const rc = await run({ GITHUB_REF: 'refs/tags/terraform-provider-demo-v1.0.0-rc.1', GITHUB_RUN_ID: '4243' });
    expect(rc.plan.filter((r) => r.action !== 'skip').map((r) => [r.object, r.action])).toEqual([
      [RECORD, 'replace'],
      ['store/acme/demo/1.0.0/relay-provenance.intoto.json', 'replace'],
    ]);
    expect(JSON.parse(await fs.readFile(path.join(store, RECORD), 'utf8')).ref).toBe('refs/tags/terraform-provider-demo-v1.0.0-rc.1');

    // write-once: identical bytes from another ref stay a no-op, the first record kept
    const prod = path.join(dir, 'prod');
    await publishTerraformRegistry.run(inputs({ tarballs: files, store: prod }), { log: new NullLogger(), env: actions({}), cwd: '/' });
    const other = await publishTerraformRegistry.run(inputs({ tarballs: files, store: prod }), {
      log: new NullLogger(),
      env: actions({ GITHUB_REF: 'refs/heads/main', GITHUB_RUN_ID: '9' }),
      cwd: '/',
    });
    expect(other.report.status).toBe('no-op');
    expect(other.plan.find((r) => r.object === RECORD)?.why).toBe(
      'same build already recorded (from refs/tags/terraform-provider-demo-v1.0.0, run 4242, attempt 1)',
    );
  });
});

test('the plan hash does not depend on the run the record names: a dry run binds an apply run by a re-run job', async () => {
  const dir = await tmpDir();
  const store = path.join(dir, 'reg');
  const files = await tarballs(dir);
  const run = (env: Record<string, string>, over: Record<string, unknown>) =>
    publishTerraformRegistry.run(inputs({ tarballs: files, store, ...over }), { log: new NullLogger(), env: actions(env), cwd: '/' });
  const plan = await run({ GITHUB_RUN_ATTEMPT: '9' }, { 'dry-run': true });
  const applied = await run({ GITHUB_RUN_ATTEMPT: '10' }, { 'expect-plan': plan.outputs['plan-hash'] });
  expect(applied.report.status).toBe('done');
  expect(JSON.parse(await fs.readFile(path.join(store, RECORD), 'utf8')).run.attempt).toBe('10');
});

describe('what the summary warns about', () => {
  const elf = Buffer.concat([
    Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]),
    Buffer.alloc(10),
    Buffer.from([0xb7, 0]),
    Buffer.alloc(44),
  ]);

  test('another executable in an archive is named in a warning, never dropped silently; documents are not', async () => {
    const dir = await tmpDir();
    const t = await tarball(dir, 'terraform-provider-demo-v1.0.0-linux-arm64-bin.tar.gz', [
      { name: 'terraform-provider-demo', body: 'provider' },
      { name: 'helpers/plugin-helper', body: elf },
      { name: 'install.sh', body: '#!/bin/sh\necho hi\n', mode: 0o755 },
      { name: 'README.md', body: '# readme, mode 0755 by accident', mode: 0o755 },
      { name: 'LICENSE', body: 'text', mode: 0o644 },
      { name: 'notes.sh', body: '#!/bin/sh\n', mode: 0o644 },
    ]);
    const log = new NullLogger();
    const res = await publishTerraformRegistry.run(inputs({ tarballs: [t], store: path.join(dir, 'reg') }), { log, env: {}, cwd: '/' });
    const warnings = log.lines.filter((l) => l.startsWith('warning: '));
    expect(warnings).toEqual([
      "warning: tarball 'terraform-provider-demo-v1.0.0-linux-arm64-bin.tar.gz': helpers/plugin-helper is ELF executable for arm64; the registry's zip carries only the provider executable, so it is left out",
      "warning: tarball 'terraform-provider-demo-v1.0.0-linux-arm64-bin.tar.gz': install.sh is a #! script with exec bits; the registry's zip carries only the provider executable, so it is left out",
    ]);
    const section = res.report.sections.find((s) => s.heading === 'Warnings');
    expect(section && 'text' in section && section.text.split('\n')).toEqual(warnings.map((w) => w.slice('warning: '.length)));
  });

  test('a registry-url with a port: Terraform cannot use the network mirror of such a host', async () => {
    const dir = await tmpDir();
    const log = new NullLogger();
    await publishTerraformRegistry.run(
      inputs({ tarballs: await tarballs(dir), store: path.join(dir, 'reg'), 'registry-url': 'https://registry.example.com:8443/' }),
      { log, env: {}, cwd: '/' },
    );
    expect(log.lines.filter((l) => l.startsWith('warning: '))).toEqual([
      expect.stringMatching(
        /^warning: input 'registry-url': registry\.example\.com:8443 has a port; .*Terraform's network-mirror client cannot use such a host/,
      ),
    ]);
    // the default port, and a loopback registry (a demo or a test, never a network mirror): no warning
    for (const url of ['https://registry.example.com:443/', 'http://127.0.0.1:8080/', 'http://localhost:8080/']) {
      const quiet = new NullLogger();
      await publishTerraformRegistry.run(
        inputs({ tarballs: await tarballs(dir), store: path.join(dir, `reg-${new URL(url).host}`), 'registry-url': url }),
        { log: quiet, env: {}, cwd: '/' },
      );
      expect([url, quiet.lines.filter((l) => l.startsWith('warning: '))]).toEqual([url, []]);
    }
  });
});

describe('each zip is read back before the version is listed', () => {
  /** A store whose reads of zips come back with one byte flipped, as a broken proxy or disk would. */
  function corruptingReads(inner: Store): Store {
    return {
      url: inner.url,
      head: (k) => inner.head(k),
      get: (k) => inner.get(k),
      put: (k, b, o) => inner.put(k, b, o),
      list: (p) => inner.list(p),
      delete: (k) => inner.delete(k),
      async getStream(k) {
        const s = await inner.getStream(k);
        if (!s || !k.endsWith('.zip')) return s;
        const chunks: Buffer[] = [];
        for await (const c of s) chunks.push(c as Buffer);
        const b = Buffer.concat(chunks);
        b[b.length - 30] = b[b.length - 30]! ^ 0xff;
        return Readable.from([b]);
      },
    };
  }

  test('a zip that does not read back as written stops the publish before versions', async () => {
    const dir = await tmpDir();
    const log = new NullLogger();
    const signer = await loadSigningKey(key, undefined, log);
    const registryUrl = new URL('https://registry.example.com/');
    const fsStore = new FsStore(path.join(dir, 'reg'));
    const store = corruptingReads(fsStore);
    const coords = { namespace: 'acme', name: 'demo', version: '1.0.0' };
    const rel = await buildRelease({
      coords,
      files: await tarballs(dir),
      protocolsInput: ['6.0'],
      key: signer,
      registryUrl,
      immutable: true,
      log,
    });
    try {
      const plan = await planRelease(store, rel, { immutable: true, publicArmor: signer.publicArmor });
      const rb = new PackageReadBack(storeReader(store, registryUrl), 'demo', rel.tmpDir, 2);
      const err = await executePlan(store, rel, plan, {
        immutable: true,
        publicArmor: signer.publicArmor,
        log,
        stored: (i) => i.obj?.key.endsWith('.zip') && rb.start(new URL(i.obj.key, registryUrl), i.obj.sha256),
        beforeCommit: () => rb.settled(),
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as Error).message).toMatch(
        /^package https:\/\/registry\.example\.com\/store\/acme\/demo\/1\.0\.0\/terraform-provider-demo_1\.0\.0_\w+\.zip: reads back with sha256 [0-9a-f]{64}, but [0-9a-f]{64} was written$/,
      );
      const keys = Object.keys(await snapshot(path.join(dir, 'reg')));
      expect(keys.filter((k) => k.includes('versions') || k.includes('index.json'))).toEqual([]);
      await rb.idle();
    } finally {
      await fs.rm(rel.tmpDir, { recursive: true, force: true });
    }
  });
});
