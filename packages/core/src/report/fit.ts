/**
 * A JSON value cut to fit a number of characters, for outputs GitHub caps
 * (a job's outputs together, counted in UTF-16 code units). Everything that
 * is not a list is kept: status, counts, error, plan hash. Every list keeps
 * the same number of first rows, as many as fit (one cap for all, so no list
 * is emptied to keep another whole), and the object holding a cut list says
 * how many rows it left out as `<name>Omitted` (`planOmitted`, `rowsOmitted`).
 * Only when even no rows at all do not fit are long strings shortened.
 */
export interface Fitted {
  value: unknown;
  /** The JSON text of `value` (what an output is set to). */
  text: string;
  /** Rows left out, over every list; 0 when the value fitted whole. */
  omitted: number;
}

const ELLIPSIS = '…';

export function fitJson(value: unknown, max: number): Fitted {
  const whole = JSON.stringify(value) ?? 'null';
  if (whole.length <= max) return { value, text: whole, omitted: 0 };
  const longest = longestList(value);
  const attempt = (rows: number, chars = Infinity): Fitted => {
    const counter = { omitted: 0 };
    const v = cut(value, rows, chars, counter);
    return { value: v, text: JSON.stringify(v) ?? 'null', omitted: counter.omitted };
  };
  // The largest row cap that fits (the size grows with the cap).
  let best = attempt(0);
  if (best.text.length <= max) {
    let lo = 0;
    let hi = longest;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      const a = attempt(mid);
      if (a.text.length <= max) {
        lo = mid;
        best = a;
      } else hi = mid - 1;
    }
    return best;
  }
  // No rows, and still too long: shorten strings, the longest cap that fits.
  let lo = 0;
  let hi = longestString(value);
  best = attempt(0, 0);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    const a = attempt(0, mid);
    if (a.text.length <= max) {
      lo = mid;
      best = a;
    } else hi = mid - 1;
  }
  return best;
}

/** Lines of a list output (one value per line) cut to `max` characters: the first lines that fit. */
export function fitLines(lines: readonly string[], max: number): { text: string; kept: number } {
  let n = 0;
  let length = 0;
  for (const l of lines) {
    const add = (n === 0 ? 0 : 1) + l.length;
    if (length + add > max) break;
    length += add;
    n++;
  }
  return { text: lines.slice(0, n).join('\n'), kept: n };
}

function cut(value: unknown, rows: number, chars: number, counter: { omitted: number }, inList = false): unknown {
  if (typeof value === 'string') return value.length > chars ? value.slice(0, chars) + ELLIPSIS : value;
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    // A list inside a list is part of its row (kept or left out with it); a list elsewhere is cut.
    const kept = inList ? value : value.slice(0, rows);
    if (!inList) counter.omitted += value.length - kept.length;
    return kept.map((v) => cut(v, rows, chars, counter, true));
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    setOwn(out, k, cut(v, rows, chars, counter));
    if (Array.isArray(v) && v.length > rows) setOwn(out, `${k}Omitted`, v.length - rows);
  }
  return out;
}

function longestList(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  const inner = Object.values(value).reduce<number>((n, v) => Math.max(n, longestList(v)), 0);
  return Math.max(Array.isArray(value) ? value.length : 0, inner);
}

function longestString(value: unknown): number {
  if (typeof value === 'string') return value.length;
  if (value === null || typeof value !== 'object') return 0;
  return Object.values(value).reduce<number>((n, v) => Math.max(n, longestString(v)), 0);
}

function setOwn(o: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}
