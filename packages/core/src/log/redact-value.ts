/**
 * A document with every string in it (keys included) passed through
 * `redact`, built before the document is serialised. Redacting the
 * serialised text instead misses a secret whose serialised form differs from
 * its value (JSON writes `"` as `\"`, markdown and HTML escape `<` and `&`),
 * and could break the document when a secret looks like its syntax.
 * What JSON.stringify would drop (undefined, functions) is dropped; a value
 * with toJSON (a Date) is taken as toJSON gives it.
 */
export function redactValue<T>(value: T, redact: (text: string) => string): T {
  return walk(value, redact) as T;
}

function walk(value: unknown, redact: (text: string) => string): unknown {
  if (typeof value === 'string') return redact(value);
  if (value === null || typeof value !== 'object') return value;
  const json = (value as { toJSON?: unknown }).toJSON;
  if (typeof json === 'function') return walk((json as () => unknown).call(value), redact);
  if (Array.isArray(value)) return value.map((v) => walk(v, redact));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    Object.defineProperty(out, redact(k), { value: walk(v, redact), enumerable: true, writable: true, configurable: true });
  }
  return out;
}
