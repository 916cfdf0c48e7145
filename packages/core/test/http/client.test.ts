import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { HttpClient, HttpError, bindCredential, schemeFor } from '../../src/http/client.js';
import { IntegrityError } from '../../src/errors.js';
import { S3Store } from '../../src/store/s3.js';
import { VERSION } from '../../src/version.js';
import { DEFAULT_RETRY, backoffDelay, isRetryableError, parseRetryAfter, retryDecision, withRetry } from '../../src/retry.js';
import { mapLimit } from '../../src/concurrency.js';

// Waits on loopback servers: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(30_000);

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void;
const fast = { baseMs: 5, maxMs: 20 };

/** A loopback server whose behaviour each test sets. */
async function server(): Promise<{ url: string; port: number; set(h: Handler): void; close(): Promise<void> }> {
  let handler: Handler = (_q, r) => r.end('ok');
  const s = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, res, Buffer.concat(chunks)));
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    set: (h) => {
      handler = h;
    },
    close: () =>
      new Promise<void>((r) => {
        s.closeAllConnections();
        s.close(() => r());
      }),
  };
}

let a: Awaited<ReturnType<typeof server>>;
let b: Awaited<ReturnType<typeof server>>;
beforeAll(async () => {
  a = await server();
  b = await server();
});
afterAll(async () => {
  await a.close();
  await b.close();
});

describe('HttpClient', () => {
  test('a credential goes with redirects on its origin, and never to another origin nor back from one', async () => {
    const seen: (string | undefined)[] = [];
    a.set((q, r) => {
      seen.push(`a${q.url} ${q.headers.authorization}`);
      if (q.url === '/start') {
        r.writeHead(307, { location: '/same' }).end();
        return;
      }
      if (q.url === '/same') {
        r.writeHead(302, { location: `${b.url}/other` }).end();
        return;
      }
      r.end('back');
    });
    b.set((q, r) => {
      seen.push(`b${q.url} ${q.headers.authorization}`);
      // A server on another origin sending the chain back to the credential's own: it stays dropped.
      if (q.url === '/other') r.writeHead(302, { location: `${a.url}/back` }).end();
      else r.end();
    });
    const c = new HttpClient();
    const res = await c.request({ url: `${a.url}/start`, credential: bindCredential('Bearer T0KEN', a.url) });
    expect(await res.text()).toBe('back');
    expect(seen).toEqual(['a/start Bearer T0KEN', 'a/same Bearer T0KEN', 'b/other undefined', 'a/back undefined']);
    c.close();
  });

  test('a URL on another origin gets no credential, though the caller passed one (an upload Location, an asset URL)', async () => {
    const seen: (string | undefined)[] = [];
    b.set((q, r) => {
      seen.push(q.headers.authorization);
      r.end();
    });
    const c = new HttpClient();
    // Same host, another port: another origin.
    const res = await c.request({ method: 'PATCH', url: `${b.url}/upload/1`, body: 'x', credential: bindCredential('Basic dTpw', a.url) });
    await res.discard();
    expect(seen).toEqual([undefined]);
    // Bound to several origins (GitHub's API and uploads hosts): each gets it.
    const both = bindCredential('Bearer T', `${a.url}/api/v3`, `${b.url}/uploads`);
    await (await c.request({ url: `${b.url}/uploads/x`, credential: both })).discard();
    expect(seen).toEqual([undefined, 'Bearer T']);
    c.close();
  });

  test('an Authorization header given by hand is a bug, refused before anything is sent', async () => {
    let hits = 0;
    a.set((_q, r) => {
      hits++;
      r.end();
    });
    const c = new HttpClient();
    await expect(c.request({ url: `${a.url}/x`, headers: { Authorization: 'Bearer T' } })).rejects.toThrow(
      /pass credentials as `credential`/,
    );
    expect(hits).toBe(0);
    c.close();
  });

  test('retries 503 and 429, honouring Retry-After in seconds', async () => {
    let n = 0;
    const times: number[] = [];
    a.set((_q, r) => {
      times.push(Date.now());
      n++;
      if (n === 1) r.writeHead(503).end();
      else if (n === 2) r.writeHead(429, { 'retry-after': '1' }).end();
      else r.end('done');
    });
    const c = new HttpClient({ retry: fast });
    const res = await c.request({ url: `${a.url}/x` });
    expect(res.status).toBe(200);
    expect(n).toBe(3);
    expect((times[2] as number) - (times[1] as number)).toBeGreaterThanOrEqual(950);
    c.close();
  });

  test('gives up after the policy and returns the last answer', async () => {
    let n = 0;
    a.set((_q, r) => {
      n++;
      r.writeHead(502).end();
    });
    const c = new HttpClient({ retry: { ...fast, attempts: 3 } });
    const res = await c.request({ url: `${a.url}/x` });
    expect(res.status).toBe(502);
    expect(n).toBe(3);
    c.close();
  });

  test('retries a dropped connection and replays a body factory', async () => {
    let n = 0;
    const bodies: string[] = [];
    a.set((q, r, body) => {
      bodies.push(body.toString());
      if (++n === 1) {
        q.socket.destroy();
        return;
      }
      r.end('stored');
    });
    const c = new HttpClient({ retry: fast });
    const res = await c.request({
      method: 'PUT',
      url: `${a.url}/x`,
      body: () => Readable.from([Buffer.from('pay'), Buffer.from('load')]),
      headers: { 'content-length': '7' },
    });
    expect(await res.text()).toBe('stored');
    expect(bodies).toEqual(['payload', 'payload']);
    c.close();
  });

  test('never retries a one-shot stream body', async () => {
    let n = 0;
    a.set((_q, r) => {
      n++;
      r.writeHead(503).end();
    });
    const c = new HttpClient({ retry: fast });
    const res = await c.request({
      method: 'PUT',
      url: `${a.url}/x`,
      body: Readable.from([Buffer.from('abc')]),
      headers: { 'content-length': '3' },
    });
    expect(res.status).toBe(503);
    expect(n).toBe(1);
    c.close();
  });

  test('a connection reset that persists becomes one line naming the host', async () => {
    a.set((q) => q.socket.destroy());
    const c = new HttpClient({ retry: { ...fast, attempts: 2 } });
    await expect(c.request({ url: `${a.url}/v2/x` })).rejects.toThrow(
      new RegExp(`^GET 127\\.0\\.0\\.1:${a.port}/v2/x: .*after 2 attempts`),
    );
    c.close();
  });

  test('a stalled connection times out and is retried', async () => {
    let n = 0;
    a.set((_q, r) => {
      if (++n === 1) return;
      /* never answer */ r.end('late');
    });
    const c = new HttpClient({ retry: fast, idleTimeoutMs: 200 });
    const res = await c.request({ url: `${a.url}/x` });
    expect(await res.text()).toBe('late');
    expect(n).toBe(2);
    c.close();
  });

  test('bounds requests in flight per host', async () => {
    let active = 0;
    let peak = 0;
    a.set((_q, r) => {
      active++;
      peak = Math.max(peak, active);
      setTimeout(() => {
        active--;
        r.end();
      }, 30);
    });
    const c = new HttpClient({ perHost: 2 });
    await Promise.all(Array.from({ length: 8 }, async () => (await c.request({ url: `${a.url}/x` })).discard()));
    expect(peak).toBe(2);
    c.close();
  });

  test('an abort signal stops a request', async () => {
    a.set(() => {
      /* hang */
    });
    const c = new HttpClient();
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    await expect(c.request({ url: `${a.url}/x`, signal: ac.signal })).rejects.toThrow(/abort/i);
    c.close();
  });

  test('plain HTTP only to loopback or listed hosts', async () => {
    const c = new HttpClient();
    await expect(c.request({ url: 'http://registry.example.com/v2/' })).rejects.toThrow(
      "refusing plain HTTP to registry.example.com: list it in 'insecure-registries' to allow it",
    );
    b.set((q, r) => r.end(q.headers.host));
    const allowed = new HttpClient({
      insecureHosts: ['registry.example.com'],
      connectTo: { 'registry.example.com': `127.0.0.1:${b.port}` },
    });
    expect(await (await allowed.request({ url: 'http://registry.example.com/v2/' })).text()).toBe('registry.example.com');
    expect(schemeFor('localhost:5000')).toBe('http');
    expect(schemeFor('[::1]:5000')).toBe('http');
    expect(schemeFor('127.1.2.3')).toBe('http');
    expect(schemeFor('ghcr.io')).toBe('https');
    expect(schemeFor('10.0.0.1:5000', ['10.0.0.1:5000'])).toBe('http');
    c.close();
    allowed.close();
  });

  test('a redirect to plain HTTP off loopback is refused', async () => {
    a.set((_q, r) => r.writeHead(307, { location: 'http://cdn.example.com/blob' }).end());
    const c = new HttpClient();
    await expect(c.request({ url: `${a.url}/x` })).rejects.toThrow('refusing plain HTTP to cdn.example.com');
    c.close();
  });
});

describe('retry policy', () => {
  test('Retry-After as seconds or HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:03 GMT', now)).toBe(3000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
  test('backoff grows, is capped, jittered, and never undercuts Retry-After', () => {
    const p = { ...DEFAULT_RETRY, baseMs: 100, maxMs: 1000 };
    expect(backoffDelay(p, 1, undefined, () => 0)).toBe(0);
    expect(backoffDelay(p, 1, undefined, () => 1)).toBe(100);
    expect(backoffDelay(p, 4, undefined, () => 1)).toBe(800);
    expect(backoffDelay(p, 10, undefined, () => 1)).toBe(1000);
    expect(backoffDelay(p, 1, 5000, () => 1)).toBe(5000);
    expect(backoffDelay(p, 1, 600_000, () => 1)).toBe(60_000);
  });
  test('what is worth retrying', () => {
    expect(isRetryableError(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isRetryableError(Object.assign(new Error('x'), { code: 'RELAY_IDLE_TIMEOUT' }))).toBe(true);
    expect(isRetryableError(Object.assign(new Error('x'), { code: 'ENOTFOUND' }))).toBe(false);
    expect(isRetryableError(new IntegrityError('digest', { retryable: true }))).toBe(true);
    expect(isRetryableError(new Error('bad input'))).toBe(false);
    expect(retryDecision(new HttpError('429', 429, true, 1500))).toBe(1500);
  });
  test('withRetry with retryDecision stops on errors that are not retryable', async () => {
    const p = { ...DEFAULT_RETRY, ...fast };
    let n = 0;
    await expect(
      withRetry(
        async () => {
          n++;
          throw new Error('bad');
        },
        retryDecision,
        p,
      ),
    ).rejects.toThrow('bad');
    expect(n).toBe(1);
    let m = 0;
    const v = await withRetry(
      async () => {
        if (++m < 3) throw Object.assign(new Error('reset'), { code: 'ECONNRESET' });
        return m;
      },
      retryDecision,
      p,
    );
    expect(v).toBe(3);
  });
  test('mapLimit lets running work finish before reporting the first failure', async () => {
    const finished: number[] = [];
    await expect(
      mapLimit([0, 1, 2, 3, 4], 2, async (i) => {
        await new Promise((r) => setTimeout(r, i === 0 ? 5 : 30));
        if (i === 0) throw new Error('first');
        finished.push(i);
      }),
    ).rejects.toThrow('first');
    expect(finished).toEqual([1]);
  });
});

describe('User-Agent', () => {
  test('every request says relay/<version>, and so does every S3 call', async () => {
    const agents: string[] = [];
    const saved = { access: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    const server = http.createServer((req, res) => {
      agents.push(req.headers['user-agent'] ?? '');
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const client = new HttpClient({});
      await (await client.request({ url: `${base}/x` })).discard();
      client.close();
      // the SDK's credential chain reads the process environment itself
      Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'test-ua', AWS_SECRET_ACCESS_KEY: 'test-ua' });
      Object.assign(
        process.env,
        saved.access && { AWS_ACCESS_KEY_ID: saved.access },
        saved.secret && { AWS_SECRET_ACCESS_KEY: saved.secret },
      );
      const store = new S3Store('bucket', '', { endpoint: base });
      expect(await store.head('key')).toBeUndefined();
    } finally {
      for (const [k, v] of [
        ['AWS_ACCESS_KEY_ID', saved.access],
        ['AWS_SECRET_ACCESS_KEY', saved.secret],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      server.close();
    }
    expect(agents[0]).toBe(`relay/${VERSION}`);
    expect(agents[1]).toMatch(new RegExp(`(^| )relay/${VERSION.replace(/\./g, '\\.')}( |$)`));
  });
});
