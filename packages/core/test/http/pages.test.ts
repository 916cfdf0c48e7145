// Every paginated listing ends: a loopback stand-in registry whose tag list
// links back to a page it served, or pages on for ever, is refused in one line
// after a bounded number of requests (the hostile corpus saw 135,798 a minute).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { IntegrityError } from '../../src/errors.js';
import { NullLogger } from '../../src/log/logger.js';
import { listTags } from '../../src/mirror/source.js';
import { OciSession } from '../../src/oci/repo/session.js';
import { DEFAULTS } from '../../src/defaults.js';

let server: http.Server;
let host: string;
let requests = 0;
/** How the stand-in answers GET /v2/<repo>/tags/list: the Link it sends with each page. */
let link: (page: URL) => string | undefined;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    if (url.pathname === '/v2/') return void res.end('{}');
    requests++;
    const next = link(url);
    res.writeHead(200, { 'content-type': 'application/json', ...(next && { link: `<${next}>; rel="next"` }) });
    res.end(JSON.stringify({ name: 'app', tags: [`t${url.searchParams.get('last') ?? '0'}`] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function session(): OciSession {
  return new OciSession({ env: {}, log: new NullLogger() });
}

describe('paginated listings end (loopback stand-in registry)', () => {
  test('a tag list whose Link names the same page is refused at the second visit, in one line', async () => {
    requests = 0;
    link = (page) => page.pathname + page.search;
    const s = session();
    const err = await listTags(s.registry(host), 'app').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toBe(`registry ${host}: tags of app: the pages link back to /v2/app/tags/list?n=1000`);
    expect(requests).toBe(1);
    s.close();
  });

  test('a tag list that pages on for ever, each page new, stops after the page cap', async () => {
    requests = 0;
    link = (page) => `/v2/app/tags/list?n=1000&last=${Number(page.searchParams.get('last') ?? 0) + 1}`;
    const s = session();
    const err = await listTags(s.registry(host), 'app', 50).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toBe(
      `registry ${host}: tags of app: more than 50 pages, more than Relay follows (the next is /v2/app/tags/list?n=1000&last=50)`,
    );
    expect(requests).toBe(50);
    s.close();
  });

  test('a listing that ends is read whole; the default cap is finite', async () => {
    link = (page) => {
      const n = Number(page.searchParams.get('last') ?? 0);
      return n < 3 ? `/v2/app/tags/list?n=1000&last=${n + 1}` : undefined;
    };
    const s = session();
    expect(await listTags(s.registry(host), 'app')).toEqual(['t0', 't1', 't2', 't3']);
    expect(Number.isFinite(DEFAULTS.maxListPages)).toBe(true);
    s.close();
  });
});
