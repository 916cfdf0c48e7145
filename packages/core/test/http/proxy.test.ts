// Proxies from the environment: NO_PROXY as curl reads it, and HttpClient
// through a real loopback CONNECT / forward proxy (test/support/connect-proxy.ts).
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { HttpClient, bindCredential } from '../../src/http/client.js';
import { bypassesProxy, proxyFor, proxySettings } from '../../src/http/proxy.js';
import { RelayError } from '../../src/errors.js';
import { NullLogger } from '../../src/log/logger.js';
import { startConnectProxy, startSilentServer, type ConnectProxy } from '../../../../test/support/connect-proxy.js';

// Waits on processes and the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(60_000);

describe('proxy settings (curl semantics)', () => {
  const no = (value: string) => proxySettings({ NO_PROXY: value, HTTPS_PROXY: 'http://proxy:3128' });

  test.each([
    ['*', 'anything.example', 443, true],
    ['example.com', 'example.com', 443, true],
    ['example.com', 'www.example.com', 443, true],
    ['example.com', 'badexample.com', 443, false],
    ['.example.com', 'example.com', 443, true],
    ['.example.com', 'a.b.example.com', 443, true],
    ['EXAMPLE.com.', 'Example.COM', 443, true],
    ['registry.local:5000', 'registry.local', 5000, true],
    ['registry.local:5000', 'registry.local', 443, false],
    ['127.0.0.1', '127.0.0.1', 7480, true],
    ['0.0.1', '127.0.0.1', 7480, false],
    ['127.0.0.1', '127.0.0.10', 7480, false],
    ['::1', '::1', 443, true],
    ['[::1]:5000', '[::1]', 5000, true],
    ['[::1]:5000', '::1', 5001, false],
    ['foo.test, bar.test', 'bar.test', 443, true],
    ['foo.test bar.test', 'x.bar.test', 443, true],
    ['', 'localhost', 443, false],
  ])('NO_PROXY=%j: %s:%d bypasses = %s', (value, host, port, expected) => {
    expect(bypassesProxy(no(value), host, port)).toBe(expected);
  });

  test('loopback goes through the proxy unless NO_PROXY names it', () => {
    const s = proxySettings({ HTTP_PROXY: 'http://proxy:3128' });
    expect(proxyFor(s, 'http:', '127.0.0.1', 7480)?.host).toBe('proxy:3128');
    expect(proxyFor(s, 'http:', 'localhost', 5000)?.host).toBe('proxy:3128');
  });

  test('each scheme has its own variable, lower case first; without a scheme a proxy is http://', () => {
    const s = proxySettings({ https_proxy: 'lower:1', HTTPS_PROXY: 'http://upper:2', HTTP_PROXY: 'http://plain:3' });
    expect(s.https).toMatchObject({ protocol: 'http:', host: 'lower:1' });
    expect(s.http?.host).toBe('plain:3');
    // An https URL never uses HTTP_PROXY (curl).
    expect(proxyFor(proxySettings({ HTTP_PROXY: 'http://plain:3' }), 'https:', 'ghcr.io', 443)).toBeUndefined();
    expect(proxySettings({ HTTPS_PROXY: 'https://secure' }).https?.host).toBe('secure:443');
    expect(proxySettings({ HTTPS_PROXY: '  ' }).https).toBeUndefined();
  });

  test('credentials become Proxy-Authorization and never appear in an error', () => {
    const s = proxySettings({ HTTPS_PROXY: 'http://us%40er:p%3Ass@proxy:3128' });
    expect(s.https?.authorization).toBe(`Basic ${Buffer.from('us@er:p:ss').toString('base64')}`);
    expect(s.https?.host).toBe('proxy:3128');
    expect(() => proxySettings({ HTTPS_PROXY: 'socks5://user:hunter2@proxy:1080' })).toThrow(
      'HTTPS_PROXY: only http:// and https:// proxies are supported, got socks5://',
    );
    expect(() => proxySettings({ HTTP_PROXY: 'http://user:hunter2@[bad' })).toThrow(/^HTTP_PROXY: expected a proxy URL/);
    try {
      proxySettings({ HTTP_PROXY: 'http://user:hunter2@[bad' });
    } catch (err) {
      expect((err as Error).message).not.toContain('hunter2');
    }
  });
});

/** A self-signed certificate for 127.0.0.1 and localhost, made by openssl. */
function selfSigned(): { key: string; cert: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-tls-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout',
        path.join(dir, 'key.pem'),
        '-out',
        path.join(dir, 'cert.pem'),
      ],
      { stdio: 'pipe' },
    );
    return { key: fs.readFileSync(path.join(dir, 'key.pem'), 'utf8'), cert: fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8') };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}
type Target = { port: number; seen: Seen[]; close(): Promise<void> };

async function target(server: http.Server): Promise<Target> {
  const seen: Seen[] = [];
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString() });
      const delay = Number(new URL(req.url!, 'http://x').searchParams.get('delay') ?? 0);
      setTimeout(() => res.end(`hello ${req.url}`), delay);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

let tls: { key: string; cert: string };
let secure: Target;
let plain: Target;
let proxy: ConnectProxy;
let authProxy: ConnectProxy;
beforeAll(async () => {
  tls = selfSigned();
  secure = await target(https.createServer({ key: tls.key, cert: tls.cert }));
  plain = await target(http.createServer());
  proxy = await startConnectProxy();
  authProxy = await startConnectProxy({ auth: { user: 'relay', pass: 'pr0xy:secret' } });
});
afterAll(async () => {
  await Promise.all([secure.close(), plain.close(), proxy.close(), authProxy.close()]);
});

describe('HttpClient through a proxy', () => {
  test('https goes through a CONNECT tunnel; the keep-alive connection is reused', async () => {
    proxy.reset();
    const c = new HttpClient({ env: { HTTPS_PROXY: proxy.url }, ca: tls.cert });
    for (const p of ['/v2/', '/v2/a?delay=50']) {
      const url = `https://localhost:${secure.port}${p}`;
      const res = await c.request({ url, credential: bindCredential('Bearer registry-token', url) });
      expect(await res.text()).toBe(`hello ${p}`);
    }
    expect(proxy.tunnels).toEqual([`localhost:${secure.port}`]);
    expect(proxy.connections).toBe(1);
    expect(proxy.bytes).toBeGreaterThan(1000); // the TLS handshake and both exchanges went through it
    expect(proxy.heads).not.toContain('registry-token'); // inside the tunnel, encrypted
    c.close();
  });

  test('http goes as absolute-form requests, bodies included', async () => {
    proxy.reset();
    const c = new HttpClient({ env: { http_proxy: proxy.url }, retry: { baseMs: 5, maxMs: 10 } });
    const res = await c.request({ method: 'PUT', url: `http://127.0.0.1:${plain.port}/up?x=1`, body: 'payload' });
    expect(await res.text()).toBe('hello /up?x=1');
    expect(proxy.requests).toEqual([`PUT http://127.0.0.1:${plain.port}/up?x=1`]);
    const last = plain.seen.at(-1)!;
    expect(last).toMatchObject({ method: 'PUT', url: '/up?x=1', body: 'payload' });
    expect(last.headers.host).toBe(`127.0.0.1:${plain.port}`);
    c.close();
  });

  test('NO_PROXY hosts bypass the proxy', async () => {
    proxy.reset();
    const c = new HttpClient({
      env: { HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url, NO_PROXY: `localhost,127.0.0.1:${plain.port}` },
      ca: tls.cert,
    });
    expect(await (await c.request({ url: `https://localhost:${secure.port}/direct` })).text()).toBe('hello /direct');
    expect(await (await c.request({ url: `http://127.0.0.1:${plain.port}/direct` })).text()).toBe('hello /direct');
    expect(proxy.connections).toBe(0);
    c.close();
  });

  test('proxy credentials go to the proxy only, as Proxy-Authorization, and are masked', async () => {
    authProxy.reset();
    const log = new NullLogger();
    const env = { HTTPS_PROXY: authProxy.urlWith('relay', 'pr0xy:secret'), HTTP_PROXY: authProxy.urlWith('relay', 'pr0xy:secret') };
    const c = new HttpClient({ env, ca: tls.cert, log });
    expect(await (await c.request({ url: `https://localhost:${secure.port}/t` })).text()).toBe('hello /t');
    expect(await (await c.request({ url: `http://127.0.0.1:${plain.port}/f` })).text()).toBe('hello /f');
    const basic = `Basic ${Buffer.from('relay:pr0xy:secret').toString('base64')}`;
    expect(authProxy.authorizations).toEqual([basic, basic]);
    for (const s of [...secure.seen, ...plain.seen]) expect(s.headers['proxy-authorization']).toBeUndefined();
    log.info(`a line with ${basic.slice('Basic '.length)} and pr0xy:secret in it`);
    expect(log.lines.join('\n')).not.toMatch(/pr0xy:secret|cmVsYXk6cHIweHk6c2VjcmV0/);
    c.close();
  });

  test('a proxy refusing the credentials is an auth error that never prints them', async () => {
    const env = { HTTPS_PROXY: authProxy.urlWith('relay', 'wrong-pass'), HTTP_PROXY: authProxy.urlWith('relay', 'wrong-pass') };
    const c = new HttpClient({ env, ca: tls.cert });
    for (const url of [`https://localhost:${secure.port}/x`, `http://127.0.0.1:${plain.port}/x`]) {
      const err = (await c.request({ url }).catch((e: unknown) => e)) as RelayError;
      expect(err.kind).toBe('auth');
      expect(err.message).toContain(`proxy ${authProxy.host}`);
      expect(err.message).toContain('407');
      expect(err.message).not.toMatch(/wrong-pass|relay:/);
    }
    c.close();
  });

  test('a proxy that never answers CONNECT fails on the connect timeout, naming the proxy', async () => {
    const silent = await startSilentServer();
    const c = new HttpClient({
      env: { HTTPS_PROXY: `http://${silent.host}` },
      connectTimeoutMs: 300,
      budgetMs: 5000,
      retry: { attempts: 2, baseMs: 5, maxMs: 10 },
    });
    const t0 = Date.now();
    const err = (await c.request({ url: 'https://registry.example.com/v2/' }).catch((e: unknown) => e)) as RelayError;
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(err.kind).toBe('remote');
    expect(err.message).toBe(`GET registry.example.com/v2/: proxy ${silent.host}: no answer to CONNECT within 0.3 s (after 2 attempts)`);
    c.close();
    await silent.close();
  });

  test('a target that never answers, behind the tunnel, fails within the budget naming the proxy', async () => {
    const silent = await startSilentServer();
    const c = new HttpClient({ env: { HTTPS_PROXY: proxy.url }, budgetMs: 1500, idleTimeoutMs: 500, retry: { baseMs: 5, maxMs: 10 } });
    const t0 = Date.now();
    const err = (await c.request({ url: `https://localhost:${silent.port}/v2/` }).catch((e: unknown) => e)) as RelayError;
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(err.kind).toBe('remote');
    expect(err.message).toMatch(
      new RegExp(
        `^GET localhost:${silent.port}/v2/ via proxy ${proxy.host.replace(/\./g, '\\.')}: no response for 1\\.5 s \\(after [2-9] attempts; raise request-timeout to wait longer\\)$`,
      ),
    );
    c.close();
    await silent.close();
  });

  test('a slow answer through a tunnel is not mistaken for a slow connect', async () => {
    const c = new HttpClient({ env: { HTTPS_PROXY: proxy.url }, ca: tls.cert, connectTimeoutMs: 200, retry: { attempts: 1 } });
    expect(await (await c.request({ url: `https://localhost:${secure.port}/s?delay=600` })).text()).toBe('hello /s?delay=600');
    c.close();
  });
});
