/**
 * Connection pools that honour the proxy settings per request, shared by
 * HttpClient and every AWS SDK client: https targets through a CONNECT
 * tunnel, http targets as absolute-form requests to the proxy (as curl does),
 * NO_PROXY hosts directly. Proxy credentials go out only as
 * Proxy-Authorization, and only to the proxy.
 */
import type http from 'node:http';
import type https from 'node:https';
import type tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { AuthError, RemoteError } from '../errors.js';
import { isRetryableStatus } from '../retry.js';
import { proxyFor } from './proxy.js';
import type { Proxy, ProxySettings } from './proxy.js';

export interface AgentSettings {
  proxies: ProxySettings;
  /** Bounds reaching the proxy and its answer to CONNECT. */
  connectTimeoutMs: number;
  maxSockets: number;
  /** Extra CA certificates (PEM) for targets and https proxies. */
  ca?: string | Buffer;
}

export interface Agents {
  http: http.Agent;
  https: https.Agent;
}

export function proxyAgents(s: AgentSettings): Agents {
  const base = { keepAlive: true, maxSockets: s.maxSockets, ...(s.ca && { ca: s.ca }) };
  const { ForwardingAgent, TunnellingAgent } = (agentClasses ??= defineAgentClasses());
  return { http: new ForwardingAgent(s, base), https: new TunnellingAgent(s, base) };
}

// Node's network modules load when the first pool is made, not with the CLI: `--help` and a copy
// between layout directories never need them (about 15 ms of start-up).
let agentClasses: ReturnType<typeof defineAgentClasses> | undefined;

const bracket = (host: string): string => (host.includes(':') ? `[${host}]` : host);

type ConnectOptions = https.RequestOptions & { relayProxy?: Proxy };
type Callback = (err: Error | null, socket: Duplex) => void;
/** node's ClientRequest internals that every forwarding proxy agent touches. */
interface Internals {
  _header: string | null;
  outputData?: { data: string | Buffer }[];
}

function defineAgentClasses() {
  const http = process.getBuiltinModule('node:http');
  const https = process.getBuiltinModule('node:https');
  const tls = process.getBuiltinModule('node:tls');

  /** http targets: absolute-form requests to the proxy; NO_PROXY hosts directly. */
  class ForwardingAgent extends http.Agent {
    constructor(
      private readonly s: AgentSettings,
      options: http.AgentOptions,
    ) {
      super(options);
    }

    // Not in @types/node, but the hook every proxy agent uses: called before the socket is chosen.
    addRequest(req: http.ClientRequest, options: ConnectOptions): void {
      const host = String(options.host ?? options.hostname ?? 'localhost').replace(/^\[|\]$/g, '');
      const port = Number(options.port ?? 80);
      const proxy = proxyFor(this.s.proxies, 'http:', host, port);
      if (proxy) {
        const absolute = `http://${bracket(host)}${port === 80 ? '' : `:${port}`}${req.path}`;
        const r = req as unknown as Internals;
        if (r._header) {
          // Expect: 100-continue makes node build and queue the request head before the agent sees
          // the request: rewrite it in place, with the absolute path and the proxy's credentials.
          const old = r._header;
          const head = old
            .replace(`${req.method} ${req.path} HTTP/1.1\r\n`, `${req.method} ${absolute} HTTP/1.1\r\n`)
            .replace(/\r\n\r\n$/, proxy.authorization ? `\r\nProxy-Authorization: ${proxy.authorization}\r\n\r\n` : '\r\n\r\n');
          const first = r.outputData?.[0];
          if (first && typeof first.data === 'string' && first.data.startsWith(old)) first.data = head + first.data.slice(old.length);
          r._header = head;
          req.path = absolute;
        } else {
          req.path = absolute;
          if (proxy.authorization) req.setHeader('proxy-authorization', proxy.authorization);
        }
        options = { ...options, host: proxy.hostname, hostname: proxy.hostname, port: proxy.port, relayProxy: proxy };
      }
      (http.Agent.prototype as unknown as { addRequest(r: http.ClientRequest, o: ConnectOptions): void }).addRequest.call(
        this,
        req,
        options,
      );
    }

    override createConnection(options: ConnectOptions, cb?: Callback): Duplex | null | undefined {
      const proxy = options.relayProxy;
      if (proxy?.protocol === 'https:')
        return tls.connect({ ...(options as tls.ConnectionOptions), host: proxy.hostname, port: proxy.port, servername: proxy.hostname });
      return super.createConnection(options, cb);
    }
  }

  /** https targets: TLS inside a CONNECT tunnel through the proxy; NO_PROXY hosts directly. */
  class TunnellingAgent extends https.Agent {
    constructor(
      private readonly s: AgentSettings,
      options: https.AgentOptions,
    ) {
      super(options);
    }

    override createConnection(options: ConnectOptions, cb?: Callback): Duplex | null | undefined {
      const host = String(options.host ?? options.hostname ?? 'localhost').replace(/^\[|\]$/g, '');
      const port = Number(options.port ?? 443);
      const proxy = proxyFor(this.s.proxies, 'https:', host, port);
      if (!proxy || !cb) return super.createConnection(options, cb);
      tunnel(proxy, `${bracket(host)}:${port}`, this.s).then(
        (socket) => cb(null, tls.connect({ ...(options as tls.ConnectionOptions), socket })),
        (err: Error) => cb(err, undefined as unknown as Duplex),
      );
      return undefined;
    }
  }

  return { ForwardingAgent, TunnellingAgent };
}

/** A raw socket to `authority` through the proxy's CONNECT. */
function tunnel(proxy: Proxy, authority: string, s: AgentSettings): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const req = process.getBuiltinModule(proxy.protocol === 'https:' ? 'node:https' : 'node:http').request({
      method: 'CONNECT',
      host: proxy.hostname,
      port: proxy.port,
      path: authority,
      agent: false,
      headers: { host: authority, ...(proxy.authorization && { 'proxy-authorization': proxy.authorization }) },
      ...(proxy.protocol === 'https:' && { servername: proxy.hostname, ...(s.ca && { ca: s.ca }) }),
    });
    const timer = setTimeout(() => {
      const secs = s.connectTimeoutMs / 1000;
      req.destroy(
        Object.assign(new Error(`proxy ${proxy.host}: no answer to CONNECT within ${secs} s`), { code: 'RELAY_CONNECT_TIMEOUT' }),
      );
    }, s.connectTimeoutMs);
    req.once('connect', (res: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      clearTimeout(timer);
      if (res.statusCode === 200) {
        if (head.length) socket.unshift(head);
        return resolve(socket);
      }
      socket.destroy();
      const status = res.statusCode ?? 0;
      const msg = `proxy ${proxy.host} refused CONNECT to ${authority}: HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}`;
      reject(
        status === 407
          ? new AuthError(`${msg} (check the credentials in the proxy URL)`)
          : new RemoteError(msg, { retryable: isRetryableStatus(status) }),
      );
    });
    req.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end();
  });
}
