// A loopback forward proxy, as a corporate egress proxy behaves: CONNECT
// tunnels (for https targets) and absolute-form requests (for http targets),
// optionally demanding Basic credentials. It counts what passes through so a
// test can prove traffic went through it, or did not.
//
// Usage: const proxy = await startConnectProxy({ auth: { user: 'u', pass: 'p' } });
//        ...env: { HTTPS_PROXY: proxy.urlWith('u', 'p') }...
//        expect(proxy.tunnels).toEqual(['127.0.0.1:8443']); await proxy.close();
import { createServer, request, type IncomingMessage, type ServerResponse, type OutgoingHttpHeaders } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { pipeline } from 'node:stream';

export interface ConnectProxy {
  /** http://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT */
  host: string;
  /** The proxy URL with credentials, as HTTPS_PROXY would carry them. */
  urlWith(user: string, pass: string): string;
  /** TCP connections accepted from clients. */
  readonly connections: number;
  /** host:port of each CONNECT tunnel opened. */
  readonly tunnels: readonly string[];
  /** METHOD absolute-URL of each forwarded http request. */
  readonly requests: readonly string[];
  /** Bytes relayed, both directions, tunnels and forwarded requests alike. */
  readonly bytes: number;
  /** Proxy-Authorization values received. */
  readonly authorizations: readonly string[];
  /** Bytes of every request head received (to check what a client never sends). */
  readonly heads: string;
  reset(): void;
  close(): Promise<void>;
}

const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'upgrade', 'te', 'trailer', 'expect']);

export async function startConnectProxy(opts: { auth?: { user: string; pass: string } } = {}): Promise<ConnectProxy> {
  let clients: Socket[] = [];
  let tunnels: string[] = [];
  let requests: string[] = [];
  let authorizations: string[] = [];
  let heads = '';
  const sockets = new Set<Socket>();
  const expected = opts.auth && `Basic ${Buffer.from(`${opts.auth.user}:${opts.auth.pass}`).toString('base64')}`;

  const allowed = (req: IncomingMessage): boolean => {
    heads += `${req.method} ${req.url}\r\n${req.rawHeaders.join('\r\n')}\r\n\r\n`;
    const given = req.headers['proxy-authorization'];
    if (given) authorizations.push(given);
    return !expected || given === expected;
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (!allowed(req)) {
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="test"', connection: 'close' }).end();
      return;
    }
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end('absolute-form request expected\n');
      return;
    }
    requests.push(`${req.method} ${target.href}`);
    const headers: OutgoingHttpHeaders = {};
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!;
      if (!HOP.has(name.toLowerCase())) headers[name] = req.rawHeaders[i + 1];
    }
    const up = request({
      host: target.hostname.replace(/^\[|\]$/g, ''),
      port: target.port || 80,
      method: req.method,
      path: target.pathname + target.search,
      headers,
    });
    up.on('response', (upRes) => {
      if (res.destroyed) return void upRes.destroy();
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, upRes.headers);
      pipeline(upRes, res, () => {});
    });
    up.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(`proxy: ${err.message}\n`);
      else res.destroy();
    });
    pipeline(req, up, () => {});
  });

  server.on('connection', (s: Socket) => {
    clients.push(s);
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    if (!allowed(req)) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(req.url ?? '');
    if (!m) {
      client.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    tunnels.push(req.url!);
    const up = connect(Number(m[2]), m[1]!, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    sockets.add(up);
    up.on('close', () => sockets.delete(up));
    up.on('error', () => client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n'));
    client.on('error', () => up.destroy());
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `http://${host}`,
    host,
    urlWith: (user, pass) => `http://${encodeURIComponent(user)}:${encodeURIComponent(pass)}@${host}`,
    get connections() {
      return clients.length;
    },
    get tunnels() {
      return tunnels;
    },
    get requests() {
      return requests;
    },
    get bytes() {
      return clients.reduce((n, s) => n + s.bytesRead + s.bytesWritten, 0);
    },
    get authorizations() {
      return authorizations;
    },
    get heads() {
      return heads;
    },
    reset: () => {
      clients = [];
      tunnels = [];
      requests = [];
      authorizations = [];
      heads = '';
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A TCP server that accepts connections and never answers, or answers with headers and then stalls. */
export async function startSilentServer(
  mode: 'silent' | 'stall-body' = 'silent',
): Promise<{ host: string; port: number; accepted: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createTcpServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    if (mode === 'stall-body') {
      s.once('data', () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: text/plain\r\n\r\nhalf of the bo'));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    port,
    get accepted() {
      return accepted;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
