/**
 * Proxies from the environment, read as curl reads them: https_proxy /
 * HTTPS_PROXY for https URLs, http_proxy / HTTP_PROXY for http URLs, and
 * no_proxy / NO_PROXY for the exceptions. A NO_PROXY entry is `*`, a host
 * (which also matches its subdomains; a leading dot is ignored), or either
 * with `:port`; no CIDR. Loopback is proxied like any other host unless
 * NO_PROXY names it, as curl does.
 */
import { InputError } from '../errors.js';

export type Env = Readonly<Record<string, string | undefined>>;

export interface Proxy {
  /** http: or https: (the scheme spoken to the proxy itself). */
  protocol: 'http:' | 'https:';
  hostname: string;
  port: number;
  /** host:port, for messages: never the credentials. */
  host: string;
  /** The Proxy-Authorization value, from credentials in the proxy URL. */
  authorization?: string;
  /** The password and the encoded credentials, for the logger to mask. */
  secrets: string[];
}

interface NoProxyRule {
  host: string;
  port?: number;
}

export interface ProxySettings {
  http?: Proxy;
  https?: Proxy;
  noProxy: readonly NoProxyRule[] | '*';
}

export const NO_PROXY_SETTINGS: ProxySettings = { noProxy: [] };

function envAny(env: Env, ...names: string[]): { name: string; value: string } | undefined {
  for (const name of names) {
    const value = env[name]?.trim();
    if (value) return { name, value };
  }
  return undefined;
}

/** Lower case first, as curl. Without a scheme the proxy is http://; without a port, the scheme's. */
export function proxySettings(env: Env): ProxySettings {
  const https = envAny(env, 'https_proxy', 'HTTPS_PROXY');
  const http = envAny(env, 'http_proxy', 'HTTP_PROXY');
  const no = envAny(env, 'no_proxy', 'NO_PROXY');
  return {
    ...(https && { https: parseProxy(https.name, https.value) }),
    ...(http && { http: parseProxy(http.name, http.value) }),
    noProxy: no ? parseNoProxy(no.value) : [],
  };
}

function parseProxy(name: string, value: string): Proxy {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  } catch {
    // The value is not shown: it may carry credentials.
    throw new InputError(`${name}: expected a proxy URL such as http://proxy.example.com:3128`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InputError(`${name}: only http:// and https:// proxies are supported, got ${url.protocol}//`);
  }
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  let user: string;
  let pass: string;
  try {
    user = decodeURIComponent(url.username);
    pass = decodeURIComponent(url.password);
  } catch {
    throw new InputError(`${name}: the proxy URL's credentials hold an invalid %-escape`);
  }
  const token = user || pass ? Buffer.from(`${user}:${pass}`).toString('base64') : undefined;
  return {
    protocol: url.protocol,
    hostname: url.hostname.replace(/^\[|\]$/g, ''),
    port,
    host: `${url.hostname}:${port}`,
    ...(token && { authorization: `Basic ${token}` }),
    secrets: [pass, token ?? ''].filter((x) => x.length > 0),
  };
}

function parseNoProxy(value: string): NoProxyRule[] | '*' {
  const rules: NoProxyRule[] = [];
  for (const entry of value.split(/[\s,]+/)) {
    if (entry === '*') return '*';
    // [v6]:port, [v6], v6 (two or more colons), host:port, host
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
    const [host, port] = bracketed ? [bracketed[1], bracketed[2]] : entry.split(':').length === 2 ? entry.split(':') : [entry];
    const name = normalise(host ?? '').replace(/^\./, '');
    if (name && (port === undefined || /^\d+$/.test(port))) rules.push({ host: name, ...(port && { port: Number(port) }) });
  }
  return rules;
}

const normalise = (host: string): string =>
  host
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '');

/** True when NO_PROXY exempts host:port. */
export function bypassesProxy(settings: ProxySettings, hostname: string, port: number): boolean {
  if (settings.noProxy === '*') return true;
  const h = normalise(hostname);
  return settings.noProxy.some(
    (r) =>
      (r.port === undefined || r.port === port) &&
      (h === r.host || (process.getBuiltinModule('node:net').isIP(h) === 0 && h.endsWith(`.${r.host}`))),
  );
}

/** The proxy a request to protocol://hostname:port goes through, if any. */
export function proxyFor(settings: ProxySettings, protocol: string, hostname: string, port: number): Proxy | undefined {
  const proxy = protocol === 'https:' ? settings.https : protocol === 'http:' ? settings.http : undefined;
  return proxy && !bypassesProxy(settings, hostname, port) ? proxy : undefined;
}
