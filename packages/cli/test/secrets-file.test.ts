// --secrets-file: the runbook's way of handing secrets over (`sops -d secrets.yaml | relay ... --secrets-file -`).
// The parser itself, then the committed bundle with a sops-shaped YAML on standard input: nothing of it may
// appear in any output, a key that is not an input is refused, and flags > file > RELAY_* variables.
import { describe, expect, jest, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { mirrorArtifact, publishTerraformRegistry } from '@relay/core';
import { captured, secret, secretKey } from '../../../test/support/leaks.js';
import { providerTarball, rsaKey, tmpDir } from '../../core/test/fixtures.js';
import { UsageError } from '../src/args.js';
import { extractSecretsFlag, parseDotenv, parseSecretsText, secretsToInputs } from '../src/secrets-file.js';

// Waits on processes and the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(60_000);

const ROOT = path.resolve(new URL('../../..', import.meta.url).pathname);
const CLI = path.join(ROOT, 'dist/cli.js');

/** Runs the bundle with `input` on standard input. */
function relay(
  args: string[],
  input: string | undefined,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      captured(stdout, stderr);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

const spec = publishTerraformRegistry.spec;
const fail = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error('did not throw');
};

describe('parsing', () => {
  test('the flag: --secrets-file X, --secrets-file=X, - for stdin; once', () => {
    expect(extractSecretsFlag(['--a', 'b', '--secrets-file', '-', '--json'])).toEqual({ argv: ['--a', 'b', '--json'], source: '-' });
    expect(extractSecretsFlag(['--secrets-file=s.env'])).toEqual({ argv: [], source: 's.env' });
    expect(extractSecretsFlag(['x'])).toEqual({ argv: ['x'] });
    expect(fail(() => extractSecretsFlag(['--secrets-file']))).toBe('flag --secrets-file needs a path, or - for standard input');
    expect(fail(() => extractSecretsFlag(['--secrets-file', '--json']))).toBe('flag --secrets-file needs a path, or - for standard input');
    expect(fail(() => extractSecretsFlag(['--secrets-file=a', '--secrets-file', 'b']))).toBe('flag --secrets-file given twice');
  });

  test('dotenv: export, quotes, escapes, multi-line double quotes, comments; sops_* ignored', () => {
    const text = [
      '# a comment',
      'export RELAY_SIGNING_KEY_PASSPHRASE="pa ss\\"word\\n2" # trailing comment',
      "namespace = 'acme # not a comment'",
      'name=demo # a comment',
      'version=1.2.3#no-space-so-kept',
      'signing-key="-----BEGIN PGP PRIVATE KEY BLOCK-----',
      '',
      'abc',
      '-----END PGP PRIVATE KEY BLOCK-----"',
      'empty=',
      'sops_version=3.9.4',
      'sops_mac=ENC[AES256_GCM,data:x,type:str]',
      '',
    ].join('\r\n');
    expect(Object.fromEntries(parseDotenv(text, 'f'))).toEqual({
      RELAY_SIGNING_KEY_PASSPHRASE: 'pa ss"word\n2',
      namespace: 'acme # not a comment',
      name: 'demo',
      version: '1.2.3#no-space-so-kept',
      'signing-key': '-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nabc\n-----END PGP PRIVATE KEY BLOCK-----',
      empty: '',
    });
    expect(fail(() => parseDotenv('a=1\nnot a line', 'f'))).toBe('f line 2: expected KEY=value');
    expect(fail(() => parseDotenv('a="open', 'f'))).toBe('f line 1: a: unterminated double-quoted value');
    expect(fail(() => parseDotenv("a='x' y", 'f'))).toBe('f line 1: a: text after the closing quote');
    expect(fail(() => parseDotenv('a=1\na=2', 'f'))).toBe('f line 2: a is set twice');
  });

  test('YAML and JSON maps: strings, numbers, booleans, lists; the sops key ignored; anything else refused without its value', () => {
    const yaml = 'signing-key: |\n  line one\n  line two\nimmutable: false\ntarballs:\n  - a.tar.gz\n  - b.tar.gz\nsops:\n  mac: ENC[x]\n';
    expect(Object.fromEntries(parseSecretsText(yaml, 'f'))).toEqual({
      'signing-key': 'line one\nline two\n',
      immutable: 'false',
      tarballs: 'a.tar.gz\nb.tar.gz',
    });
    expect(Object.fromEntries(parseSecretsText('{"RELAY_NAME": "demo", "sops": {"version": "3"}}', 'f'))).toEqual({ RELAY_NAME: 'demo' });
    expect(parseSecretsText('\n# nothing\n', 'f').size).toBe(0);
    expect(fail(() => parseSecretsText('signing-key: {nested: s3cr3t-value}', 'f'))).toBe(
      "f: 'signing-key' must be a string (or a list of strings)",
    );
    expect(fail(() => parseSecretsText('- a\n- b', 'f'))).toBe('f: expected a map of input names to values');
    const bad = fail(() => parseSecretsText('signing-key: "s3cr3t-unclosed\n', 'f'));
    expect(bad).toMatch(/^f: not a YAML, JSON or dotenv map \(/);
    expect(bad).not.toContain('s3cr3t');
    expect(fail(() => parseSecretsText('a: 1\na: 2\n', 'f'))).toMatch(/^f: not a YAML, JSON or dotenv map \(DUPLICATE_KEY/);
  });

  test('YAML values are the text written: 0123 stays 0123, yes stays yes; a key with nothing (or ~, null unquoted) is not set', () => {
    const yaml = 'signing-key-passphrase: 0123\nimmutable: yes\nname: 1.10\ntarballs: [01, 1e3]\nnamespace:\nversion: ~\nstore: "null"\n';
    expect(Object.fromEntries(parseSecretsText(yaml, 'f'))).toEqual({
      'signing-key-passphrase': '0123',
      immutable: 'yes',
      name: '1.10',
      tarballs: '01\n1e3',
      store: 'null',
    });
    expect(Object.fromEntries(parseSecretsText('{"signing-key-passphrase": 0123e0, "x": null}', 'f'))).toEqual({
      'signing-key-passphrase': '0123e0',
    });
  });

  test('a YAML alias bomb is refused as a usage error (exit 2) naming the file, in well under a second', () => {
    // Nine levels of nine aliases each: 9^9 values if expanded.
    const levels = [
      'a0: &a0 ["lol"]',
      ...Array.from({ length: 9 }, (_, i) => `a${i + 1}: &a${i + 1} [${Array(9).fill(`*a${i}`).join(', ')}]`),
    ];
    const t0 = Date.now();
    const msg = fail(() => parseSecretsText(levels.join('\n') + '\n', 'secrets.yaml'));
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(msg).toMatch(/^secrets\.yaml: .*alias.* \(aliases may expand to at most 100 values\)$/i);
  });

  test('keys are input names or RELAY_* names; every value masked first (not booleans and choices); others refused by key only', () => {
    const masked: string[] = [];
    const sorted = secretsToInputs(
      spec,
      new Map([
        ['signing-key', 'KEYTEXT'],
        ['RELAY_SIGNING_KEY_PASSPHRASE', 'pw'],
        ['immutable', 'false'],
        ['detect-protocols', 'static'],
      ]),
      (v) => masked.push(v),
      'f',
    );
    expect(sorted).toEqual({
      inputs: { 'signing-key': 'KEYTEXT', 'signing-key-passphrase': 'pw', immutable: 'false', 'detect-protocols': 'static' },
      variables: {},
      named: [],
    });
    expect(masked).toEqual(['KEYTEXT', 'pw']);
    const seen: string[] = [];
    const msg = fail(() =>
      secretsToInputs(
        spec,
        new Map([
          ['signing-key', 'k'],
          ['DOCKERHUB_TOKEN', 'dckr_pat_s3cr3t'],
        ]),
        (v) => seen.push(v),
        'f',
      ),
    );
    expect(msg).toBe(
      "f: 'DOCKERHUB_TOKEN' is not an input of publish-terraform-registry (its input names, e.g. namespace, or their RELAY_* variables), nor a variable Relay reads (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, AWS_DEFAULT_REGION, GITHUB_TOKEN)",
    );
    expect(seen).toContain('dckr_pat_s3cr3t'); // masked before the refusal
  });

  test('variables Relay reads are set for the run, masked (not the region); a mirror run holds the others for its mirror file', () => {
    const masked: string[] = [];
    const aws = new Map([
      ['signing-key', 'k'],
      ['AWS_ACCESS_KEY_ID', 'AKIAEXAMPLE'],
      ['AWS_SECRET_ACCESS_KEY', 'wJalrXUtn'],
      ['AWS_SESSION_TOKEN', 'FwoGZX'],
      ['AWS_REGION', 'eu-west-1'],
      ['GITHUB_TOKEN', 'ghp_x'],
    ]);
    expect(secretsToInputs(spec, aws, (v) => masked.push(v), 'f')).toEqual({
      inputs: { 'signing-key': 'k' },
      variables: {
        AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
        AWS_SECRET_ACCESS_KEY: 'wJalrXUtn',
        AWS_SESSION_TOKEN: 'FwoGZX',
        AWS_REGION: 'eu-west-1',
        GITHUB_TOKEN: 'ghp_x',
      },
      named: [],
    });
    expect(masked).toEqual(['k', 'AKIAEXAMPLE', 'wJalrXUtn', 'FwoGZX', 'ghp_x']);
    const mirror = mirrorArtifact.spec;
    expect(
      secretsToInputs(
        mirror,
        new Map([
          ['DOCKERHUB_TOKEN', 't'],
          ['AWS_REGION', 'us-east-1'],
        ]),
        () => {},
        'f',
      ),
    ).toEqual({
      inputs: {},
      variables: { DOCKERHUB_TOKEN: 't', AWS_REGION: 'us-east-1' },
      named: ['DOCKERHUB_TOKEN'],
    });
    // Names that change how programs run are never taken, whatever a mirror file could name.
    for (const key of ['PATH', 'NODE_OPTIONS', 'GITHUB_ENV', 'RUNNER_TEMP', 'AWS_CONFIG_FILE', 'HTTPS_PROXY', 'RELAY_DEBUG'])
      expect(fail(() => secretsToInputs(mirror, new Map([[key, 'x']]), () => {}, 'f'))).toMatch(
        new RegExp(`^f: '${key}' is not an input of mirror-artifact`),
      );
  });

  test('an input set twice, and a value sops left encrypted, are refused', () => {
    expect(
      fail(() =>
        secretsToInputs(
          spec,
          new Map([
            ['name', 'a'],
            ['RELAY_NAME', 'b'],
          ]),
          () => {},
          'f',
        ),
      ),
    ).toBe("f: 'RELAY_NAME' sets name, which the file already sets");
    expect(fail(() => secretsToInputs(spec, new Map([['signing-key', 'ENC[AES256_GCM,data:Zm9v,iv:YQ==,type:str]']]), () => {}, 'f'))).toBe(
      "f: 'signing-key' is still encrypted by sops (ENC[...]): decrypt it first (sops -d)",
    );
  });
});

describe('through the bundle', () => {
  async function release(dir: string): Promise<string[]> {
    await fs.mkdir(path.join(dir, 'tgz'), { recursive: true });
    return Promise.all(
      (['linux', 'darwin'] as const).map((os) =>
        providerTarball(path.join(dir, 'tgz'), 'demo', '1.0.0', os, 'amd64', randomBytes(64).toString('base64')),
      ),
    );
  }
  const args = (dir: string, tarballs: string[], more: string[] = []): string[] => [
    'publish-terraform-registry',
    '--namespace',
    'acme',
    '--name',
    'demo',
    '--version',
    '1.0.0',
    '--store',
    `file://${dir}/reg`,
    '--protocols',
    '6.0',
    '--detect-protocols',
    'off',
    ...tarballs.flatMap((t) => ['--tarballs', t]),
    ...more,
  ];

  test('sops -d secrets.yaml | relay publish-terraform-registry --secrets-file -: published, and nothing of the file in any output', async () => {
    const dir = await tmpDir();
    const tarballs = await release(dir);
    const passphrase = secret(`pp-${randomBytes(12).toString('hex')}`);
    const key = secretKey(await rsaKey({ passphrase }));
    const mac = secret(`ENC[AES256_GCM,data:${randomBytes(24).toString('base64')},iv:${randomBytes(12).toString('base64')},type:str]`);
    const ageBody = secret(randomBytes(48).toString('base64'));
    const yaml = [
      'signing-key: |',
      ...key
        .trim()
        .split('\n')
        .map((l) => `    ${l}`),
      `RELAY_SIGNING_KEY_PASSPHRASE: ${passphrase}`,
      'sops:',
      '    kms: []',
      '    age:',
      '        - recipient: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p',
      '          enc: |',
      '            -----BEGIN AGE ENCRYPTED FILE-----',
      `            ${ageBody}`,
      '            -----END AGE ENCRYPTED FILE-----',
      '    lastmodified: "2026-05-01T10:00:00Z"',
      `    mac: ${mac}`,
      '    unencrypted_suffix: _unencrypted',
      '    version: 3.9.4',
      '',
    ].join('\n');
    for (const extra of [['--json'], ['--debug']]) {
      const out = await tmpDir();
      const r = await relay(args(out, tarballs, ['--registry-url', 'https://registry.example.com', '--secrets-file', '-', ...extra]), yaml);
      expect(r.stderr).not.toMatch(/^error/m);
      expect(r.code).toBe(0);
      const all = r.stdout + r.stderr;
      for (const s of [passphrase, mac, ageBody, ...key.split('\n').filter((l) => l.length >= 40 && !l.startsWith('-----'))])
        expect(all).not.toContain(s);
      expect(all).not.toContain('age1ql3z7hjy'); // the sops metadata is ignored, never echoed
      // The key was a flag's worth: no warning about secrets on the command line.
      expect(all).not.toContain('visible to other users');
      if (extra[0] === '--json') expect(JSON.parse(r.stdout)).toMatchObject({ status: 'done', outputs: { version: '1.0.0' } });
      await fs.access(path.join(out, 'reg', 'registry/acme/demo/versions'));
    }
  }, 120_000);

  test('a key that is not an input: usage error, exit 2, one line naming the key, nothing of the value', async () => {
    const dir = await tmpDir();
    const tarballs = await release(dir);
    const value = secret('dckr_pat_K7MDENGbPxRfiCYSECRET');
    const r = await relay(
      args(dir, tarballs, ['--registry-url', 'https://r.example.com', '--secrets-file', '-']),
      `signing-key: x\nDOCKERHUB_TOKEN: ${value}\n`,
    );
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      "error: --secrets-file -: 'DOCKERHUB_TOKEN' is not an input of publish-terraform-registry (its input names, e.g. namespace, or their RELAY_* variables), nor a variable Relay reads (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, AWS_DEFAULT_REGION, GITHUB_TOKEN)",
    ]);
    expect(r.stdout + r.stderr).not.toContain(value);
    await expect(fs.access(path.join(dir, 'reg'))).rejects.toThrow();
  });

  test('precedence: a flag over the file, the file over RELAY_* variables; a dotenv file by path, JSON on stdin', async () => {
    const dir = await tmpDir();
    const tarballs = await release(dir);
    const key = secretKey(await rsaKey());
    const envFile = path.join(dir, 'secrets.env');
    await fs.writeFile(envFile, `RELAY_SIGNING_KEY="${key.trim().replace(/\n/g, '\\n')}"\nregistry-url=https://from-file.example.com\n`);
    const env = { RELAY_REGISTRY_URL: 'https://from-env.example.com' };
    const provider = async (more: string[], input?: string): Promise<unknown> => {
      const r = await relay(args(dir, tarballs, ['--dry-run', '--json', ...more]), input, env);
      expect(r.stderr).not.toMatch(/^error/m);
      return JSON.parse(r.stdout).outputs.provider;
    };
    expect(await provider(['--secrets-file', envFile, '--registry-url', 'https://from-flag.example.com'])).toBe(
      'from-flag.example.com/acme/demo',
    );
    // The file's value is masked like every value in it; the host alone is not that value.
    expect(await provider([`--secrets-file=${envFile}`])).toBe('from-file.example.com/acme/demo');
    expect(await provider(['--secrets-file', '-'], JSON.stringify({ 'signing-key': key }))).toBe('from-env.example.com/acme/demo');
    const r = await relay(
      args(dir, tarballs, ['--dry-run', '--secrets-file', '-']),
      `signing-key: "ENC[AES256_GCM,data:Zm9v,iv:YQ==,tag:dA==,type:str]"\n`,
      env,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("error: --secrets-file -: 'signing-key' is still encrypted by sops (ENC[...]): decrypt it first (sops -d)\n");
  }, 60_000);

  test('--help documents the flag and the order', async () => {
    const r = await relay(['publish-terraform-registry', '--help'], undefined);
    expect(r.stdout).toContain('--secrets-file <path|->');
    expect(r.stdout).toContain(
      'Where an input comes from, first found: its flag, then --secrets-file, then its RELAY_* variable, then the',
    );
    expect(r.stdout).toContain('--release-file <file> --environment <name>');
  });
});
