// The run's signal is shared by everything in flight: a wide queue listens to
// it without Node's leak warning, and every listener is gone when the work ends.
import { describe, expect, test } from '@jest/globals';
import { getEventListeners, getMaxListeners } from 'node:events';
import { mapLimit, runController, Semaphore } from '../src/concurrency.js';

describe('the run signal', () => {
  test("200 waiters on one semaphore: within the signal's listener limit, none left after", async () => {
    const { signal } = runController();
    const io = new Semaphore(4);
    let peak = 0;
    await mapLimit(
      Array.from({ length: 200 }, (_, i) => i),
      200,
      async () => {
        const release = await io.acquire(signal);
        peak = Math.max(peak, getEventListeners(signal, 'abort').length);
        await new Promise((r) => setImmediate(r));
        release();
      },
      signal,
    );
    await new Promise((r) => setImmediate(r));
    expect(peak).toBeGreaterThan(10);
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    // Node warns when a signal has more listeners than its limit.
    expect(getMaxListeners(signal)).toBeGreaterThanOrEqual(peak);
  });

  test('cancelling rejects every queued waiter and removes its listener', async () => {
    const c = runController();
    const io = new Semaphore(1);
    const held = await io.acquire(c.signal);
    const queued = Array.from({ length: 50 }, () => io.acquire(c.signal));
    c.abort(new Error('stop'));
    const results = await Promise.allSettled(queued);
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(getEventListeners(c.signal, 'abort')).toHaveLength(0);
    held();
  });
});
