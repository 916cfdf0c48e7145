import { beforeAll, describe, expect, jest, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { expandPatterns } from '../../src/files/glob.js';
import { tmpDir } from '../fixtures.js';

// Waits on the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(30_000);

let root: string;
const rel = (files: string[]): string[] => files.map((f) => path.relative(root, f)).sort();

beforeAll(async () => {
  root = await tmpDir('relay-glob-');
  const files = [
    'a.tar.gz',
    'b.zip',
    '.hidden.tar.gz',
    'sub/c.tar.gz',
    'sub/deep/d.tar.gz',
    'sub/.dot/e.tar.gz',
    'other/f.tar.gz',
    'README.md',
    'sub/notes.md',
    // Names holding glob characters, as build tools and downloads make them.
    'build (1)/p.tar.gz',
    'build (1)/q.zip',
    'out/{v1}/r.tar.gz',
    'out/[x]/s.tar.gz',
    'lit/app (1).tar.gz',
    'lit/app-[2].tar.gz',
    'star/*/t.tar.gz',
    'star/other/u.tar.gz',
  ];
  for (const f of files) {
    await fsp.mkdir(path.join(root, path.dirname(f)), { recursive: true });
    await fsp.writeFile(path.join(root, f), f);
  }
  await fsp.mkdir(path.join(root, 'store'));
  await fsp.writeFile(path.join(root, 'store', 'real.tar.gz'), 'real');
  await fsp.symlink(path.join(root, 'store', 'real.tar.gz'), path.join(root, 'linked.tar.gz'));
  await fsp.symlink(path.join(root, 'store'), path.join(root, 'linkdir'));
});

describe('expandPatterns', () => {
  test.each([
    [
      '** matches the top level too',
      ['**/*.tar.gz'],
      [
        'a.tar.gz',
        'build (1)/p.tar.gz',
        'linkdir/real.tar.gz',
        'linked.tar.gz',
        'lit/app (1).tar.gz',
        'lit/app-[2].tar.gz',
        'other/f.tar.gz',
        'out/[x]/s.tar.gz',
        'out/{v1}/r.tar.gz',
        'star/*/t.tar.gz',
        'star/other/u.tar.gz',
        'store/real.tar.gz',
        'sub/c.tar.gz',
        'sub/deep/d.tar.gz',
      ],
    ],
    ['one segment stays in its directory', ['*.tar.gz'], ['a.tar.gz', 'linked.tar.gz']],
    ['a symlinked archive is followed', ['linked.tar.gz'], ['linked.tar.gz']],
    ['dotfiles only when named', ['.*.tar.gz'], ['.hidden.tar.gz']],
    ['braces', ['{a,b}.*'], ['a.tar.gz', 'b.zip']],
    [
      '! excludes',
      ['**/*.tar.gz', '!sub/**', '!linkdir/**', '!store/**', '!build*/**', '!lit/**', '!out/**', '!star/**'],
      ['a.tar.gz', 'linked.tar.gz', 'other/f.tar.gz'],
    ],
    ['a plain path', ['sub/c.tar.gz'], ['sub/c.tar.gz']],
    ['a pattern in a subdirectory', ['sub/*.md'], ['sub/notes.md']],
    // A path that exists as written is itself before it is a pattern (issue 18, class 14).
    ['a directory with parentheses, then a pattern', ['build (1)/*.tar.gz'], ['build (1)/p.tar.gz']],
    ['a directory with braces', ['out/{v1}/*.tar.gz'], ['out/{v1}/r.tar.gz']],
    ['a directory with brackets', ['out/[x]/*'], ['out/[x]/s.tar.gz']],
    ['a file with parentheses, named whole', ['lit/app (1).tar.gz'], ['lit/app (1).tar.gz']],
    ['a file with brackets, named whole', ['lit/app-[2].tar.gz'], ['lit/app-[2].tar.gz']],
    ['a directory named *, as written', ['star/*/t.tar.gz'], ['star/*/t.tar.gz']],
    ['a * that names no directory is a pattern still', ['star/o*/*.tar.gz'], ['star/other/u.tar.gz']],
  ])('%s', async (_name, patterns, want) => {
    expect(rel(await expandPatterns(patterns, root, 'tarballs'))).toEqual(want);
  });

  test('absolute patterns work from any cwd', async () => {
    expect(rel(await expandPatterns([path.join(root, 'sub', '*.tar.gz')], '/', 'tarballs'))).toEqual(['sub/c.tar.gz']);
  });

  test('a one-segment pattern reads one directory, not the tree', async () => {
    const read: string[] = [];
    const counting = {
      readdir: ((p: fs.PathLike, o: unknown, cb: unknown) => {
        read.push(String(p));
        return (fs.readdir as (...a: unknown[]) => void)(p, o, cb);
      }) as typeof fs.readdir,
    };
    expect(rel(await expandPatterns(['*.md'], root, 'tarballs', counting))).toEqual(['README.md']);
    expect(read.map((d) => path.relative(root, d.replace(/\/$/, '')))).toEqual(['']);
  });

  test('tarballs in a directory with parentheses: the tarballs input takes it (publish reads its archives by this)', async () => {
    expect(rel(await expandPatterns([path.join(root, 'build (1)', '*')], '/', 'tarballs'))).toEqual([
      'build (1)/p.tar.gz',
      'build (1)/q.zip',
    ]);
  });

  test('a pattern that matches nothing is refused, naming the input and the pattern', async () => {
    await expect(expandPatterns(['*.tgz'], root, 'tarballs')).rejects.toThrow(
      /^input 'tarballs': expected a path or pattern that matches at least one file, got "\*\.tgz"$/,
    );
  });
});
