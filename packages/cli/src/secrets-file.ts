import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { DOTENV_LINE, InputError, parseDotenv as parseCoreDotenv, sortSecrets, type OperationSpec, type SortedSecrets } from '@relay/core';
import { isMap, isScalar, parseDocument } from 'yaml';
import { SECRETS_FLAG, UsageError } from './args.js';

/**
 * `--secrets-file <path|->`: inputs from a YAML, JSON or dotenv map, read from
 * a file or standard input, the way a runbook hands secrets over:
 * `sops -d secrets.yaml | relay publish-terraform-registry --secrets-file - ...`.
 *
 * - Keys are input names (`signing-key`) or their variables (`RELAY_SIGNING_KEY`),
 *   or variables Relay reads (AWS credentials and region, GITHUB_TOKEN), or for
 *   mirror-artifact the variables its mirror file names (checked once it is read).
 *   Any other key is refused (a usage error naming the key, never its value):
 *   a file that sets what the command does not take is the wrong file.
 *   Variables are set for the run only (Context.env), never in process.env.
 * - `sops` (YAML, JSON) and `sops_*` (dotenv) keys are sops's metadata and are
 *   ignored; a value still encrypted by sops (`ENC[...]`) is refused.
 * - Precedence: a flag wins over the file, the file over RELAY_* variables.
 * - Every value is registered with the logger's mask before anything is
 *   printed, except those of boolean and choice inputs and the region (public words).
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

/** key -> value text, in file order; which format is decided by the first line that is not blank or a comment. */
export function parseSecretsText(text: string, where: string): Map<string, string> {
  const first = text.split(/\r?\n/).find((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  if (first === undefined) return new Map();
  return DOTENV_LINE.test(first) ? parseDotenv(text, where) : parseYamlMap(text, where);
}

/** dotenv, by the parser the action's RELAY_ENV shares (@relay/core); its refusals are usage errors here. */
export function parseDotenv(text: string, where: string): Map<string, string> {
  return asUsage(() => parseCoreDotenv(text, where));
}

function asUsage<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof InputError) throw new UsageError(e.message);
    throw e;
  }
}

function parseYamlMap(text: string, where: string): Map<string, string> {
  // JSON is YAML; a parse error is reported by position only (its message may quote the value).
  // The failsafe schema: every scalar is the string written (`0123` stays 0123, `yes` stays yes, `~` stays ~).
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, schema: 'failsafe' });
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
  if (value === null || value === undefined || isPlainNull(doc.contents)) return new Map();
  if (typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`${where}: expected a map of input names to values`);
  // A key with nothing after it (or an unquoted ~ or null) is not set, as before; "null" quoted is the word.
  const unset = new Set<string>();
  if (isMap(doc.contents)) for (const p of doc.contents.items) if (isScalar(p.key) && isPlainNull(p.value)) unset.add(String(p.key.value));
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (k === 'sops') continue;
    if (v === null || v === undefined || unset.has(k)) continue;
    if (typeof v === 'string') out.set(k, v);
    else if (typeof v === 'number' || typeof v === 'boolean') out.set(k, String(v));
    else if (Array.isArray(v) && v.every((i) => typeof i === 'string' || typeof i === 'number')) out.set(k, v.join('\n'));
    else throw new UsageError(`${where}: '${k}' must be a string (or a list of strings)`);
  }
  return out;
}

/** An absent value, or an unquoted empty, `~` or `null` (YAML's null, which the failsafe schema reads as text). */
function isPlainNull(node: unknown): boolean {
  return (
    node === null || node === undefined || (isScalar(node) && node.type === 'PLAIN' && /^(|~|null|Null|NULL)$/.test(String(node.value)))
  );
}

/**
 * The file's keys sorted (@relay/core sortSecrets): inputs, variables Relay
 * reads, variables the run's inputs may name; every value masked first (`mask`),
 * so no refusal can print one. A key refused is a usage error naming the key.
 */
export function secretsToInputs(
  spec: OperationSpec,
  entries: Map<string, string>,
  mask: (value: string) => void,
  where: string,
): SortedSecrets {
  return asUsage(() => sortSecrets(spec, entries, mask, where));
}

/** The whole flag: read, parse, check against the command, mask. */
export async function readSecretsFile(
  spec: OperationSpec,
  source: string,
  io: { cwd: string; stdin?: NodeJS.ReadableStream & { isTTY?: boolean } },
  mask: (value: string) => void,
): Promise<SortedSecrets> {
  const where = `${SECRETS_FLAG} ${source}`;
  const text = await readSecretsSource(source, io.cwd, io.stdin);
  return secretsToInputs(spec, parseSecretsText(text, where), mask, where);
}
