import { setMaxListeners } from 'node:events';
import { cancelledBy, throwIfCancelled } from './errors.js';

/**
 * The controller of a run's cancellation. Every request, subprocess and queued
 * read in flight listens to its signal and stops listening when it ends, so a
 * few hundred listeners at once is a wide graph, not a leak (Node warns at 11).
 */
export function runController(): AbortController {
  const c = new AbortController();
  setMaxListeners(1000, c.signal);
  return c;
}

/** A counting semaphore; FIFO so no waiter starves. */
export class Semaphore {
  private active = 0;
  private readonly waiters: (() => void)[] = [];
  constructor(readonly limit: number) {}

  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.active < this.limit) {
      this.active++;
      return this.releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const wake = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        const i = this.waiters.indexOf(wake);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(cancelledBy(signal!));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(wake);
    });
    return this.releaser();
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiters.shift();
      // the slot passes straight to the next waiter
      if (next) next();
      else this.active--;
    };
  }
}

/**
 * Runs fn over items with at most `limit` in flight. After the first failure
 * (or cancellation) no new item starts; it rejects with that failure once the
 * running ones end, so nothing is still writing when the caller hears of it.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
  signal?: AbortSignal,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!failure && next < items.length) {
      const i = next++;
      try {
        throwIfCancelled(signal);
        results[i] = await fn(items[i] as T, i);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw failure.err;
  return results;
}

/** Waits ms, or rejects with CancelledError as soon as the signal fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(cancelledBy(signal));
    const onAbort = (): void => {
      clearTimeout(t);
      reject(cancelledBy(signal!));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A CommonJS package's exports from a dynamic import(): Node gives them as
 * `default` (and named, when it can tell), the bundle only as `default`.
 */
export function cjsExports<T>(mod: T): T {
  return (mod as { default?: T }).default ?? mod;
}
