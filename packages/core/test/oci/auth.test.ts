import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { HttpClient, bindCredential } from '../../src/http/client.js';
import { NullLogger } from '../../src/log/logger.js';
import { fixed } from '../../src/oci/repo/auth/credentials.js';
import type { CredentialProvider } from '../../src/oci/repo/auth/credentials.js';
import { dockerConfigProvider, runCredentialHelper } from '../../src/oci/repo/auth/docker-config.js';
import { ecrRegistry } from '../../src/oci/ref/hosts.js';
import { RegistryAuth } from '../../src/oci/repo/auth/registry-auth.js';
import { tmpDir } from '../fixtures.js';

// Waits on the disk and loopback servers: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(30_000);

describe('docker config.json', () => {
  test('auths: base64 user:password, keys with scheme and path, Docker Hub aliases', async () => {
    const dir = await tmpDir();
    await writeFile(
      path.join(dir, 'config.json'),
      JSON.stringify({
        auths: {
          'https://127.0.0.1:5001/v2/': { auth: Buffer.from('alice:s3cret:with:colons').toString('base64') },
          'https://index.docker.io/v1/': { username: 'bob', password: 'hubpass' },
          'quay.io': { identitytoken: 'refresh-tok' },
        },
      }),
    );
    const log = new NullLogger();
    const env = { DOCKER_CONFIG: dir };
    expect(await dockerConfigProvider('127.0.0.1:5001', env, log).get()).toEqual({
      kind: 'basic',
      username: 'alice',
      password: 's3cret:with:colons',
    });
    expect(await dockerConfigProvider('registry-1.docker.io', env, log).get()).toEqual({
      kind: 'basic',
      username: 'bob',
      password: 'hubpass',
    });
    expect(await dockerConfigProvider('quay.io', env, log).get()).toEqual({ kind: 'identity-token', token: 'refresh-tok' });
    expect(await dockerConfigProvider('ghcr.io', env, log).get()).toBeUndefined();
    log.info('s3cret:with:colons hubpass refresh-tok');
    expect(log.lines.at(-1)).toBe('*** *** ***');
  });

  test('credHelpers and credsStore run docker-credential-<helper> get with the server on stdin', async () => {
    const dir = await tmpDir();
    const bin = path.join(dir, 'bin');
    await mkdir(bin);
    // A helper that answers for one server and says "not found" otherwise, as real helpers do.
    for (const [name, user] of [
      ['fake', 'AWS'],
      ['store', '<token>'],
    ] as const) {
      const file = path.join(bin, `docker-credential-${name}`);
      await writeFile(
        file,
        `#!/bin/sh\nread server\nif [ "$1" = get ] && [ "$server" = "$WANT" ]; then echo '{"ServerURL":"'$server'","Username":"${user}","Secret":"sec-${name}"}'; else echo "credentials not found in native keychain"; exit 1; fi\n`,
      );
      await chmod(file, 0o755);
    }
    await writeFile(
      path.join(dir, 'config.json'),
      JSON.stringify({ credHelpers: { '123456789012.dkr.ecr.us-east-1.amazonaws.com': 'fake' }, credsStore: 'store' }),
    );
    const env = { DOCKER_CONFIG: dir, PATH: `${bin}:/usr/bin:/bin` };
    const log = new NullLogger();
    expect(
      await dockerConfigProvider(
        '123456789012.dkr.ecr.us-east-1.amazonaws.com',
        { ...env, WANT: '123456789012.dkr.ecr.us-east-1.amazonaws.com' },
        log,
      ).get(),
    ).toEqual({ kind: 'basic', username: 'AWS', password: 'sec-fake' });
    expect(await dockerConfigProvider('registry-1.docker.io', { ...env, WANT: 'https://index.docker.io/v1/' }, log).get()).toEqual({
      kind: 'identity-token',
      token: 'sec-store',
    });
    expect(await dockerConfigProvider('ghcr.io', { ...env, WANT: 'x' }, log).get()).toBeUndefined();
    await expect(dockerConfigProvider('ghcr.io', { DOCKER_CONFIG: dir, PATH: '/nonexistent' }, log).get()).rejects.toThrow(
      'credential helper docker-credential-store: not found on PATH',
    );
  });

  test('after docker config: REGISTRY_AUTH_FILE, then the containers auth.json (skopeo login, podman login)', async () => {
    const home = await tmpDir();
    const b64 = (u: string): string => Buffer.from(u).toString('base64');
    await mkdir(path.join(home, '.docker'));
    await writeFile(path.join(home, '.docker', 'config.json'), JSON.stringify({ auths: { 'ghcr.io': { auth: b64('docker:one') } } }));
    const authFile = path.join(home, 'auth.json');
    await writeFile(
      authFile,
      JSON.stringify({ auths: { 'quay.io/acme': { auth: b64('skopeo:two') }, 'ghcr.io': { auth: b64('x:shadowed') } } }),
    );
    await mkdir(path.join(home, '.config', 'containers'), { recursive: true });
    await writeFile(
      path.join(home, '.config', 'containers', 'auth.json'),
      JSON.stringify({ auths: { 'docker.io': { auth: b64('podman:three') } } }),
    );
    const log = new NullLogger();
    const env = { HOME: home, REGISTRY_AUTH_FILE: authFile };
    expect(await dockerConfigProvider('ghcr.io', env, log).get()).toEqual({ kind: 'basic', username: 'docker', password: 'one' });
    const quay = dockerConfigProvider('quay.io', env, log);
    expect(await quay.get()).toEqual({ kind: 'basic', username: 'skopeo', password: 'two' });
    expect(quay.source).toBe(`containers auth file ${authFile}`);
    expect(await dockerConfigProvider('registry-1.docker.io', env, log).get()).toEqual({
      kind: 'basic',
      username: 'podman',
      password: 'three',
    });
    expect(
      await dockerConfigProvider('ghcr.io', { HOME: home, DOCKER_CONFIG: await tmpDir(), REGISTRY_AUTH_FILE: authFile }, log).get(),
    ).toEqual({
      kind: 'basic',
      username: 'x',
      password: 'shadowed',
    });
  });

  test('a credential helper that never answers is killed and refused within its time limit', async () => {
    const dir = await tmpDir();
    const bin = path.join(dir, 'bin');
    await mkdir(bin);
    await writeFile(path.join(bin, 'docker-credential-hang'), '#!/bin/sh\nexec sleep 60\n');
    await chmod(path.join(bin, 'docker-credential-hang'), 0o755);
    const started = Date.now();
    await expect(runCredentialHelper('hang', 'ghcr.io', { PATH: `${bin}:/usr/bin:/bin` }, 300)).rejects.toThrow(
      'credential helper docker-credential-hang did not answer within 0.3 s for ghcr.io',
    );
    expect(Date.now() - started).toBeLessThan(5000);
  });

  test('no config file means no credentials', async () => {
    expect(await dockerConfigProvider('ghcr.io', { DOCKER_CONFIG: await tmpDir() }, new NullLogger()).get()).toBeUndefined();
  });
});

describe('ECR hosts', () => {
  test('account and region from the host', () => {
    expect(ecrRegistry('123456789012.dkr.ecr.eu-west-1.amazonaws.com')).toEqual({ account: '123456789012', region: 'eu-west-1' });
    expect(ecrRegistry('123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com')).toEqual({
      account: '123456789012',
      region: 'us-gov-west-1',
    });
    expect(ecrRegistry('123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn')).toEqual({ account: '123456789012', region: 'cn-north-1' });
    expect(ecrRegistry('public.ecr.aws')).toBeUndefined();
    expect(ecrRegistry('12345.dkr.ecr.us-east-1.amazonaws.com')).toBeUndefined();
  });
});

describe('Bearer token flow', () => {
  let server: http.Server;
  let base: string;
  const tokenRequests: { scopes: string[]; auth: string | undefined }[] = [];
  let issued = 0;
  let expiresIn = 300;
  let revoked = new Set<string>();
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/token') {
        tokenRequests.push({ scopes: url.searchParams.getAll('scope'), auth: req.headers.authorization });
        if (req.headers.authorization !== `Basic ${Buffer.from('u:p').toString('base64')}`) return res.writeHead(401).end();
        return res.end(JSON.stringify({ token: `tok-${++issued}-${url.searchParams.getAll('scope').join('+')}`, expires_in: expiresIn }));
      }
      const auth = req.headers.authorization ?? '';
      if (!auth.startsWith('Bearer tok-') || revoked.has(auth.slice(7))) {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${base}/token",service="svc"` });
        return res.end();
      }
      res.end(auth.slice(7));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );

  const session = (provider: CredentialProvider, now?: () => number): RegistryAuth =>
    new RegistryAuth(new URL(base).host, new HttpClient(), provider, new NullLogger(), now);

  test('one token per scope set, cached, fetched with the credentials', async () => {
    tokenRequests.length = 0;
    const s = session(fixed({ kind: 'basic', username: 'u', password: 'p' }, 'test'));
    const pull = ['repository:a:pull'];
    const push = ['repository:b:pull,push', 'repository:a:pull'];
    const [h1, h2, h3] = await Promise.all([s.header(pull), s.header(pull), s.header(push)]);
    expect(h1).toBe(h2);
    expect(h1).toMatch(/^Bearer tok-\d+-repository:a:pull$/);
    expect(h3).toMatch(/^Bearer tok-\d+-repository:b:pull,push\+repository:a:pull$/);
    expect(tokenRequests.map((t) => t.scopes)).toEqual([pull, push]);
  });

  test('an expiring token is fetched again', async () => {
    tokenRequests.length = 0;
    expiresIn = 60;
    let now = Date.now();
    const s = session(fixed({ kind: 'basic', username: 'u', password: 'p' }, 'test'), () => now);
    const first = await s.header(['repository:c:pull']);
    now += 30_000;
    expect(await s.header(['repository:c:pull'])).toBe(first);
    now += 25_000; // within the 10 s slack of its 60 s
    expect(await s.header(['repository:c:pull'])).not.toBe(first);
    expect(tokenRequests).toHaveLength(2);
    expiresIn = 300;
  });

  test('a token the registry refuses is dropped and fetched once more', async () => {
    const s = session(fixed({ kind: 'basic', username: 'u', password: 'p' }, 'test'));
    const scopes = ['repository:d:pull'];
    const h = (await s.header(scopes)) as string;
    revoked = new Set([h.slice(7)]);
    const res = await new HttpClient().request({ url: `${base}/v2/d`, credential: bindCredential(h, base) });
    expect(res.status).toBe(401);
    expect(await s.refused(res, scopes, h)).toBe(true);
    expect(await s.header(scopes)).not.toBe(h);
  });

  test('wrong credentials: the token service refusal names registry and service, not the password', async () => {
    const s = session(fixed({ kind: 'basic', username: 'u', password: 'WRONGPASSWORD' }, "input 'x'"));
    await expect(s.header(['repository:e:pull'])).rejects.toThrow(
      `registry ${new URL(base).host}: token service ${new URL(base).host} refused credentials from input 'x' (HTTP 401)`,
    );
  });
});
