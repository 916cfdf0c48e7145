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
let trickle: { url: string; close(): Promise<void> };
beforeAll(async () => {
  // Headers at once, then the body a byte every 50 ms: never idle long enough to trip the idle timeout.
  const intervals = new Set<NodeJS.Timeout>();
  const t = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-length': '1000', 'content-type': 'application/octet-stream' });
    const timer = setInterval(() => res.write('x'), 50);
    intervals.add(timer);
    res.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((r) => t.listen(0, '127.0.0.1', r));
  trickle = {
    url: `http://127.0.0.1:${(t.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const x of intervals) clearInterval(x);
        t.closeAllConnections();
        t.close(() => r());
      }),
  };
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
  await trickle.close();
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

  test('an upload of known size gets the budget plus its size at the slowest rate accepted', async () => {
    // 12 KiB at 10 KiB/s against a 400 ms budget: 1.2 s, allowed 0.4 + 12/4 s at a 4 KiB/s floor.
    const c = new HttpClient({ budgetMs: 400, idleTimeoutMs: 300, minRateBytesPerSec: 4096 });
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

  test('an upload slower than that is cut, though bytes keep moving: one line naming request-timeout', async () => {
    // 12 KiB at 10 KiB/s with a 64 KiB/s floor: allowed 0.4 + 0.19 s.
    const c = new HttpClient({ budgetMs: 400, idleTimeoutMs: 300, minRateBytesPerSec: 64 * 1024, retry: { attempts: 1 } });
    const body = Readable.from(
      (async function* () {
        for (let i = 0; i < 12; i++) {
          await new Promise((r) => setTimeout(r, 100));
          yield Buffer.alloc(1024, 1);
        }
      })(),
    );
    const { err, ms } = await caught(
      c.request({ method: 'PUT', url: `${slow.url}/upload`, body, headers: { 'content-length': String(12 * 1024) } }),
    );
    expect(ms).toBeLessThan(1000);
    expect(err.message).toMatch(
      /^PUT 127\.0\.0\.1:\d+\/upload: no response for 0\.\d s \(after 1 attempt; raise request-timeout to wait longer\)$/,
    );
    c.close();
  });

  test('a body trickling a byte at a time never resets the deadline: cut at the budget, one line naming request-timeout', async () => {
    const c = new HttpClient({ budgetMs: 1000, idleTimeoutMs: 300 });
    const res = await c.request({ url: `${trickle.url}/doc.json` });
    expect(res.status).toBe(200);
    const t0 = Date.now();
    const { err } = await caught(res.text());
    const total = Date.now() - t0;
    expect(total).toBeLessThan(1500);
    expect(err.kind).toBe('remote');
    expect(err.retryable).toBe(false); // the user's limit: a caller must not multiply it
    expect(err.message).toMatch(
      /^GET 127\.0\.0\.1:\d+\/doc\.json: not done within 1 s \(the body came too slowly; raise request-timeout to wait longer\)$/,
    );
    c.close();
  });

  test('declared content gets its size at the slowest rate accepted, the smaller of Content-Length and what the caller expects', async () => {
    // 1000 bytes declared, 20 expected by the caller, at 20 B/s: 1 s more than the 1 s budget. (The budget leaves the
    // headers room on a loaded machine: with 0.5 s, a late event loop spent it before the extension was granted.)
    const c = new HttpClient({ budgetMs: 1000, idleTimeoutMs: 300, minRateBytesPerSec: 20 });
    const t0 = Date.now();
    const res = await c.request({ url: `${trickle.url}/blob`, contentUpTo: 20 });
    const { err } = await caught(res.bytes());
    const ms = Date.now() - t0;
    expect(err.message).toMatch(/^GET 127\.0\.0\.1:\d+\/blob: not done within 2 s \(the body came too slowly; raise request-timeout/);
    expect(ms).toBeGreaterThanOrEqual(1900);
    expect(ms).toBeLessThan(3200);
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
