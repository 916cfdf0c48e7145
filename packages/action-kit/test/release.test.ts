import { beforeEach, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../../../', import.meta.url).pathname;

// scripts/release in a throwaway repository shaped like Relay's (--skip-checks: no bundle to build there).
let repo: string;
const sh = (cmd: string, args: string[]): { code: number | null; out: string } => {
  const r = spawnSync(cmd, args, {
    cwd: repo,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@example.com',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@example.com',
    },
  });
  return { code: r.status, out: r.stdout + r.stderr };
};
const release = (...args: string[]) => sh('bash', ['scripts/release', ...args, '--skip-checks']);
const read = (f: string): string => readFileSync(join(repo, f), 'utf8');

beforeEach(() => {
  repo = mkdtempSync(join(tmpdir(), 'relay-release-'));
  for (const d of ['scripts', 'packages/core/src', 'packages/cli']) mkdirSync(join(repo, d), { recursive: true });
  copyFileSync(join(root, 'scripts/release'), join(repo, 'scripts/release'));
  writeFileSync(join(repo, 'package.json'), '{\n  "name": "relay",\n  "private": true\n}\n');
  writeFileSync(join(repo, 'packages/core/package.json'), '{\n  "name": "@relay/core",\n  "version": "0.1.0"\n}\n');
  writeFileSync(join(repo, 'packages/cli/package.json'), '{\n  "name": "@relay/cli",\n  "version": "0.1.0"\n}\n');
  writeFileSync(join(repo, 'packages/core/src/version.ts'), "/** doc */\nexport const VERSION = '0.1.0';\n");
  writeFileSync(join(repo, 'CHANGELOG.md'), '# Changelog\n\n## Unreleased\n\n## v0.1.0\n\n- first\n');
  sh('git', ['init', '-q', '-b', 'main']);
  sh('git', ['add', '-A']);
  sh('git', ['commit', '-q', '-m', 'start']);
});

describe('scripts/release', () => {
  test('the first release: the version is already in the files, its CHANGELOG heading gets the date; v0.1.0 tagged, v0 left to the release workflow', () => {
    const r = release('0.1.0');
    expect(r.code).toBe(0);
    expect(r.out).toContain('git push origin HEAD v0.1.0\n');
    expect(r.out).toContain('creates the GitHub release and moves v0');
    expect(read('CHANGELOG.md')).toMatch(/^## v0\.1\.0 \(\d{4}-\d{2}-\d{2}\)$/m);
    expect(sh('git', ['rev-parse', 'v0.1.0^{commit}']).out).toBe(sh('git', ['rev-parse', 'HEAD']).out);
    // the major tag moves only once the release workflow has built, attested and published the release
    expect(sh('git', ['tag']).out).toBe('v0.1.0\n');
    expect(sh('git', ['status', '--porcelain']).out).toBe('');
  });

  test('a next release: versions bumped everywhere, Unreleased notes moved under it, v0.1.0 stays', () => {
    expect(release('0.1.0').code).toBe(0);
    const first = sh('git', ['rev-parse', 'v0.1.0^{commit}']).out;
    writeFileSync(join(repo, 'CHANGELOG.md'), read('CHANGELOG.md').replace('## Unreleased\n', '## Unreleased\n\n- a fix\n'));
    sh('git', ['commit', '-qam', 'notes']);
    const r = release('v0.2.0');
    expect(r.code).toBe(0);
    expect(read('packages/core/src/version.ts')).toBe("/** doc */\nexport const VERSION = '0.2.0';\n");
    expect(JSON.parse(read('packages/core/package.json')).version).toBe('0.2.0');
    expect(JSON.parse(read('packages/cli/package.json')).version).toBe('0.2.0');
    expect(JSON.parse(read('package.json')).version).toBeUndefined(); // no version field, none added
    expect(read('CHANGELOG.md')).toMatch(/## Unreleased\n\n## v0\.2\.0 \(\d{4}-\d{2}-\d{2}\)\n\n- a fix\n\n## v0\.1\.0 \(/);
    expect(sh('git', ['rev-parse', 'v0.2.0^{commit}']).out).toBe(sh('git', ['rev-parse', 'HEAD']).out);
    expect(sh('git', ['rev-parse', 'v0.1.0^{commit}']).out).toBe(first);
    expect(sh('git', ['log', '-1', '--format=%s']).out.trim()).toBe('Release v0.2.0');
  });

  test('--dry-run changes nothing and says what it would do', () => {
    writeFileSync(join(repo, 'CHANGELOG.md'), read('CHANGELOG.md').replace('## Unreleased\n', '## Unreleased\n\n- a fix\n'));
    sh('git', ['commit', '-qam', 'notes']);
    const head = sh('git', ['rev-parse', 'HEAD']).out;
    const r = release('0.2.0', '--dry-run');
    expect(r.code).toBe(0);
    expect(r.out).toContain('would set version 0.1.0 -> 0.2.0 in: packages/core/src/version.ts CHANGELOG.md packages/cli/package.json');
    expect(r.out).toContain("would move the '## Unreleased' notes under '## v0.2.0");
    expect(r.out).toContain('would run: git tag -a v0.2.0 -m Relay v0.2.0');
    expect(r.out).not.toContain('git tag -f');
    expect(sh('git', ['rev-parse', 'HEAD']).out).toBe(head);
    expect(sh('git', ['tag']).out).toBe('');
    expect(sh('git', ['status', '--porcelain']).out).toBe('');
  });

  test('refuses a dirty tree, an existing tag, an older version, a bad version, and a release without notes', () => {
    writeFileSync(join(repo, 'stray'), 'x');
    expect(release('0.2.0')).toMatchObject({ code: 1, out: expect.stringContaining('the working tree has changes') });
    sh('git', ['add', '-A']);
    sh('git', ['commit', '-qm', 'stray']);
    sh('git', ['tag', 'v0.2.0']);
    expect(release('0.2.0')).toMatchObject({ code: 1, out: expect.stringContaining('tag v0.2.0 exists already') });
    expect(release('0.0.9')).toMatchObject({ code: 1, out: expect.stringContaining('older than the current 0.1.0') });
    expect(release('1.2')).toMatchObject({ code: 1, out: expect.stringContaining("version '1.2' is not X.Y.Z") });
    expect(release('0.3.0')).toMatchObject({ code: 1, out: expect.stringContaining("no notes under '## Unreleased'") });
    expect(release('0.3.0', '--nope').code).toBe(2);
  });
});

describe('release notes (scripts/release-notes.mjs, the GitHub release body)', () => {
  const CHANGELOG =
    '# Changelog\n\n## Unreleased\n\n- next\n\n## v0.2.0 (2026-12-01)\n\n- a fix\n- a feature\n\n## v0.1.0 (2026-11-01)\n\n- first\n';
  test("the section under the tag's heading, up to the next heading", async () => {
    const { releaseNotes } = (await import(join(root, 'scripts/release-notes.mjs'))) as { releaseNotes: (c: string, t: string) => string };
    expect(releaseNotes(CHANGELOG, 'v0.2.0')).toBe('- a fix\n- a feature\n');
    expect(releaseNotes(CHANGELOG, 'v0.1.0')).toBe('- first\n');
    expect(() => releaseNotes(CHANGELOG, 'v0.3.0')).toThrow("CHANGELOG.md has no '## v0.3.0' heading");
    expect(() => releaseNotes(CHANGELOG.replace('- first\n', ''), 'v0.1.0')).toThrow("the '## v0.1.0' section of CHANGELOG.md is empty");
    expect(() => releaseNotes(CHANGELOG, '0.2.0')).toThrow("'0.2.0' is not a tag vX.Y.Z");
  });
  test('run as the release workflow runs it: notes on stdout, exit 1 with one line when there are none', () => {
    const dir = mkdtempSync(join(tmpdir(), 'relay-notes-'));
    writeFileSync(join(dir, 'CHANGELOG.md'), CHANGELOG);
    const ok = spawnSync(process.execPath, [join(root, 'scripts/release-notes.mjs'), 'v0.2.0', join(dir, 'CHANGELOG.md')], {
      encoding: 'utf8',
    });
    expect([ok.status, ok.stdout]).toEqual([0, '- a fix\n- a feature\n']);
    const bad = spawnSync(process.execPath, [join(root, 'scripts/release-notes.mjs'), 'v9.9.9', join(dir, 'CHANGELOG.md')], {
      encoding: 'utf8',
    });
    expect([bad.status, bad.stderr]).toEqual([1, "release notes: CHANGELOG.md has no '## v9.9.9' heading\n"]);
  });
});
