// The referrers probe: a real API answers an OCI index for any digest; 404
// means none; a 200 that is not an index (a login page, `{}`) is a fake the
// copy must not trust. Against an in-process HTTP server.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { NullLogger } from '../../src/log/logger.js';
import { probeReferrers, RegistryWatch } from '../../src/mirror/probe.js';
import { OciSession } from '../../src/oci/repo/session.js';

// Waits on loopback servers: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(30_000);

const DIGEST = 'sha256:' + 'a'.repeat(64);
const answers: Record<string, { status: number; type: string; body: string }> = {
  real: {
    status: 200,
    type: 'application/vnd.oci.image.index.v1+json',
    body: '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}',
  },
  html: { status: 200, type: 'text/html', body: '<html>sign in</html>' },
  empty: { status: 200, type: 'application/json', body: '{}' },
  none: { status: 404, type: 'text/plain', body: '404 page not found' },
};
let server: http.Server;
let host = '';
beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url === '/v2/')
      return void res.writeHead(200, { 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '76;w=21600' }).end('{}');
    const repo = /^\/v2\/([^/]+)\/referrers\//.exec(req.url ?? '')?.[1] ?? 'none';
    const a = answers[repo] ?? answers.none!;
    res.writeHead(a.status, { 'content-type': a.type, 'ratelimit-remaining': repo === 'real' ? '75;w=21600' : '80;w=21600' }).end(a.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('referrers probe', () => {
  test.each([
    ['real', 'api', ''],
    ['html', 'fake 200', '(200 text/html, not an OCI index)'],
    ['empty', 'fake 200', '(200 application/json, not an OCI index)'],
    ['none', 'missing', '(HTTP 404)'],
  ])('%s → %s', async (repo, support, note) => {
    const session = new OciSession({ env: {}, log: new NullLogger() });
    try {
      const got = await probeReferrers(session.registry(host), repo, DIGEST, [`repository:${repo}:pull`]);
      expect(got).toEqual({ support, note });
    } finally {
      session.close();
    }
  });

  test('the watch keeps the lowest ratelimit-remaining a registry sent, and counts requests by method', async () => {
    const session = new OciSession({ env: {}, log: new NullLogger() });
    try {
      const reg = session.registry(host);
      const watch = new RegistryWatch();
      watch.watch(reg);
      await probeReferrers(reg, 'html', DIGEST, []);
      await probeReferrers(reg, 'real', DIGEST, []);
      await probeReferrers(reg, 'none', DIGEST, []);
      expect(watch.rateLimits.get(host)).toEqual({ remaining: 75, remainingText: '75;w=21600' });
      expect(watch.count(host, 'GET')).toBe(3);
    } finally {
      session.close();
    }
  });
});
