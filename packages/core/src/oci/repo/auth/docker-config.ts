import { createReadStream } from 'node:fs';
import path from 'node:path';
import { DEFAULTS } from '../../../defaults.js';
import { AuthError, InputError } from '../../../errors.js';
import { seconds } from '../../../http/budget.js';
import { parseJsonObject, readLimited } from '../../../json.js';
import type { Logger } from '../../../log/logger.js';
import { displayHost } from '../../ref/hosts.js';
import type { Credential, CredentialProvider } from './credentials.js';

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
}
interface DockerConfig {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

const HUB_KEY = 'https://index.docker.io/v1/';

/** `https://127.0.0.1:5001/v2/` and `127.0.0.1:5001` name the same registry; Docker Hub's aliases are one. */
function keyHost(key: string): string {
  return displayHost(key.replace(/^[a-z]+:\/\//i, '').split('/')[0] ?? '');
}

/**
 * The credential files to read, in order: docker's config.json (what
 * docker/login-action and amazon-ecr-login leave; DOCKER_CONFIG or
 * ~/.docker), then the containers auth.json that `skopeo login` and
 * `podman login` write (REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers,
 * else ~/.config/containers). The first file with an entry for a host wins.
 */
export function authFiles(env: Record<string, string | undefined>): string[] {
  const home = env.HOME;
  const files = [
    env.DOCKER_CONFIG ? path.join(env.DOCKER_CONFIG, 'config.json') : home && path.join(home, '.docker', 'config.json'),
    env.REGISTRY_AUTH_FILE,
    env.XDG_RUNTIME_DIR && path.join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'),
    home && path.join(home, '.config', 'containers', 'auth.json'),
  ];
  return [...new Set(files.filter((f): f is string => Boolean(f)))];
}

/** One credential file, or undefined when it does not exist. */
export async function readAuthFile(file: string): Promise<{ file: string; config: DockerConfig } | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readLimited(createReadStream(file), DEFAULTS.maxDocumentBytes, file, 'input');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  // The user's own file: a malformed one is theirs to fix.
  const config = parseJsonObject(bytes, file, 'input');
  checkConfigShape(file, config);
  return { file, config: config as DockerConfig };
}

/** The fields Relay reads have the types docker writes, or the file is refused naming the field. */
function checkConfigShape(file: string, c: Record<string, unknown>): void {
  const bad = (field: string, expected: string): never => {
    throw new InputError(`${file}: '${field}' is not ${expected}`);
  };
  const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (c.auths !== undefined) {
    if (!isObject(c.auths)) bad('auths', 'an object');
    for (const [k, e] of Object.entries(c.auths as Record<string, unknown>)) {
      if (!isObject(e)) bad(`auths["${k}"]`, 'an object');
      for (const f of ['auth', 'username', 'password', 'identitytoken', 'registrytoken'] as const) {
        const v = (e as Record<string, unknown>)[f];
        if (v !== undefined && v !== null && typeof v !== 'string') bad(`auths["${k}"].${f}`, 'a string');
      }
    }
  }
  if (c.credHelpers !== undefined && (!isObject(c.credHelpers) || Object.values(c.credHelpers).some((v) => typeof v !== 'string')))
    bad('credHelpers', 'an object of helper names');
  if (c.credsStore !== undefined && typeof c.credsStore !== 'string') bad('credsStore', 'a helper name');
}

function fromEntry(e: AuthEntry, what: string): Credential | undefined {
  if (e.identitytoken) return { kind: 'identity-token', token: e.identitytoken };
  if (e.registrytoken) return { kind: 'bearer', token: e.registrytoken };
  if (e.username && e.password) return { kind: 'basic', username: e.username, password: e.password };
  if (e.auth) {
    const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i <= 0) throw new AuthError(`${what}: 'auth' is not base64 of user:password`);
    return { kind: 'basic', username: decoded.slice(0, i), password: decoded.slice(i + 1) };
  }
  return undefined;
}

/** Runs `docker-credential-<helper> get`, as docker does. */
export function runCredentialHelper(
  helper: string,
  serverUrl: string,
  env: Record<string, string | undefined>,
  timeoutMs: number = DEFAULTS.subprocessTimeoutMs,
): Promise<Credential | undefined> {
  return new Promise((resolve, reject) => {
    const child = process
      .getBuiltinModule('node:child_process')
      .spawn(`docker-credential-${helper}`, ['get'], { env: env as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'] });
    // A helper that waits for a keychain prompt or a network must not hang the release.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new AuthError(
          `credential helper docker-credential-${helper} did not answer within ${seconds(timeoutMs)} s for ${serverUrl}; raise subprocess-timeout to wait longer`,
        ),
      );
    }, timeoutMs);
    child.on('close', () => clearTimeout(timer));
    let out = '';
    let errOut = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      errOut += c.toString();
    });
    child.on('error', (err) =>
      reject(
        new AuthError(
          `credential helper docker-credential-${helper}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found on PATH' : err.message}`,
        ),
      ),
    );
    child.on('close', (code) => {
      if (code !== 0) {
        // Helpers say "credentials not found" on stdout with a non-zero exit.
        if (/not found/i.test(out + errOut)) return resolve(undefined);
        return reject(new AuthError(`credential helper docker-credential-${helper} failed for ${serverUrl} (exit ${code})`));
      }
      let r: { Username?: unknown; Secret?: unknown };
      try {
        r = parseJsonObject(out, `credential helper docker-credential-${helper}: output`, 'auth');
      } catch (err) {
        return reject(err);
      }
      if (typeof r.Secret !== 'string' || !r.Secret) return resolve(undefined);
      const username = typeof r.Username === 'string' ? r.Username : '';
      resolve(username === '<token>' ? { kind: 'identity-token', token: r.Secret } : { kind: 'basic', username, password: r.Secret });
    });
    child.stdin.end(serverUrl);
  });
}

/** Credentials for `host` from docker's config: credHelpers, then auths, then credsStore. */
export function dockerConfigProvider(
  host: string,
  env: Record<string, string | undefined>,
  log: Logger,
  helperTimeoutMs: number = DEFAULTS.subprocessTimeoutMs,
): CredentialProvider {
  let cached: Promise<Credential | undefined> | undefined;
  const want = keyHost(host);
  let source = 'docker config';
  const lookup = async (): Promise<Credential | undefined> => {
    const serverUrl = want === 'docker.io' ? HUB_KEY : host;
    for (const [i, f] of authFiles(env).entries()) {
      const found = await readAuthFile(f);
      if (!found) continue;
      const { file, config } = found;
      source = i === 0 && f !== env.REGISTRY_AUTH_FILE ? 'docker config' : `containers auth file ${file}`;
      const helperFor = Object.entries(config.credHelpers ?? {}).find(([k]) => keyHost(k) === want)?.[1];
      if (helperFor) return runCredentialHelper(helperFor, serverUrl, env, helperTimeoutMs);
      const entry = Object.entries(config.auths ?? {}).find(([k]) => keyHost(k) === want);
      const fromFile = entry ? fromEntry(entry[1], `${file} auths["${entry[0]}"]`) : undefined;
      if (fromFile) return fromFile;
      if (config.credsStore) {
        const c = await runCredentialHelper(config.credsStore, serverUrl, env, helperTimeoutMs);
        if (c) return c;
      }
    }
    source = 'docker config';
    return undefined;
  };
  return {
    get source() {
      return source;
    },
    get: () => {
      cached ??= lookup().then((c) => {
        if (c) log.mask(c.kind === 'basic' ? c.password : c.token);
        return c;
      });
      return cached;
    },
  };
}
