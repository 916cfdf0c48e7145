import { InputError } from '../errors.js';

/**
 * dotenv, the one parser of it in Relay: the CLI's `--secrets-file` (a dotenv
 * file, as `sops -d` prints one) and the action's `RELAY_ENV` secret both read
 * it here, so a line means the same thing on both paths. As docker and the
 * dotenv packages read it: `KEY=value`, `export KEY=value`, '…' literal, "…"
 * with \n \r \t \" \\ \$ escapes (may span lines), # comments (a # after
 * whitespace in an unquoted value). `sops_*` keys are sops's metadata and are
 * left out. Errors name the line and the key, never a value.
 */
export const DOTENV_KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** A line that starts a dotenv entry (used to tell dotenv from YAML by the first line). */
export const DOTENV_LINE = /^\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_.-]*\s*=/;

const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', '"': '"', '\\': '\\', $: '$' };

/** key -> value, in file order. `where` names the source in errors (`--secrets-file -`, `RELAY_ENV`). */
export function parseDotenv(text: string, where: string): Map<string, string> {
  const out = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i]!;
    if (line.trim() === '' || line.trim().startsWith('#')) continue;
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/.exec(line);
    if (!m) throw new InputError(`${where} line ${lineNo}: expected KEY=value`);
    const key = m[1]!;
    let rest = m[2]!;
    let value: string;
    const q = rest[0];
    if (q === '"' || q === "'") {
      // The closing quote may be on a later line.
      let body = rest.slice(1);
      let j = i;
      for (;;) {
        const end = closingQuote(body, q);
        if (end >= 0) {
          value = q === '"' ? unescape(body.slice(0, end)) : body.slice(0, end);
          rest = body.slice(end + 1);
          break;
        }
        if (++j >= lines.length)
          throw new InputError(`${where} line ${lineNo}: ${key}: unterminated ${q === '"' ? 'double' : 'single'}-quoted value`);
        body += '\n' + lines[j]!;
      }
      i = j;
      if (rest.trim() !== '' && !rest.trim().startsWith('#'))
        throw new InputError(`${where} line ${lineNo}: ${key}: text after the closing quote`);
    } else {
      // Unquoted: up to a comment (a # after whitespace), trimmed.
      value = rest.replace(/(^|\s+)#.*$/, '').trim();
    }
    if (key.startsWith('sops_')) continue;
    if (out.has(key)) throw new InputError(`${where} line ${lineNo}: ${key} is set twice`);
    out.set(key, value);
  }
  return out;
}

function closingQuote(body: string, q: string): number {
  for (let k = 0; k < body.length; k++) {
    if (q === '"' && body[k] === '\\') {
      k++;
      continue;
    }
    if (body[k] === q) return k;
  }
  return -1;
}

function unescape(s: string): string {
  return s.replace(/\\(.)/g, (all, c: string) => ESCAPES[c] ?? all);
}
