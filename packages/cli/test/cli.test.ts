// What a new user meets first, through the committed bundle: --version,
// did-you-mean, completion scripts, --quiet, and a demo that never deletes
// what it did not create.
import { describe, expect, jest, test } from '@jest/globals';
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { captured } from '../../../test/support/leaks.js';
import { OPERATIONS, VERSION } from '@relay/core';
import { didYouMean } from '../src/suggest.js';

// Waits on processes and the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(60_000);

const run = promisify(execFile);
const ROOT = path.resolve(new URL('../../..', import.meta.url).pathname);
const CLI = path.join(ROOT, 'dist/cli.js');

async function relay(
  args: string[],
  cwd = ROOT,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, [CLI, ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...env } }).then(
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

describe('basics', () => {
  test('--version and version print the package version', async () => {
    const pkg = JSON.parse(await fs.readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version?: string };
    const core = JSON.parse(await fs.readFile(path.join(ROOT, 'packages/core/package.json'), 'utf8')) as { version: string };
    expect(VERSION).toBe(pkg.version ?? core.version);
    // the commit too, read from this checkout's .git (a distribution carries its build's), and the runtime
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    for (const a of ['--version', 'version'])
      expect(await relay([a])).toMatchObject({
        code: 0,
        stdout: `relay ${VERSION} (commit ${head.slice(0, 12)}; node ${process.version} ${process.platform}-${process.arch})\n`,
      });
  });

  test.each([
    ['publsh-terraform-registry', 'publish-terraform-registry'],
    ['copy-imgae', 'copy-image'],
    ['verify', 'verify-terraform-registry'],
    ['xyzzy', undefined],
  ])('did you mean: %s', (given, want) => {
    expect(
      didYouMean(
        given,
        OPERATIONS.map((o) => o.spec.name),
      ),
    ).toBe(want);
  });

  test('a mistyped command or flag: usage error on stderr with a suggestion, exit 2', async () => {
    const cmd = await relay(['copy-imgae']);
    expect(cmd).toMatchObject({ code: 2, stdout: '' });
    expect(cmd.stderr).toBe("error: unknown command 'copy-imgae'; did you mean 'copy-image'?; run 'relay --help' for the list\n");
    const flag = await relay(['copy-image', 'a', 'b', '--dryrun']);
    expect(flag).toMatchObject({ code: 2, stdout: '' });
    expect(flag.stderr).toBe('error: unknown flag --dryrun for copy-image (did you mean --dry-run?); see copy-image --help\n');
  });

  test('a bad boolean value is reported as such', async () => {
    const spaced = await relay(['copy-image', 'a', 'b', '--dry-run', 'maybe']);
    expect(spaced).toMatchObject({ code: 2, stderr: "error: flag --dry-run takes true or false (or nothing), got 'maybe'\n" });
    const eq = await relay(['copy-image', 'a', 'b', '--dry-run=maybe']);
    expect(eq).toMatchObject({ code: 1, stderr: `error: input 'dry-run': expected true or false, got "maybe"\n` });
  });
});

describe('completion', () => {
  test.each(['bash', 'zsh', 'fish'])('%s: every command and every input flag', async (shell) => {
    const r = await relay(['completion', shell]);
    expect(r.code).toBe(0);
    for (const op of OPERATIONS) {
      expect(r.stdout).toContain(op.spec.name);
      for (const input of Object.keys(op.spec.inputs))
        expect(r.stdout).toMatch(new RegExp(shell === 'fish' ? `-l ${input}\\b` : `--${input}\\b`));
    }
    expect(r.stdout).toContain('demo');
  });

  test('the bash script parses and completes', async () => {
    const script = (await relay(['completion', 'bash'])).stdout;
    const probe = `${script}\nCOMP_WORDS=(relay copy-image --dry); COMP_CWORD=2; _relay; echo "\${COMPREPLY[@]}"\nCOMP_WORDS=(relay pub); COMP_CWORD=1; _relay; echo "\${COMPREPLY[@]}"`;
    const { stdout } = await run('bash', ['-c', probe]);
    expect(stdout.split('\n').slice(0, 2)).toEqual(['--dry-run', 'publish-terraform-registry']);
  });

  test('bash completes the values of a flag with a fixed set: choices, and true/false for a boolean', async () => {
    const script = (await relay(['completion', 'bash'])).stdout;
    const probe = [
      script,
      'COMP_WORDS=(relay promote-ecr-image --max-severity hi); COMP_CWORD=3; _relay; echo "${COMPREPLY[@]}"',
      'COMP_WORDS=(relay copy-image --dry-run ""); COMP_CWORD=3; _relay; echo "${COMPREPLY[@]}"',
      'COMP_WORDS=(relay iam-policy ""); COMP_CWORD=2; _relay; echo "${COMPREPLY[@]}" | tr " " "\\n" | grep -c -- "^--"',
    ].join('\n');
    const { stdout } = await run('bash', ['-c', probe]);
    const [severity, bool, flags] = stdout.split('\n');
    expect(severity).toBe('high');
    expect(bool).toBe('true false');
    expect(Number(flags)).toBeGreaterThan(5);
  });

  test('an unknown shell is a usage error', async () => {
    expect(await relay(['completion', 'tcsh'])).toMatchObject({
      code: 2,
      stderr: "error: completion takes one of bash, zsh, fish, got 'tcsh'\n",
    });
  });
});

describe("a user's first hour", () => {
  test('every missing required input is named in one line, not one per run', async () => {
    const r = await relay(['publish-terraform-registry', '--store', 'file:///tmp/x']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^error: inputs 'namespace', 'name', 'registry-url': expected a value for each \(flag --namespace or RELAY_NAMESPACE; /,
      ),
    ]);
  });

  test('--quiet prints no report: warnings and errors only, the exit code says how it ended', async () => {
    const cwd = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-quiet-'));
    const args = ['iam-policy', 'publish-terraform-registry', '--store', 's3://acme-registry'];
    const loud = await relay(args, cwd);
    expect(loud.stdout).toContain('s3:PutObject');
    expect(await relay([...args, '--quiet'], cwd)).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(JSON.parse((await relay([...args, '--quiet', '--json'], cwd)).stdout)).toMatchObject({ status: 'done' });
  });
});

describe('demo', () => {
  test('--help prints its inputs and runs nothing', async () => {
    const cwd = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-demo-'));
    const r = await relay(['demo', '--help'], cwd);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--dir <value>');
    expect(await fs.readdir(cwd)).toEqual([]);
  });

  test('--dir on a directory holding other files is refused and left intact; its own directory is reused', async () => {
    const cwd = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-demo-'));
    const precious = path.join(cwd, 'work');
    await fs.mkdir(precious);
    await fs.writeFile(path.join(precious, 'notes.txt'), 'keep me');
    const r = await relay(['demo', '--dir', 'work'], cwd);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      `error: input 'dir': expected a new or empty directory, or one an earlier demo made (it holds notes.txt; nothing was removed), got "work"`,
    ]);
    expect(await fs.readdir(precious)).toEqual(['notes.txt']);

    const first = await relay(['demo', '--dir', 'mine', '--quiet'], cwd);
    expect(first.code).toBe(0);
    expect(first.stderr).toBe('');
    const again = await relay(['demo', '--dir', 'mine'], cwd);
    expect(again.code).toBe(0);
    expect((await fs.readdir(path.join(cwd, 'mine'))).sort()).toEqual(['.relay-demo', 'dist', 'registry', 'terraform.rc']);
  }, 60_000);
});
