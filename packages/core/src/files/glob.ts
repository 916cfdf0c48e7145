import * as fs from 'node:fs/promises';
import * as path from 'node:path';

/**
 * Expands one pattern (`*`, `?`, `**`, `[...]`) against the file system.
 * Node 20 has no fs.glob, and the CLI must run there.
 */
export async function expandGlob(pattern: string, cwd: string): Promise<string[]> {
  const abs = path.resolve(cwd, pattern);
  if (!/[*?[]/.test(pattern)) return (await fs.stat(abs).catch(() => undefined))?.isFile() ? [abs] : [];
  const parts = abs.split(path.sep);
  const fixed = parts.findIndex((p) => /[*?[]/.test(p));
  const root = parts.slice(0, fixed).join(path.sep) || path.sep;
  const re = new RegExp('^' + parts.slice(fixed).map(segmentRegex).join('/') + '$');
  const out: string[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const e of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(path.join(dir, e.name), r);
      else if (e.isFile() && re.test(r)) out.push(path.join(dir, e.name));
    }
  };
  await walk(root, '');
  return out.sort();
}

function segmentRegex(seg: string): string {
  if (seg === '**') return '(?:.*)';
  let s = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === '*') s += '[^/]*';
    else if (c === '?') s += '[^/]';
    else if (c === '[') {
      const j = seg.indexOf(']', i);
      if (j < 0) s += '\\[';
      else {
        s += seg.slice(i, j + 1).replace(/^\[!/, '[^');
        i = j;
      }
    } else s += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return s;
}
