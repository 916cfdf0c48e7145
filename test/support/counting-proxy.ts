// A loopback reverse proxy that counts what passes: requests by method and
// path, and response body bytes per request (to prove a source was read
// once). It can add headers to every response (a Docker Hub-style
// `ratelimit-remaining`). Streams both ways; Host passes unchanged, so
// registries build upload Locations that come back through the proxy.
import { Agent, createServer, request, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CountedRequest {
  method: string;
  path: string;
  status: number;
  /** Response body bytes sent to the client. */
  bytes: number;
}

export interface CountingProxy {
  url: string;
  /** 127.0.0.1:PORT: what a mirror file names as the registry. */
  host: string;
  readonly seen: readonly CountedRequest[];
  /** Headers added to every response from now on. */
  addHeaders(h: Record<string, string>): void;
  reset(): void;
  close(): Promise<void>;
}

const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer', 'expect']);
function endToEnd(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if (!HOP.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  return out;
}

export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true });
  let seen: CountedRequest[] = [];
  let extra: Record<string, string> = {};

  const handle = (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void => {
    const entry: CountedRequest = { method: req.method ?? '', path: req.url ?? '', status: 0, bytes: 0 };
    seen.push(entry);
    if (expectsContinue) res.writeContinue();
    const up = request({
      host: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: req.url,
      agent,
      headers: endToEnd(req.rawHeaders) as unknown as OutgoingHttpHeaders,
    });
    up.on('response', (upRes) => {
      entry.status = upRes.statusCode ?? 0;
      const headers = endToEnd(upRes.rawHeaders);
      for (const [k, v] of Object.entries(extra)) headers.push(k, v);
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, headers);
      upRes.on('data', (c: Buffer) => {
        entry.bytes += c.length;
        if (!res.write(c)) {
          upRes.pause();
          res.once('drain', () => upRes.resume());
        }
      });
      upRes.on('end', () => res.end());
      upRes.on('error', () => res.destroy());
    });
    up.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(`counting proxy: ${err.message}\n`);
      else res.destroy();
    });
    req.pipe(up);
  };
  const server = createServer((req, res) => handle(req, res, false));
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => handle(req, res, true));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `http://${host}`,
    host,
    get seen() {
      return seen;
    },
    addHeaders: (h) => {
      extra = { ...extra, ...h };
    },
    reset: () => {
      seen = [];
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}

/** Requests that write (anything but GET and HEAD). */
export function writes(seen: readonly CountedRequest[]): CountedRequest[] {
  return seen.filter((r) => r.method !== 'GET' && r.method !== 'HEAD');
}
