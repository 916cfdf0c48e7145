// The CLI face as users run it (the committed bundle, dist/cli.js): the
// documented exit codes, the one --json document, and SIGINT mid-publish.
import { describe, expect, jest, test } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { captured, secretKey } from '../../../test/support/leaks.js';
import { randomBytes } from 'node:crypto';
import { EXIT, exitCodeFor, InputError, OPERATIONS, RemoteError, CancelledError } from '@relay/core';
import { providerTarball, rsaKey, tmpDir } from '../../core/test/fixtures.js';

// Waits on processes and the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(60_000);

const run = promisify(execFile);
const ROOT = path.resolve(new URL('../../..', import.meta.url).pathname);
const CLI = path.join(ROOT, 'dist/cli.js');

async function relay(
  args: string[],
  env: Record<string, string> = {},
  cwd = ROOT,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, [CLI, ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...env }, maxBuffer: 10 << 20 }).then(
    (r) => {
      captured(r.stdout, r.stderr);
      return { code: 0, ...r };
    },
    (e: { code: number; stdout: string; stderr: string }) => {
      captured(e.stdout, e.stderr);
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    },
  );
}

async function release(dir: string, version: string, size = 64): Promise<string[]> {
  const out = path.join(dir, version);
  await fs.mkdir(out, { recursive: true });
  return Promise.all(
    [
      ['linux', 'amd64'],
      ['darwin', 'arm64'],
      ['windows', 'amd64'],
    ].map(([o, a]) => providerTarball(out, 'demo', version, o!, a!, randomBytes(size).toString('base64'))),
  );
}

const publishArgs = (store: string, tarballs: string[], version: string): string[] => [
  'publish-terraform-registry',
  '--namespace',
  'acme',
  '--name',
  'demo',
  '--version',
  version,
  '--store',
  `file://${store}`,
  '--registry-url',
  'https://registry.example.com',
  ...tarballs.flatMap((t) => ['--tarballs', t]),
];

describe('every operation is a CLI command', () => {
  test.each(OPERATIONS.map((o) => o.spec.name))('%s: listed in relay --help, with its own --help', async (name) => {
    const usage = await relay(['--help']);
    expect(usage.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
    const help = await relay([name, '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain(`Usage: relay ${name} `);
  });
});

describe('exit codes', () => {
  test('each error kind maps to its documented code', () => {
    expect(exitCodeFor(new InputError('x'))).toBe(1);
    expect(exitCodeFor(new RemoteError('x'))).toBe(3);
    expect(exitCodeFor(new CancelledError())).toBe(130);
    expect(exitCodeFor(new Error('a bug'))).toBe(70);
    expect(EXIT).toEqual({ ok: 0, refused: 1, usage: 2, remote: 3, drift: 4, bug: 70, cancelled: 130 });
  });

  test('0 done, 1 refused, 2 usage, each with one line on stderr', async () => {
    const ok = await relay(['--version']);
    expect([ok.code, ok.stdout]).toEqual([
      0,
      expect.stringMatching(/^relay \d+\.\d+\.\d+ \(commit [0-9a-f]{12}; node v[\d.]+ [a-z0-9]+-[a-z0-9]+\)\n$/),
    ]);
    const refused = await relay(['verify-terraform-registry', '--registry-url', 'ftp://x', '--namespace', 'a', '--name', 'b']);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split('\n')).toEqual([
      `error: input 'registry-url': expected an http(s) URL such as https://registry.example.com (not an http(s) URL), got "ftp://x"`,
    ]);
    const usage = await relay(['verify-terraform-registry', '--no-such-flag']);
    expect(usage.code).toBe(2);
    expect(usage.stderr.trim().split('\n')).toHaveLength(1);
    expect((await relay(['no-such-command'])).code).toBe(2);
  });

  test('3 when a remote keeps failing after every retry, in one line', async () => {
    let hits = 0;
    const server = http.createServer((_req, res) => {
      hits++;
      res.writeHead(503, { 'retry-after': '0' }).end('down for maintenance');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    try {
      const r = await relay(['verify-terraform-registry', '--registry-url', url, '--namespace', 'acme', '--name', 'demo', '--json']);
      expect(r.code).toBe(3);
      expect(hits).toBeGreaterThan(1);
      expect(
        r.stderr
          .trim()
          .split('\n')
          .filter((l) => l.startsWith('error:')),
      ).toHaveLength(1);
      expect(JSON.parse(r.stdout)).toMatchObject({ status: 'failed', exitCode: 3, error: { kind: 'remote' } });
    } finally {
      server.close();
    }
  }, 60_000);
});

describe('--json', () => {
  test('one document: typed outputs, the plan with results; on refusal {error: {kind, message}}', async () => {
    const dir = await tmpDir();
    const key = secretKey(await rsaKey());
    const tarballs = await release(dir, '1.0.0');
    const store = path.join(dir, 'reg');
    const env = { RELAY_SIGNING_KEY: key };
    const dry = await relay([...publishArgs(store, tarballs, '1.0.0'), '--dry-run', '--json'], env);
    expect(dry.code).toBe(0);
    const d = JSON.parse(dry.stdout);
    expect(Object.keys(d).sort()).toEqual(['exitCode', 'inputs', 'operation', 'outputs', 'plan', 'status']);
    // Where each input came from, with the value of every non-secret one (what relay replay runs again).
    expect(d.inputs).toMatchObject({ version: { from: 'flag', value: '1.0.0' }, 'dry-run': { from: 'flag', value: true } });
    expect(d.inputs['signing-key']).toEqual({ from: 'RELAY_SIGNING_KEY' });
    expect(d).toMatchObject({ operation: 'publish-terraform-registry', status: 'dry-run', exitCode: 0 });
    expect(typeof d.outputs.hashes).toBe('object');
    expect(d.outputs.hashes.linux_amd64).toEqual([expect.stringMatching(/^h1:/), expect.stringMatching(/^zh:[0-9a-f]{64}$/)]);
    expect(d.outputs['lock-hashes']).toHaveLength(7); // h1 per platform, zh per SHA256SUMS line (the manifest's too)
    expect(d.plan.length).toBeGreaterThan(5);
    for (const row of d.plan) {
      expect(row).toEqual({
        object: expect.any(String),
        action: 'put',
        why: expect.any(String),
        ...(row.bytes !== undefined && { bytes: expect.any(Number) }),
        // what the plan hash binds: the bytes to write (or, for the signature, the signer), and the store as judged
        ...(row.signs ? { signs: { fingerprint: expect.stringMatching(/^[0-9A-F]{40}$/), over: expect.stringMatching(/^sha256:/) } } : {}),
        ...(row.digest !== undefined && { digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) }),
        observed: 'absent',
      });
    }
    await expect(fs.stat(store)).rejects.toThrow(); // a dry run writes nothing

    const done = JSON.parse((await relay([...publishArgs(store, tarballs, '1.0.0'), '--json'], env)).stdout);
    expect(done.status).toBe('done');
    expect(done.plan.every((r: { result?: string }) => r.result === 'written')).toBe(true);
    const again = JSON.parse((await relay([...publishArgs(store, tarballs, '1.0.0'), '--json'], env)).stdout);
    expect(again.status).toBe('no-op');
    expect(again.plan.every((r: { action: string; result?: string }) => r.action === 'skip' && r.result === 'unchanged')).toBe(true);

    const other = await release(path.join(dir, 'other'), '1.0.0');
    const conflict = await relay([...publishArgs(store, other, '1.0.0'), '--json'], env);
    expect(conflict.code).toBe(1);
    const c = JSON.parse(conflict.stdout);
    expect(c).toMatchObject({ status: 'refused', exitCode: 1, outputs: {}, error: { kind: 'conflict', message: expect.any(String) } });
    expect(c.plan.some((r: { action: string }) => r.action === 'conflict')).toBe(true);
    // the error never carries the key
    expect(conflict.stdout + conflict.stderr).not.toContain(key.split('\n')[3]);
  }, 60_000);
});

describe('cancellation', () => {
  test('SIGINT mid-publish exits 130 and leaves a registry that verifies; a re-run completes', async () => {
    const dir = await tmpDir();
    const key = secretKey(await rsaKey());
    const store = path.join(dir, 'reg');
    const env = { PATH: process.env.PATH ?? '', RELAY_SIGNING_KEY: key };
    expect((await relay(publishArgs(store, await release(dir, '1.0.0'), '1.0.0'), env)).code).toBe(0);
    // big enough archives that SIGINT lands while work remains
    const tarballs = await release(dir, '2.0.0', 12 << 20);
    const child = spawn(process.execPath, [CLI, ...publishArgs(store, tarballs, '2.0.0')], { env, cwd: ROOT });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      if (!sent && /▸ Building/.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((r) => child.on('close', r));
    captured(stderr);
    expect(code).toBe(130);
    expect(stderr).toMatch(/cancelled by SIGINT/);
    const versions = JSON.parse(await fs.readFile(path.join(store, 'registry/acme/demo/versions'), 'utf8'));
    expect(versions.versions.map((v: { version: string }) => v.version)).toEqual(['1.0.0']);
    const verify = ['verify-terraform-registry', '--registry-url', 'https://registry.example.com', '--namespace', 'acme', '--name', 'demo'];
    const v = await relay([...verify, '--store', `file://${store}`], env);
    expect([v.code, v.stderr]).toEqual([0, expect.stringContaining('verified')]);
    expect((await relay(publishArgs(store, tarballs, '2.0.0'), env)).code).toBe(0);
    expect((await relay([...verify, '--store', `file://${store}`, '--version', '2.0.0'], env)).code).toBe(0);
  }, 120_000);
});
