import type { Readable } from 'node:stream';
import { errorOfKind, type ErrorKind } from './errors.js';

/**
 * Reading untrusted bytes: the one body-up-to-a-limit reader and the one
 * parse-JSON-or-refuse. Both refuse with one line naming the object, as the
 * error kind the caller chooses (a bad input file, a malformed document in a
 * store or registry).
 */

/** The whole stream, refusing (and destroying it) past `limit` bytes. */
export async function readLimited(body: Readable, limit: number, what: string, kind: ErrorKind = 'integrity'): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    const chunk = Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array);
    n += chunk.length;
    if (n > limit) {
      body.destroy();
      throw errorOfKind(kind, `${what}: larger than ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * JSON.parse without the throw: undefined when the bytes are not JSON (a
 * parsed document is never undefined). For a caller whose refusal must say
 * more than parseJson's, such as a store document Relay will not overwrite.
 */
export function tryParseJson(bytes: Buffer | string): unknown {
  try {
    return JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** JSON.parse that refuses with `<what>: not valid JSON` instead of a SyntaxError. */
export function parseJson(bytes: Buffer | string, what: string, kind: ErrorKind = 'integrity'): unknown {
  const v = tryParseJson(bytes);
  if (v === undefined) throw errorOfKind(kind, `${what}: not valid JSON`);
  return v;
}

/** A JSON object (not an array, null or a scalar), or a refusal naming `what`. */
export function parseJsonObject(bytes: Buffer | string, what: string, kind: ErrorKind = 'integrity'): Record<string, unknown> {
  const v = parseJson(bytes, what, kind);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw errorOfKind(kind, `${what}: expected a JSON object`);
  return v as Record<string, unknown>;
}

/**
 * JSON.stringify(value, null, 2), in pieces: each array element and object
 * member of the top levels is one piece, so a run document of 10,000 plan
 * rows is written without one string of megabytes. Joined, the pieces equal
 * JSON.stringify's text for the plain data a document holds.
 */
export function* jsonPieces(value: unknown, indent = '', depth = 2): Generator<string> {
  const plain = value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON !== 'function';
  if (depth === 0 || !plain) {
    yield (JSON.stringify(value, null, 2) ?? 'null').replaceAll('\n', '\n' + indent);
    return;
  }
  const inner = indent + '  ';
  const array = Array.isArray(value);
  const entries: [string, unknown][] = array
    ? value.map((v, i) => [String(i), v === undefined || typeof v === 'function' || typeof v === 'symbol' ? null : v])
    : Object.entries(value).filter(([, v]) => v !== undefined && typeof v !== 'function' && typeof v !== 'symbol');
  if (entries.length === 0) {
    yield array ? '[]' : '{}';
    return;
  }
  yield array ? '[' : '{';
  for (const [i, [k, v]] of entries.entries()) {
    yield (i === 0 ? '\n' : ',\n') + inner + (array ? '' : JSON.stringify(k) + ': ');
    yield* jsonPieces(v, inner, depth - 1);
  }
  yield '\n' + indent + (array ? ']' : '}');
}
