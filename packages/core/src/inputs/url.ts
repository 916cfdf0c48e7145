/**
 * The one check of a host[:port] or an http(s) URL given by a person (an
 * input, a variable, a mirror file), made once where it is read: a port from
 * 1 to 65535 and a host the WHATWG URL parser takes, so that no later
 * `new URL` can fail with "Invalid URL" (a bug, exit 70) on what was the
 * user's to fix. Each returns why the text is not one, or undefined.
 */

/** Why `hostPort` (`host`, `host:port`, `[v6]:port`) is not a network address, or undefined. */
export function hostPortProblem(hostPort: string): string | undefined {
  const port = /:(\d+)$/.exec(hostPort)?.[1];
  if (port !== undefined && !(Number(port) >= 1 && Number(port) <= 65535)) return `port ${port} is not from 1 to 65535`;
  try {
    new URL(`http://${hostPort}/`);
  } catch {
    return `'${hostPort}' is not a host[:port]`;
  }
  return undefined;
}

/** Why `text` is not an absolute http(s) URL with a valid host and port, or undefined. */
export function httpUrlProblem(text: string): string | undefined {
  const m = /^(https?):\/\/([^/?#]*)/i.exec(text);
  if (!m) return 'not an http(s) URL';
  const authority = m[2]!.replace(/^[^@]*@/, '');
  if (authority === '') return 'no host';
  const why = hostPortProblem(authority);
  if (why) return why;
  try {
    new URL(text);
  } catch {
    return 'not a URL';
  }
  return undefined;
}
