/**
 * The one retry policy: attempts with full-jitter backoff, which failures are
 * worth another attempt (for HTTP and S3 alike), and how long a server's
 * Retry-After asks us to wait.
 */
import { sleep } from './concurrency.js';
import { RelayError, throwIfCancelled } from './errors.js';
import { DEFAULTS } from './defaults.js';

export interface RetryPolicy {
  attempts: number;
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = DEFAULTS.retry;
export const MAX_RETRY_AFTER_MS = DEFAULTS.maxRetryAfterMs;

/** Statuses that say "try again": timeouts, throttling and server errors (HTTP and S3 alike). */
const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);
export function isRetryableStatus(status: number | undefined): boolean {
  return status !== undefined && RETRYABLE_STATUS.has(status);
}

/** Delay before attempt `attempt + 1` (1-based): full jitter, never below a server's Retry-After. */
export function backoffDelay(policy: RetryPolicy, attempt: number, retryAfterMs?: number, random = Math.random): number {
  const backoff = random() * Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1));
  return retryAfterMs === undefined ? backoff : Math.min(Math.max(retryAfterMs, backoff), MAX_RETRY_AFTER_MS);
}

/**
 * Runs fn until it succeeds, `retryable(err)` says no, attempts run out or
 * the signal fires. `retryable` may return a delay in ms (a server's
 * Retry-After) instead of true.
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  retryable: (err: unknown) => boolean | number,
  policy: RetryPolicy = DEFAULT_RETRY,
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void,
  signal?: AbortSignal,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    throwIfCancelled(signal);
    try {
      return await fn(attempt);
    } catch (err) {
      const r = attempt < policy.attempts && !signal?.aborted ? retryable(err) : false;
      if (r === false) throw err;
      const delay = backoffDelay(policy, attempt, typeof r === 'number' ? r : undefined);
      onRetry?.(err, attempt, delay);
      await sleep(delay, signal);
    }
  }
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE',
  'RELAY_IDLE_TIMEOUT',
  'RELAY_CONNECT_TIMEOUT',
]);

/** Connection-level failures that say nothing about the request itself. */
export function isNetworkError(err: unknown): boolean {
  const e = err as { code?: string; name?: string; cause?: { code?: string } } | undefined;
  const code = e?.code ?? e?.cause?.code;
  return (
    NETWORK_CODES.has(code ?? '') ||
    e?.name === 'TimeoutError' ||
    /socket hang up|premature close|aborted/i.test(String((err as Error)?.message ?? ''))
  );
}

/**
 * Worth another attempt: a dropped, refused or stalled connection, or a
 * RelayError that says so itself (a 5xx after a one-shot upload, a digest
 * that did not match on the wire). Cancellation never is.
 */
export function isRetryableError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  if (err instanceof RelayError) return err.retryable;
  const e = err as { name?: string; cause?: unknown };
  if (e.name === 'AbortError') return false;
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
