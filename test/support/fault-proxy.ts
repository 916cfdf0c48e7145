// A loopback reverse proxy that breaks chosen requests on purpose, to prove
// Relay's retry, resume and digest checks against real servers instead of mocks.
//
// Usage: const proxy = await startFaultProxy('http://127.0.0.1:7480');
//        proxy.inject({ fault: { kind: 'status', status: 503 }, times: 1 });
//        ...point the client at proxy.url...; await proxy.close();
//
// Headers go through unchanged, Host included. That keeps signatures valid: a
// client whose endpoint is proxy.url signs Host = proxy.host (S3 SigV4 signs
// it), and RGW checks the signature against the Host it receives, whatever its
// own address. Registries build upload Location URLs from Host, so follow-up
// requests come back through the proxy too (token realms do not: they are
// absolute URLs to the token server).
//
// Bodies are streamed both ways (never buffered), so multi-GB transfers work.
import { createServer, request, Agent, type IncomingMessage, type ServerResponse, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Transform, pipeline } from 'node:stream';

export type Fault =
  /** Answer with this status without contacting the server. */
  | { kind: 'status'; status: number; retryAfter?: number | string; body?: string; headers?: Record<string, string> }
  /** Drop the connection before any response byte (client sees "socket hang up"). */
  | { kind: 'reset-before' }
  /** Send the server's headers and `afterBytes` body bytes (default: half), then drop the connection. */
  | { kind: 'reset-mid-body'; afterBytes?: number }
  /** Pass the response through with one body byte inverted at `offset` (default: the middle). */
  | { kind: 'corrupt'; offset?: number }
  /** Send the server's headers, then its body one byte every `intervalMs` (default 1000): a server that never quite stalls. */
  | { kind: 'trickle'; intervalMs?: number }
  /** Pass the response through with its Location moved to `origin` (an upload session on another host:port). */
  | { kind: 'location'; origin: string }
  /** Answer 307 to `origin` + the same path and query, without contacting the server (a storage backend redirect). */
  | { kind: 'redirect'; origin: string };

export interface FaultRule {
  fault: Fault;
  /** How many matching requests get the fault (default 1). */
  times?: number;
  /** Only requests with this method (e.g. 'PUT'). */
  method?: string;
  /** Only requests whose path+query matches. */
  path?: RegExp;
}

export interface SeenRequest {
  method: string;
  path: string;
  fault?: Fault['kind'];
  /** The status the client got: the server's, or the injected one (none when the connection was dropped first). */
  status?: number;
  /** The Authorization header the client sent, if any. */
  authorization?: string;
}

export interface FaultProxy {
  /** http://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT, what clients put in Host (and sign). */
  host: string;
  inject(rule: FaultRule): void;
  /** Requests seen since start (or the last reset()), faulted or not. */
  readonly count: number;
  readonly seen: readonly SeenRequest[];
  /** Forget pending faults and the request log. */
  reset(): void;
  close(): Promise<void>;
}

// Hop-by-hop headers belong to each connection, not to the message. `expect`
// is answered by the proxy itself (see checkContinue) so it is not passed on.
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer', 'expect']);

function endToEnd(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (!HOP.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true });
  let rules: Array<Required<Pick<FaultRule, 'times'>> & FaultRule> = [];
  let seen: SeenRequest[] = [];

  function takeFault(req: IncomingMessage): Fault | undefined {
    const rule = rules.find(
      (r) => r.times > 0 && (!r.method || r.method.toUpperCase() === req.method) && (!r.path || r.path.test(req.url ?? '')),
    );
    if (!rule) return undefined;
    rule.times -= 1;
    return rule.fault;
  }

  function handle(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void {
    const fault = takeFault(req);
    const entry: SeenRequest = {
      method: req.method ?? '',
      path: req.url ?? '',
      ...(fault ? { fault: fault.kind } : {}),
      ...(req.headers.authorization !== undefined && { authorization: req.headers.authorization }),
    };
    seen.push(entry);

    if (fault?.kind === 'redirect') {
      req.resume();
      entry.status = 307;
      res.writeHead(307, { location: `${fault.origin}${req.url ?? '/'}`, 'content-length': '0' }).end();
      return;
    }

    if (fault?.kind === 'status') {
      // Not sending 100-continue first means a well-behaved client never uploads the body.
      const headers: OutgoingHttpHeaders = { 'content-type': 'text/plain', ...fault.headers };
      if (fault.retryAfter !== undefined) headers['retry-after'] = String(fault.retryAfter);
      // A client still waiting for 100-continue never sends the announced body, so
      // this connection cannot carry another request.
      if (expectsContinue) headers.connection = 'close';
      req.resume(); // otherwise drain whatever body the client sends anyway
      entry.status = fault.status;
      res.writeHead(fault.status, headers).end(fault.body ?? `fault proxy: injected ${fault.status}\n`);
      return;
    }
    if (fault?.kind === 'reset-before') {
      req.socket.destroy();
      return;
    }
    if (expectsContinue) res.writeContinue();

    const up = request({
      host: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: req.url,
      agent,
      // Raw header array: keeps order, case and repeats, and Host as the client sent it.
      headers: endToEnd(req.rawHeaders) as unknown as OutgoingHttpHeaders,
    });
    up.on('response', (upRes) => {
      entry.status = upRes.statusCode ?? 502;
      let headers = endToEnd(upRes.rawHeaders);
      if (fault?.kind === 'location') {
        headers = headers.map((v, i) =>
          i % 2 === 1 && headers[i - 1]!.toLowerCase() === 'location'
            ? fault.origin + new URL(v, 'http://x').pathname + new URL(v, 'http://x').search
            : v,
        );
      }
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, headers);
      if (fault?.kind === 'trickle') return trickle(upRes, res, fault.intervalMs ?? 1000);
      const length = Number(upRes.headers['content-length'] ?? NaN);
      if (fault?.kind === 'reset-mid-body') return cutAfter(upRes, res, fault.afterBytes ?? Math.max(1, Math.floor((length || 2) / 2)));
      const stages = fault?.kind === 'corrupt' ? [flipByteAt(fault.offset ?? (Number.isFinite(length) ? Math.floor(length / 2) : 0))] : [];
      pipeline([upRes, ...stages, res], () => {});
    });
    up.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(`fault proxy: upstream error ${err.message}\n`);
      else res.destroy();
    });
    pipeline(req, up, () => {});
  }

  const server = createServer((req, res) => handle(req, res, false));
  // Decide per request whether the body is wanted (see the 'status' fault).
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => handle(req, res, true));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: `http://${host}`,
    host,
    inject: (rule) => {
      rules.push({ ...rule, times: rule.times ?? 1 });
    },
    get count() {
      return seen.length;
    },
    get seen() {
      return seen;
    },
    reset: () => {
      rules = [];
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

/** Forward the body one byte per `intervalMs`, for as long as the client listens. */
function trickle(src: IncomingMessage, res: ServerResponse, intervalMs: number): void {
  let pending = Buffer.alloc(0);
  let ended = false;
  src.on('data', (c: Buffer) => {
    pending = Buffer.concat([pending, c]);
    if (pending.length > 64 * 1024) src.pause();
  });
  src.on('end', () => (ended = true));
  const timer = setInterval(() => {
    if (pending.length === 0) {
      if (ended) {
        clearInterval(timer);
        res.end();
      }
      return;
    }
    res.write(pending.subarray(0, 1));
    pending = pending.subarray(1);
    if (pending.length < 1024) src.resume();
  }, intervalMs);
  res.on('close', () => {
    clearInterval(timer);
    src.destroy();
  });
}

/** Forward `limit` body bytes, flush them, then drop the client connection. */
function cutAfter(src: IncomingMessage, res: ServerResponse, limit: number): void {
  let sent = 0;
  src.on('data', (chunk: Buffer) => {
    if (sent >= limit) return;
    const part = chunk.subarray(0, limit - sent);
    sent += part.length;
    if (sent >= limit) {
      src.destroy();
      res.write(part, () => res.socket?.destroy()); // callback: bytes handed to the kernel
    } else if (!res.write(part)) {
      src.pause();
      res.once('drain', () => src.resume());
    }
  });
  // Body shorter than the limit: nothing to cut, the response just completes.
  src.on('end', () => {
    if (sent < limit) res.end();
  });
}

function flipByteAt(offset: number): Transform {
  let pos = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (offset >= pos && offset < pos + chunk.length) {
        chunk = Buffer.from(chunk); // never mutate a buffer the source may reuse
        chunk[offset - pos] = chunk[offset - pos]! ^ 0xff;
      }
      pos += chunk.length;
      done(null, chunk);
    },
  });
}
