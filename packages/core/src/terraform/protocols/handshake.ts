/**
 * go-plugin's handshake, from the client side, as Terraform starts a provider:
 * the magic cookie in the environment, the plugin protocol versions it
 * accepts in PLUGIN_PROTOCOL_VERSIONS, a port range, and then the first line
 * the provider prints on stdout:
 *
 *   CORE-PROTOCOL-VERSION|APP-PROTOCOL-VERSION|NETWORK|ADDRESS|PROTOCOL[|SERVER-CERT]
 *   1|6|unix|/tmp/plugin123|grpc|
 *
 * go-plugin's server answers with the newest offered version it has, else its
 * lowest; so offering one version at a time tells which ones it serves. The
 * provider runs in a throwaway directory, with an environment holding only
 * what the handshake needs (no credentials, proxies pointing at a closed
 * loopback port), without network where the machine allows a network
 * namespace and never through a shell (isolate.ts), under a time limit, and
 * its whole process group is killed afterwards whatever happened.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { DEFAULTS } from '../../defaults.js';
import { cancelledBy } from '../../errors.js';
import { probeIsolation, stage, type Isolation, type Launch } from './isolate.js';

/** Terraform's and OpenTofu's magic cookie (plugin.Handshake in terraform-plugin-go). */
export const TF_MAGIC_COOKIE_KEY = 'TF_PLUGIN_MAGIC_COOKIE';
export const TF_MAGIC_COOKIE_VALUE = 'd602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2';
/** The plugin protocol versions Terraform and OpenTofu speak, offered one at a time in this order. */
export const OFFERED_VERSIONS = [5, 6] as const;

export interface HandshakeLine {
  core: number;
  app: number;
  network: string;
  address: string;
  protocol: string;
}

/** One offer and what came of it. */
export type Answer = { offered: number; line: HandshakeLine } | { offered: number; failed: string };

export interface HandshakeResult {
  /** Versions the provider served when offered exactly that version. */
  served: number[];
  answers: Answer[];
}

export interface HandshakeOptions {
  /** How long one start may take to print its line (subprocess-timeout); DEFAULTS.handshakeTimeoutMs if unset. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** How the provider is isolated; probed once per process when not given (tests force one). */
  isolation?: Isolation;
}

/** Parses the handshake line; undefined when it is not one. */
export function parseHandshakeLine(line: string): HandshakeLine | undefined {
  const m = /^(\d+)\|(\d+)\|(tcp|unix)\|([^|]+)\|(grpc|netrpc)(\|[^|]*)?$/.exec(line.trim());
  if (!m) return undefined;
  return { core: Number(m[1]), app: Number(m[2]), network: m[3]!, address: m[4]!, protocol: m[5]! };
}

/** A loopback port nothing listens on (bound, then released), for proxies that must go nowhere. */
async function closedLoopbackPort(): Promise<number> {
  const srv = process.getBuiltinModule('node:net').createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** The whole environment the provider gets: the handshake's variables and nothing of ours. */
export function handshakeEnv(dir: string, offered: number, deadPort: number): Record<string, string> {
  const proxy = `http://127.0.0.1:${deadPort}`;
  const tmp = path.join(dir, 'tmp');
  return {
    [TF_MAGIC_COOKIE_KEY]: TF_MAGIC_COOKIE_VALUE,
    PLUGIN_PROTOCOL_VERSIONS: String(offered),
    // go-plugin's client defaults; only used when the plugin listens on TCP
    PLUGIN_MIN_PORT: '10000',
    PLUGIN_MAX_PORT: '25000',
    // its unix socket and any temporary file stay inside the throwaway directory
    PLUGIN_UNIX_SOCKET_DIR: tmp,
    TMPDIR: tmp,
    HOME: path.join(dir, 'home'),
    // no network: every proxy-aware client goes to a closed port; HashiCorp's checkpoint stays quiet
    HTTPS_PROXY: proxy,
    HTTP_PROXY: proxy,
    ALL_PROXY: proxy,
    https_proxy: proxy,
    http_proxy: proxy,
    all_proxy: proxy,
    CHECKPOINT_DISABLE: '1',
  };
}

/** Kills the process group (the provider and anything it started), ignoring a group already gone. */
function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {}
}

/**
 * Starts the provider once with one offered version and returns its first
 * stdout line, parsed. Never throws for the provider's behaviour (a crash, a
 * hang, garbage, a file the kernel refuses): that is reported in `failed`.
 * Throws only on cancellation. `binary` is Relay's own copy: it is made
 * execute-only while it runs.
 */
export async function handshakeOnce(binary: string, dir: string, offered: number, opts: HandshakeOptions = {}): Promise<Answer> {
  const staged = await stage(opts.isolation ?? (await probeIsolation(opts.timeoutMs ?? DEFAULTS.handshakeTimeoutMs)), binary, dir);
  try {
    return await offerOnce(staged.launch, staged.dir, offered, opts);
  } finally {
    await staged.dispose();
  }
}

async function offerOnce(launch: Launch, dir: string, offered: number, opts: HandshakeOptions): Promise<Answer> {
  const timeoutMs = opts.timeoutMs ?? DEFAULTS.handshakeTimeoutMs;
  const work = path.join(dir, 'work');
  await Promise.all(['work', 'tmp', 'home'].map((d) => fs.mkdir(path.join(dir, d), { recursive: true })));
  // Running as another user (root without namespaces): its directories are its own.
  if (launch.uid !== undefined)
    await Promise.all([dir, ...['work', 'tmp', 'home'].map((d) => path.join(dir, d))].map((d) => fs.chown(d, launch.uid!, launch.gid!)));
  const env = handshakeEnv(dir, offered, await closedLoopbackPort());
  if (opts.signal?.aborted) throw cancelledBy(opts.signal);

  // An absolute command and no shell: what cannot be exec'd fails (isolate.ts says why no shell reads it either).
  const child = process.getBuiltinModule('node:child_process').spawn(launch.command, launch.args, {
    cwd: work,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    ...(launch.uid !== undefined && { uid: launch.uid, gid: launch.gid }),
  });
  let out = Buffer.alloc(0);
  let errTail = '';
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  try {
    return await new Promise<Answer>((resolve, reject) => {
      const fail = (why: string): void => {
        const tail = errTail.replace(/\s+/g, ' ').trim().slice(-200);
        resolve({ offered, failed: tail ? `${why} (stderr: ${tail})` : why });
      };
      timer = setTimeout(() => fail(`no handshake line within ${timeoutMs / 1000} s (raise subprocess-timeout to wait longer)`), timeoutMs);
      onAbort = () => reject(cancelledBy(opts.signal!));
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      child.once('error', (err) => fail(`could not start it: ${err.message}`));
      child.once('exit', (code, sig) => {
        // stdout may still hold the line: give its last data events a moment (a child could keep the pipe open)
        const why = `it exited (${sig ?? `code ${code}`}) before printing a handshake line`;
        const grace = setTimeout(() => fail(why), 250);
        child.stdout.once('end', () => {
          clearTimeout(grace);
          setImmediate(() => fail(why));
        });
      });
      child.stderr.on('data', (c: Buffer) => {
        errTail = (errTail + c.toString('utf8')).slice(-2000);
      });
      child.stdout.on('data', (c: Buffer) => {
        out = Buffer.concat([out, c]).subarray(0, 4096);
        const nl = out.indexOf(0x0a);
        if (nl < 0 && out.length < 4096) return;
        const text = out.toString('utf8', 0, nl < 0 ? out.length : nl);
        const line = parseHandshakeLine(text);
        if (!line) fail(`its first line is not a go-plugin handshake: ${JSON.stringify(text.slice(0, 120))}`);
        else resolve({ offered, line });
      });
    });
  } finally {
    clearTimeout(timer);
    if (onAbort) opts.signal?.removeEventListener('abort', onAbort);
    killGroup(child.pid);
    // SIGKILL cannot be caught; the bound only guards against a kernel that never reports it
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2000).unref())]);
    child.stdout.destroy();
    child.stderr.destroy();
  }
}

/**
 * Offers 5, then 6, one per run; `served` lists the versions answered as
 * offered. A failed first run stops there (a binary that cannot start will
 * not start for the second offer either, and each costs up to the time limit).
 */
export async function runHandshake(binary: string, dir: string, opts: HandshakeOptions = {}): Promise<HandshakeResult> {
  const answers: Answer[] = [];
  const staged = await stage(opts.isolation ?? (await probeIsolation(opts.timeoutMs ?? DEFAULTS.handshakeTimeoutMs)), binary, dir);
  try {
    for (const v of OFFERED_VERSIONS) {
      const a = await offerOnce(staged.launch, path.join(staged.dir, `offer-${v}`), v, opts);
      answers.push(a);
      if ('failed' in a) break;
    }
  } finally {
    await staged.dispose();
  }
  const served = answers.flatMap((a) => ('line' in a && a.line.core === 1 && a.line.app === a.offered ? [a.offered] : []));
  return { served, answers };
}

/** One line for logs: "offered 5: answered 6; offered 6: answered 6". */
export function describeAnswers(answers: Answer[]): string {
  return answers
    .map((a) =>
      'line' in a
        ? `offered ${a.offered}: answered ${a.line.app}${a.line.core !== 1 ? ` (core protocol ${a.line.core}, expected 1)` : ''}`
        : `offered ${a.offered}: ${a.failed}`,
    )
    .join('; ');
}
