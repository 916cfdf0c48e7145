/**
 * HTTP's view of the project's retry policy (../retry.ts: attempts, full
 * jitter): which answers and failures are worth another attempt, and how
 * long a server's Retry-After asks us to wait.
 */
import { isNetworkError } from '../retry.js';

export { DEFAULT_RETRY, MAX_RETRY_AFTER_MS, backoffDelay, withRetry } from '../retry.js';
export type { RetryPolicy } from '../retry.js';

const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);
export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUS.has(status);
}

const RELAY_CODES = new Set(['RELAY_IDLE_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ERR_STREAM_PREMATURE_CLOSE']);
/**
 * Worth another attempt: a dropped, refused or stalled connection, or an
 * error that says so itself (`retryable`: a 5xx after a one-shot upload, a
 * digest that did not match on the wire).
 */
export function isRetryableError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: string; name?: string; retryable?: boolean; cause?: unknown };
  if (e.retryable !== undefined) return e.retryable;
  if (e.name === 'AbortError') return false;
  if (e.code && RELAY_CODES.has(e.code)) return true;
  return isNetworkError(err) || (e.cause !== undefined && e.cause !== err && isRetryableError(e.cause));
}

/** For withRetry: retry when isRetryableError, after the Retry-After an error carries if any. */
export function retryDecision(err: unknown): boolean | number {
  if (!isRetryableError(err)) return false;
  return (err as { retryAfterMs?: number }).retryAfterMs ?? true;
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
