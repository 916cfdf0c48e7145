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
