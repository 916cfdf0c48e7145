import { createWriteStream } from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { InputError } from '../errors.js';
import { expandPatterns } from '../files/glob.js';
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/store.js';
import type { Coordinates } from './layout.js';
import { parseTarballName, platformKey, type TarballName } from './names.js';

/**
 * Gathering a release's inputs: the archive files (from globs, or fetched from
 * a staging store) and what their names say. Nothing here reads an archive's
 * content; repack.ts does.
 */

/** One release archive: its path and what its name says (version, platform, format). */
export interface Archive extends TarballName {
  file: string;
}

/** Files named by `tarballs` (globs or paths, one a line). */
export function findTarballs(patterns: string[], cwd: string): Promise<string[]> {
  return expandPatterns(patterns, cwd, 'tarballs');
}

/** Downloads this version's archives from an s3:// staging prefix into dir. */
export async function fetchSource(store: Store, coords: Omit<Coordinates, 'namespace'>, dir: string, log: Logger): Promise<string[]> {
  const { name, version } = coords;
  const keys = (await store.list('')).filter((k) => parseTarballName(k, name)?.version === version);
  if (keys.length === 0)
    throw new InputError(`input 'source': ${store.url} has no terraform-provider-${name} archives for version ${version}`);
  const out: string[] = [];
  for (const k of keys) {
    const file = path.join(dir, path.basename(k));
    const s = await store.getStream(k);
    if (!s) throw new InputError(`input 'source': ${store.url}/${k} disappeared while reading`);
    await pipeline(s, createWriteStream(file));
    log.info(`fetched ${k}`);
    out.push(file);
  }
  return out;
}

/**
 * Reads every file's name: each must be this provider's archive for this
 * version, and no platform may come twice. Refuses before any archive is opened.
 */
export function identifyArchives(files: readonly string[], coords: Omit<Coordinates, 'namespace'>): Archive[] {
  const archives = files.map((file): Archive => {
    const p = parseTarballName(file, coords.name);
    if (!p) {
      throw new InputError(
        `input 'tarballs': '${path.basename(file)}' is not named terraform-provider-${coords.name}-v<version>-<os>-<arch>-bin.tar.gz or terraform-provider-${coords.name}_<version>_<os>_<arch>.(tar.gz|zip)`,
      );
    }
    if (p.version !== coords.version) {
      throw new InputError(`input 'tarballs': '${path.basename(file)}' is version ${p.version}, but input 'version' is ${coords.version}`);
    }
    return { ...p, file };
  });
  const seen = new Map<string, string>();
  for (const a of archives) {
    const k = platformKey(a);
    const other = seen.get(k);
    if (other !== undefined)
      throw new InputError(`input 'tarballs': two archives for ${k}: ${path.basename(other)} and ${path.basename(a.file)}`);
    seen.set(k, a.file);
  }
  if (archives.length === 0) throw new InputError(`input 'tarballs': no archives given`);
  return archives;
}
