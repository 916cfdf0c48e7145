/**
 * The one retry policy: exponential backoff with jitter, honouring
 * Retry-After, for 408/429/5xx and dropped or stalled connections.
 */
export interface RetryPolicy {
  /** Attempts after the first. */
  retries: number;
  baseMs: number;
  capMs: number;
  /** Longest Retry-After we wait for; a longer one fails the request instead. */
  maxRetryAfterMs: number;
}

export const defaultRetryPolicy: RetryPolicy = { retries: 5, baseMs: 250, capMs: 10_000, maxRetryAfterMs: 60_000 };

const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);
export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUS.has(status);
}

const RETRYABLE_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET', 'RELAY_IDLE_TIMEOUT', 'RELAY_SHORT_BODY',
]);
/** A failure of the connection (not of the request): worth another attempt. */
export function isRetryableError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: string; name?: string; message?: string; retryable?: boolean; cause?: unknown };
  if (e.retryable !== undefined) return e.retryable;
  if (e.name === 'AbortError') return false;
  if (e.code && RETRYABLE_CODES.has(e.code)) return true;
  if (e.message === 'socket hang up' || e.message === 'aborted') return true;
  return e.cause !== undefined && e.cause !== err && isRetryableError(e.cause);
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/** Delay before retry number `attempt` (0-based): full backoff halved by jitter, never below Retry-After. */
export function backoffDelay(policy: RetryPolicy, attempt: number, retryAfterMs?: number, random = Math.random): number {
  const exp = Math.min(policy.capMs, policy.baseMs * 2 ** attempt);
  const jittered = exp / 2 + random() * (exp / 2);
  return retryAfterMs === undefined ? jittered : Math.max(retryAfterMs, jittered / 4);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = (): void => { clearTimeout(t); reject(signal?.reason); };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs fn until it succeeds, fails with something not retryable, or the
 * policy is spent. For work above single requests (a blob copied GET→PUT
 * whose stream cannot be replayed, a digest that did not match on the wire).
 */
export async function withRetries<T>(
  policy: RetryPolicy,
  fn: (attempt: number) => Promise<T>,
  opts: { retryable?: (err: unknown) => boolean; onRetry?: (err: unknown, attempt: number, delayMs: number) => void; signal?: AbortSignal } = {},
): Promise<T> {
  const retryable = opts.retryable ?? isRetryableError;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= policy.retries || !retryable(err) || opts.signal?.aborted) throw err;
      const delay = backoffDelay(policy, attempt, (err as { retryAfterMs?: number }).retryAfterMs);
      opts.onRetry?.(err, attempt, delay);
      await sleep(delay, opts.signal);
    }
  }
}
