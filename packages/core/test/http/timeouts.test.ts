// Nothing waits forever: connect and idle timeouts, the request budget and
// cancellation, against loopback servers that misbehave on purpose.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { HttpClient } from '../../src/http/client.js';
import { CancelledError, EXIT, RelayError, exitCodeFor } from '../../src/errors.js';
import { DEFAULTS } from '../../src/defaults.js';
import { startSilentServer } from '../../../../test/support/connect-proxy.js';

// Waits on loopback servers: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(30_000);

const fast = { baseMs: 20, maxMs: 100 };
type Silent = Awaited<ReturnType<typeof startSilentServer>>;

async function caught(p: Promise<unknown>): Promise<{ err: RelayError; ms: number }> {
  const t0 = Date.now();
  try {
    await p;
  } catch (err) {
    return { err: err as RelayError, ms: Date.now() - t0 };
  }
  throw new Error('expected a failure');
}

let silent: Silent;
let stall: Silent;
let slow: { url: string; close(): Promise<void>; bytes: number };
beforeAll(async () => {
  silent = await startSilentServer('silent');
  stall = await startSilentServer('stall-body');
  // Reads uploads as they come, answers once a body has ended (after `?delay=ms`).
  let bytes = 0;
  const timers = new Set<NodeJS.Timeout>();
  const s = http.createServer((req, res) => {
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => {
      const t = setTimeout(() => res.end('done'), Number(new URL(req.url!, 'http://x').searchParams.get('delay') ?? 0));
      timers.add(t);
    });
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  slow = {
    url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const t of timers) clearTimeout(t);
        s.closeAllConnections();
        s.close(() => r());
      }),
    get bytes() {
      return bytes;
    },
  };
});
afterAll(async () => {
  await silent.close();
  await stall.close();
  await slow.close();
});

describe('nothing waits forever', () => {
  test('a server that accepts and never answers fails within the budget: one line, kind remote, exit 3', async () => {
    const c = new HttpClient({ budgetMs: 2000, idleTimeoutMs: 700, retry: fast });
    const before = silent.accepted;
    const { err, ms } = await caught(c.request({ url: `http://${silent.host}/v2/acme/blobs/sha256:ab?token=s3cr3t` }));
    expect(ms).toBeGreaterThanOrEqual(1900);
    expect(ms).toBeLessThan(3000);
    expect(err.kind).toBe('remote');
    expect(exitCodeFor(err)).toBe(EXIT.remote);
    expect(err.message).toMatch(
      new RegExp(
        `^GET ${silent.host.replace(/\./g, '\\.')}/v2/acme/blobs/sha256:ab: no response for 2(\\.\\d)? s \\(after [2-9] attempts; raise request-timeout to wait longer\\)$`,
      ),
    );
    expect(err.message).not.toContain('s3cr3t');
    expect(err.retryable).toBe(false); // spent: an outer loop must not multiply the wait
    expect(silent.accepted - before).toBeGreaterThanOrEqual(2); // the idle timeout ended attempts, which were retried
    c.close();
  });

  test('the default limits end a never-answering server in under a minute', () => {
    expect(DEFAULTS.requestBudgetMs).toBeLessThan(60_000);
    // An attempt that times out on idle leaves budget for another one.
    expect(DEFAULTS.idleTimeoutMs).toBeLessThan(DEFAULTS.requestBudgetMs / 1.5);
    expect(DEFAULTS.connectTimeoutMs).toBeLessThan(DEFAULTS.idleTimeoutMs);
  });

  test('headers then a body that stalls: the idle timeout fails the body read, kind remote', async () => {
    const c = new HttpClient({ idleTimeoutMs: 500, budgetMs: 10_000 });
    const res = await c.request({ url: `http://${stall.host}/file` });
    expect(res.status).toBe(200);
    const { err, ms } = await caught(res.text());
    expect(ms).toBeGreaterThanOrEqual(450);
    expect(ms).toBeLessThan(1500);
    expect(err.kind).toBe('remote');
    expect(err.message).toBe(`GET ${stall.host}/file: body stalled, no data for 0.5 s`);
    expect(err.retryable).toBe(true); // a caller that owns the transfer may start it again
    c.close();
  });

  test('aborting the signal cancels a hanging request at once, kind cancelled', async () => {
    const c = new HttpClient({ budgetMs: 30_000 });
    const ac = new AbortController();
    setTimeout(() => ac.abort('interrupted (SIGINT)'), 100);
    const { err, ms } = await caught(c.request({ url: `http://${silent.host}/v2/`, signal: ac.signal }));
    expect(ms).toBeLessThan(400);
    expect(err).toBeInstanceOf(CancelledError);
    expect(err.kind).toBe('cancelled');
    expect(exitCodeFor(err)).toBe(EXIT.cancelled);
    expect(err.message).toBe(`interrupted (SIGINT) (GET ${silent.host}/v2/ aborted)`);
    c.close();
  });

  test("the client's own signal (Context.signal) cancels its requests, alongside each request's", async () => {
    const run = new AbortController();
    const c = new HttpClient({ signal: run.signal, budgetMs: 30_000 });
    const mine = new AbortController();
    setTimeout(() => run.abort('interrupted (SIGTERM)'), 100);
    const { err, ms } = await caught(c.request({ url: `http://${silent.host}/v2/`, signal: mine.signal }));
    expect(ms).toBeLessThan(400);
    expect(err.kind).toBe('cancelled');
    expect(err.message).toBe(`interrupted (SIGTERM) (GET ${silent.host}/v2/ aborted)`);
    c.close();
  });

  test('aborting while a body streams ends the stream with kind cancelled', async () => {
    const c = new HttpClient({ idleTimeoutMs: 30_000 });
    const ac = new AbortController();
    const res = await c.request({ url: `http://${stall.host}/file`, signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    const { err, ms } = await caught(res.text());
    expect(ms).toBeLessThan(400);
    expect(err.kind).toBe('cancelled');
    c.close();
  });

  test('an already aborted signal never connects', async () => {
    const c = new HttpClient();
    const before = silent.accepted;
    const ac = new AbortController();
    ac.abort();
    const { err } = await caught(c.request({ url: `http://${silent.host}/x`, signal: ac.signal }));
    expect(err.kind).toBe('cancelled');
    expect(silent.accepted).toBe(before);
    c.close();
  });

  test('an upload still moving is not cut by the budget', async () => {
    const c = new HttpClient({ budgetMs: 400, idleTimeoutMs: 300 });
    const chunks = Array.from({ length: 12 }, () => Buffer.alloc(1024, 1));
    const body = Readable.from(
      (async function* () {
        for (const chunk of chunks) {
          await new Promise((r) => setTimeout(r, 100));
          yield chunk;
        }
      })(),
    );
    const t0 = Date.now();
    const res = await c.request({ method: 'PUT', url: `${slow.url}/upload`, body, headers: { 'content-length': String(12 * 1024) } });
    expect(await res.text()).toBe('done');
    expect(Date.now() - t0).toBeGreaterThan(1000); // well past the 400 ms budget
    c.close();
  });

  test('once the upload has gone, a server that does not answer still fails fast', async () => {
    // The idle limit, well inside the budget: on a loaded machine a timer fires late, and 300 ms against a
    // 400 ms budget let the budget run out first (another message).
    const c = new HttpClient({ budgetMs: 3000, idleTimeoutMs: 300, retry: { attempts: 1 } });
    const { err, ms } = await caught(c.request({ method: 'PUT', url: `${slow.url}/upload?delay=5000`, body: 'small' }));
    expect(ms).toBeLessThan(2500);
    expect(err.message).toMatch(/^PUT 127\.0\.0\.1:\d+\/upload: no response for 0\.\d s \(after 1 attempt\)$/);
    c.close();
  });

  test('time queued behind other requests to the host is not counted', async () => {
    const c = new HttpClient({ perHost: 1, budgetMs: 500, idleTimeoutMs: 2000, retry: { attempts: 1 } });
    const first = c.request({ url: `${slow.url}/a?delay=300` });
    const second = c.request({ url: `${slow.url}/b?delay=300` }); // waits ~300 ms for the slot, then takes ~300 ms
    expect(await (await first).text()).toBe('done');
    expect(await (await second).text()).toBe('done');
    c.close();
  });
});
