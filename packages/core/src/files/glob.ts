import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { GlobOptions } from 'tinyglobby';
import { badInput } from '../errors.js';

/**
 * Expands a list of file patterns the way @actions/glob and docker's actions
 * do (tinyglobby, i.e. picomatch semantics): `**` matches at the top level
 * too, symlinks are followed, dotfiles only when a pattern names the dot,
 * braces work, and `!pattern` excludes what earlier patterns matched. A
 * one-segment pattern reads one directory, never the whole tree. Every
 * pattern that includes must match at least one file.
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
  if (!isDynamicPattern(pattern)) {
    const abs = path.resolve(cwd, pattern);
    return (await fs.stat(abs).catch(() => undefined))?.isFile() ? [abs] : [];
  }
  // Absolute patterns and `../` prefixes: crawl from their fixed leading directories.
  const segments = path.resolve(cwd, pattern).split(path.sep);
  const fixed = segments.findIndex((s) => isDynamicPattern(s));
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
