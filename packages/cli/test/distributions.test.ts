// The CLI without a clone: scripts/build-cli.mjs builds the single-file bundle, the npm package and (here, for
// the host only: --sea-host) Node's single executable; each is installed or copied into a fresh directory far
// from this checkout and must say its version and commit, and publish to a file store (the demo: publish,
// serve, verify).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { VERSION } from '@relay/core';
import { captured } from '../../../test/support/leaks.js';

const run = promisify(execFile);
const ROOT = path.resolve(new URL('../../..', import.meta.url).pathname);
let out: string;
let head: string;

async function exec(file: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  const r = await run(file, args, {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: cwd, ...env },
    maxBuffer: 20 << 20,
    timeout: 240_000,
  });
  captured(r.stdout, r.stderr);
  return r;
}

/** A directory outside the checkout, so nothing can be found through it. */
const fresh = (): Promise<string> => fs.mkdtemp(path.join(os.tmpdir(), 'relay-dist-'));

beforeAll(async () => {
  out = await fresh();
  head = (await run('git', ['rev-parse', 'HEAD'], { cwd: ROOT })).stdout.trim();
  await exec(process.execPath, [path.join(ROOT, 'scripts/build-cli.mjs'), '--out', out, '--sea-host'], ROOT);
}, 600_000);
afterAll(async () => {
  if (out) await fs.rm(out, { recursive: true, force: true });
});

async function worksAlone(argv0: string, prefix: string[], cwd: string): Promise<void> {
  const v = await exec(argv0, [...prefix, '--version'], cwd);
  expect(v.stdout).toMatch(
    new RegExp(`^relay ${VERSION.replace(/\./g, '\\.')} \\(commit ${head.slice(0, 12)}; node v[\\d.]+ linux-x64\\)\\n$`),
  );
  const demo = await exec(argv0, [...prefix, 'demo'], cwd);
  expect(demo.stderr).toMatch(/verified relay\/demo 1\.0\.0: 3 platform\(s\)/);
  const zips = (await fs.readdir(path.join(cwd, '.relay-demo/registry'), { recursive: true })).filter((f) => f.endsWith('.zip'));
  expect(zips).toHaveLength(3);
}

describe('the CLI without a clone', () => {
  test('the build writes the files and their SHA256SUMS', async () => {
    const names = (await fs.readdir(out)).sort();
    expect(names).toEqual(['SHA256SUMS', `relay-cli-${VERSION}.tgz`, 'relay-linux-x64', 'relay.mjs']);
    const sums = await fs.readFile(path.join(out, 'SHA256SUMS'), 'utf8');
    for (const n of names.filter((f) => f !== 'SHA256SUMS')) {
      const digest = createHash('sha256')
        .update(await fs.readFile(path.join(out, n)))
        .digest('hex');
      expect(sums).toContain(`${digest}  ${n}\n`);
    }
  });

  test('relay.mjs: one file, run with node from anywhere', async () => {
    const dir = await fresh();
    await fs.copyFile(path.join(out, 'relay.mjs'), path.join(dir, 'relay.mjs'));
    await worksAlone(process.execPath, [path.join(dir, 'relay.mjs')], dir);
  }, 300_000);

  test('the npm package: npm install -g gives a relay command, with the licences and no dependency to resolve', async () => {
    const dir = await fresh();
    const prefix = path.join(dir, 'global');
    await exec(
      'npm',
      ['install', '-g', '--offline', '--no-audit', '--no-fund', '--prefix', prefix, path.join(out, `relay-cli-${VERSION}.tgz`)],
      dir,
    );
    const installed = path.join(prefix, 'lib/node_modules/relay-cli');
    expect((await fs.readdir(installed)).sort()).toEqual(['LICENSE', 'README.md', 'THIRD_PARTY_LICENSES.txt', 'package.json', 'relay.mjs']);
    const pkg = JSON.parse(await fs.readFile(path.join(installed, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg.dependencies).toBeUndefined();
    expect(pkg.bin).toEqual({ relay: 'relay.mjs' });
    await worksAlone(path.join(prefix, 'bin/relay'), [], dir);
  }, 300_000);

  test('the single executable (linux-x64): runs with its own Node', async () => {
    const dir = await fresh();
    await fs.copyFile(path.join(out, 'relay-linux-x64'), path.join(dir, 'relay'));
    await fs.chmod(path.join(dir, 'relay'), 0o755);
    await worksAlone(path.join(dir, 'relay'), [], dir);
  }, 300_000);
});
