import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { DEFAULTS } from '../../../defaults.js';
import { AuthError } from '../../../errors.js';
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

/** The config.json docker/login-action and amazon-ecr-login leave behind. */
export async function readDockerConfig(
  env: Record<string, string | undefined>,
): Promise<{ file: string; config: DockerConfig } | undefined> {
  const dir = env.DOCKER_CONFIG ?? (env.HOME ? path.join(env.HOME, '.docker') : undefined);
  if (!dir) return undefined;
  const file = path.join(dir, 'config.json');
  let bytes: Buffer;
  try {
    bytes = await readLimited(createReadStream(file), DEFAULTS.maxDocumentBytes, file, 'input');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  // The user's own file: a malformed one is theirs to fix.
  return { file, config: parseJsonObject(bytes, file, 'input') as DockerConfig };
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
): Promise<Credential | undefined> {
  return new Promise((resolve, reject) => {
    const child = spawn(`docker-credential-${helper}`, ['get'], { env: env as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'] });
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
export function dockerConfigProvider(host: string, env: Record<string, string | undefined>, log: Logger): CredentialProvider {
  let cached: Promise<Credential | undefined> | undefined;
  const want = keyHost(host);
  const lookup = async (): Promise<Credential | undefined> => {
    const found = await readDockerConfig(env);
    if (!found) return undefined;
    const { file, config } = found;
    const serverUrl = want === 'docker.io' ? HUB_KEY : host;
    const helperFor = Object.entries(config.credHelpers ?? {}).find(([k]) => keyHost(k) === want)?.[1];
    if (helperFor) return runCredentialHelper(helperFor, serverUrl, env);
    const entry = Object.entries(config.auths ?? {}).find(([k]) => keyHost(k) === want);
    const fromFile = entry ? fromEntry(entry[1], `${file} auths["${entry[0]}"]`) : undefined;
    if (fromFile) return fromFile;
    if (config.credsStore) return runCredentialHelper(config.credsStore, serverUrl, env);
    return undefined;
  };
  return {
    source: 'docker config',
    get: () => {
      cached ??= lookup().then((c) => {
        if (c) log.mask(c.kind === 'basic' ? c.password : c.token);
        return c;
      });
      return cached;
    },
  };
}
