import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { GlobOptions } from 'tinyglobby';
import { badInput } from '../errors.js';

/**
 * Expands a list of file patterns the way @actions/glob and docker's actions
 * do (tinyglobby, i.e. picomatch semantics): `**` matches at the top level
 * too, symlinks are followed, dotfiles only when a pattern names the dot,
 * braces work, and `!pattern` excludes what earlier patterns matched. A
 * one-segment pattern reads one directory, never the whole tree. A path that
 * exists as written (a file, or the leading directories of a pattern) is
 * taken as written before it is read as a pattern, so names holding `(`, `{`,
 * `[` or `*` can be given. Every pattern that includes must match at least one file.
 */
export async function expandPatterns(
  patterns: readonly string[],
  cwd: string,
  input: string,
  /** Tests count directory reads through it. */
  fsAdapter?: GlobOptions['fs'],
): Promise<string[]> {
  const excludes = patterns.filter((p) => p.startsWith('!')).map((p) => p.slice(1));
  const out = new Set<string>();
  // Loaded on first use: the glob library is not part of every command's start-up.
  const lib = await import('tinyglobby');
  for (const p of patterns.filter((q) => !q.startsWith('!'))) {
    const found = await expandOne(lib, p, cwd, excludes, fsAdapter);
    if (found.length === 0) badInput(input, `a path or pattern that matches at least one file`, p);
    for (const f of found) out.add(f);
  }
  return [...out].sort();
}

async function expandOne(
  { glob, isDynamicPattern }: typeof import('tinyglobby'),
  pattern: string,
  cwd: string,
  excludes: readonly string[],
  fsAdapter: GlobOptions['fs'],
): Promise<string[]> {
  // A path that exists as given is itself, whatever characters it holds: `dist/app (1).tar.gz`.
  const abs = path.resolve(cwd, pattern);
  if ((await fs.stat(abs).catch(() => undefined))?.isFile()) return [abs];
  // Absolute patterns and `../` prefixes: crawl from their fixed leading directories. A leading directory
  // that exists as written is fixed too, not a pattern: `build (1)/*.tar.gz`, `out/{v1}/*.tar.gz`.
  const segments = abs.split(path.sep);
  const dynamicFrom = (i: number): number => {
    const j = segments.slice(i).findIndex((seg) => isDynamicPattern(seg));
    return j < 0 ? -1 : i + j;
  };
  let fixed = dynamicFrom(0);
  while (fixed >= 0 && fixed < segments.length - 1 && (await isDirectory(segments.slice(0, fixed + 1).join(path.sep)))) {
    fixed = dynamicFrom(fixed + 1);
  }
  // No segment is a pattern (or each pattern-like one was a directory as written), and the file is not there.
  // Segment by segment: tinyglobby's isDynamicPattern misreads a whole path holding a brace, e.g. `out/{v1}/*.tar.gz`.
  if (fixed < 0) return [];
  const base = segments.slice(0, fixed).join(path.sep) || path.sep;
  const rest = segments.slice(fixed).join('/');
  const ignore = excludes.map((e) => path.relative(base, path.resolve(cwd, e)).split(path.sep).join('/'));
  return glob(rest, {
    cwd: base,
    absolute: true,
    onlyFiles: true,
    followSymbolicLinks: true,
    dot: false,
    expandDirectories: false,
    ignore,
    ...(fsAdapter && { fs: fsAdapter }),
  });
}

async function isDirectory(p: string): Promise<boolean> {
  return (await fs.stat(p).catch(() => undefined))?.isDirectory() ?? false;
}
