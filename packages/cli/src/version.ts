import { VERSION } from '@relay/core';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

/** Set by scripts/build-cli.mjs for a distribution (npm package, single file, executable): the commit it was built from. */
declare const RELAY_BUILD_COMMIT: string | undefined;

/**
 * `relay --version`: the release, the commit, and the runtime, so that a bug report or a recovery log says
 * exactly what ran. A distribution carries its commit from the build; run from a clone, the commit is read from
 * the checkout's .git (no subprocess, no network), and a tree whose commit cannot be read says so.
 */
export function versionLine(): string {
  const commit = (typeof RELAY_BUILD_COMMIT === 'string' && RELAY_BUILD_COMMIT) || checkoutCommit();
  return `relay ${VERSION} (commit ${commit ? commit.slice(0, 12) : 'unknown'}; node ${process.version} ${process.platform}-${process.arch})`;
}

/** The commit HEAD names in the git checkout (or worktree) above this file, or undefined. */
export function checkoutCommit(from = process.argv[1] ?? ''): string | undefined {
  const read = (f: string): string | undefined => {
    try {
      return readFileSync(f, 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  let dir = path.dirname(path.resolve(from));
  for (let i = 0; i < 6; i++, dir = path.dirname(dir)) {
    let git = path.join(dir, '.git');
    // a worktree's .git is a file naming its git directory; refs live in the common one
    const pointer = /^gitdir: (.+)$/.exec(read(git) ?? '')?.[1];
    if (pointer) git = path.resolve(dir, pointer);
    const head = read(path.join(git, 'HEAD'));
    if (head === undefined) continue;
    const ref = /^ref: (refs\/[\w./-]+)$/.exec(head)?.[1];
    if (!ref) return /^[0-9a-f]{40}$/.test(head) ? head : undefined;
    const common = path.resolve(git, read(path.join(git, 'commondir')) ?? '.');
    const loose = read(path.join(git, ref)) ?? read(path.join(common, ref));
    if (loose) return loose;
    const packed = read(path.join(common, 'packed-refs')) ?? '';
    return packed
      .split('\n')
      .find((l) => l.endsWith(` ${ref}`))
      ?.slice(0, 40);
  }
  return undefined;
}
