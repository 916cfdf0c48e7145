import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { envName, type OperationSpec, type RawInputs } from '@relay/core';
import { parseDocument } from 'yaml';
import { SECRETS_FLAG, UsageError } from './args.js';

/**
 * `--secrets-file <path|->`: inputs from a YAML, JSON or dotenv map, read from
 * a file or standard input, the way a runbook hands secrets over:
 * `sops -d secrets.yaml | relay publish-terraform-registry --secrets-file - ...`.
 *
 * - Keys are input names (`signing-key`) or their variables (`RELAY_SIGNING_KEY`).
 *   Any other key is refused (a usage error naming the key, never its value):
 *   a file that sets what the command does not take is the wrong file.
 * - `sops` (YAML, JSON) and `sops_*` (dotenv) keys are sops's metadata and are
 *   ignored; a value still encrypted by sops (`ENC[...]`) is refused.
 * - Precedence: a flag wins over the file, the file over RELAY_* variables.
 * - Every value is registered with the logger's mask before anything is
 *   printed, except those of boolean and choice inputs (public words).
 */
export { extractSecretsFlag, SECRETS_FLAG } from './args.js';

/** The largest file taken: secrets, not data. */
const MAX_BYTES = 1 << 20;

/** The file's text: `-` is standard input (refused when it is a terminal: nothing was piped in). */
export async function readSecretsSource(source: string, cwd: string, stdin?: NodeJS.ReadableStream & { isTTY?: boolean }): Promise<string> {
  let buf: Buffer;
  if (source === '-') {
    if (!stdin || stdin.isTTY) {
      throw new UsageError(`${SECRETS_FLAG} -: standard input is a terminal; pipe the file in (sops -d secrets.yaml | relay ...)`);
    }
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of stdin) {
      const b = typeof c === 'string' ? Buffer.from(c) : (c as Buffer);
      n += b.length;
      if (n > MAX_BYTES) throw new UsageError(`${SECRETS_FLAG} -: more than ${MAX_BYTES} bytes on standard input`);
      chunks.push(b);
    }
    buf = Buffer.concat(chunks);
  } else {
    buf = await readFile(path.resolve(cwd, source)).catch((e: NodeJS.ErrnoException) => {
      throw new UsageError(`${SECRETS_FLAG} ${source}: ${e.code === 'ENOENT' ? 'no such file' : (e.code ?? e.message)}`);
    });
    if (buf.length > MAX_BYTES) throw new UsageError(`${SECRETS_FLAG} ${source}: larger than ${MAX_BYTES} bytes`);
  }
  return buf.toString('utf8').replace(/^\uFEFF/, '');
}

const DOTENV_LINE = /^\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_.-]*\s*=/;

/** key -> value text, in file order; which format is decided by the first line that is not blank or a comment. */
export function parseSecretsText(text: string, where: string): Map<string, string> {
  const first = text.split(/\r?\n/).find((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  if (first === undefined) return new Map();
  return DOTENV_LINE.test(first) ? parseDotenv(text, where) : parseYamlMap(text, where);
}

function parseYamlMap(text: string, where: string): Map<string, string> {
  // JSON is YAML; a parse error is reported by position only (its message may quote the value).
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const line = e.linePos?.[0].line;
    throw new UsageError(`${where}: not a YAML, JSON or dotenv map (${e.code}${line ? ` at line ${line}` : ''})`);
  }
  let value: unknown;
  try {
    // yaml bounds alias expansion here (and resolves aliases in one pass): a "billion laughs" is refused.
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new UsageError(`${where}: ${(err as Error).message.split('\n')[0]} (aliases may expand to at most 100 values)`);
  }
  if (value === null || value === undefined) return new Map();
  if (typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`${where}: expected a map of input names to values`);
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (k === 'sops') continue;
    if (v === null || v === undefined) continue;
    if (typeof v === 'string') out.set(k, v);
    else if (typeof v === 'number' || typeof v === 'boolean') out.set(k, String(v));
    else if (Array.isArray(v) && v.every((i) => typeof i === 'string' || typeof i === 'number')) out.set(k, v.join('\n'));
    else throw new UsageError(`${where}: '${k}' must be a string (or a list of strings)`);
  }
  return out;
}

const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', '"': '"', '\\': '\\', $: '$' };

/** dotenv as docker and the dotenv packages read it: KEY=value, `export`, '…' literal, "…" with \n escapes (may span lines), # comments. */
export function parseDotenv(text: string, where: string): Map<string, string> {
  const out = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i]!;
    if (line.trim() === '' || line.trim().startsWith('#')) continue;
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/.exec(line);
    if (!m) throw new UsageError(`${where} line ${lineNo}: expected KEY=value`);
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
          throw new UsageError(`${where} line ${lineNo}: ${key}: unterminated ${q === '"' ? 'double' : 'single'}-quoted value`);
        body += '\n' + lines[j]!;
      }
      i = j;
      if (rest.trim() !== '' && !rest.trim().startsWith('#'))
        throw new UsageError(`${where} line ${lineNo}: ${key}: text after the closing quote`);
    } else {
      // Unquoted: up to a comment (a # after whitespace), trimmed.
      value = rest.replace(/(^|\s+)#.*$/, '').trim();
    }
    if (key.startsWith('sops_')) continue;
    if (out.has(key)) throw new UsageError(`${where} line ${lineNo}: ${key} is set twice`);
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

/**
 * The file's keys as the command's inputs. Refuses a key that names no input
 * of the command, one input set twice (by both of its names), and a value sops
 * left encrypted; masks every value first (`mask`), so no refusal can print one.
 */
export function secretsToInputs(
  spec: OperationSpec,
  entries: Map<string, string>,
  mask: (value: string) => void,
  where: string,
): RawInputs {
  const byVariable = new Map(Object.keys(spec.inputs).map((n) => [envName(n), n]));
  for (const [key, value] of entries) {
    const name = key in spec.inputs ? key : byVariable.get(key);
    const s = name ? spec.inputs[name] : undefined;
    if (!(s && (s.type === 'boolean' || s.choices))) mask(value);
  }
  const raw: RawInputs = {};
  for (const [key, value] of entries) {
    const name = key in spec.inputs ? key : byVariable.get(key);
    if (!name) {
      throw new UsageError(
        `${where}: '${key}' is not an input of ${spec.name} (keys are its input names, e.g. ${Object.keys(spec.inputs)[0]}, or their RELAY_* variables)`,
      );
    }
    if (raw[name] !== undefined) throw new UsageError(`${where}: '${key}' sets ${name}, which the file already sets`);
    if (/^ENC\[[A-Z0-9_]+,/.test(value.trim()))
      throw new UsageError(`${where}: '${key}' is still encrypted by sops (ENC[...]): decrypt it first (sops -d)`);
    raw[name] = value;
  }
  return raw;
}

/** The whole flag: read, parse, check against the command, mask. */
export async function readSecretsFile(
  spec: OperationSpec,
  source: string,
  io: { cwd: string; stdin?: NodeJS.ReadableStream & { isTTY?: boolean } },
  mask: (value: string) => void,
): Promise<RawInputs> {
  const where = `${SECRETS_FLAG} ${source}`;
  const text = await readSecretsSource(source, io.cwd, io.stdin);
  return secretsToInputs(spec, parseSecretsText(text, where), mask, where);
}
