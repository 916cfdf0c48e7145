/** Backoff with full jitter, bounded by attempts; the caller says what is worth retrying. */
export interface RetryPolicy {
  attempts: number;
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseMs: 200, maxMs: 10_000 };

/** Longest Retry-After we wait for; the HTTP client fails a request that asks for longer. */
export const MAX_RETRY_AFTER_MS = 60_000;

/** Delay before attempt `attempt + 1` (1-based): full jitter, never below a server's Retry-After. */
export function backoffDelay(policy: RetryPolicy, attempt: number, retryAfterMs?: number, random = Math.random): number {
  const backoff = random() * Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1));
  return retryAfterMs === undefined ? backoff : Math.min(Math.max(retryAfterMs, backoff), MAX_RETRY_AFTER_MS);
}

/**
 * Runs fn until it succeeds, `retryable(err)` says no, or attempts run out.
 * `retryable` may return a delay in ms (a server's Retry-After) instead of true.
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  retryable: (err: unknown) => boolean | number,
  policy: RetryPolicy = DEFAULT_RETRY,
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const r = attempt < policy.attempts ? retryable(err) : false;
      if (r === false) throw err;
      const delay = backoffDelay(policy, attempt, typeof r === 'number' ? r : undefined);
      onRetry?.(err, attempt, delay);
      await new Promise((res) => setTimeout(res, delay));
    }
  }
}

/** Connection-level failures that say nothing about the request itself. */
export function isNetworkError(err: unknown): boolean {
  const e = err as { code?: string; name?: string; cause?: { code?: string } } | undefined;
  const code = e?.code ?? e?.cause?.code;
  return (
    ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'ECONNABORTED'].includes(code ?? '') ||
    e?.name === 'TimeoutError' ||
    /socket hang up|premature close|aborted/i.test(String((err as Error)?.message ?? ''))
  );
}
