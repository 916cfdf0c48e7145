// The time limits as inputs (request-timeout, subprocess-timeout): parsed and
// bounded, then honoured by real operations run as the CLI runs them, against
// a loopback server that never answers and a credential helper that never ends.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { defineOperation, defineSpec, EXIT, NullLogger, OPERATIONS, parseInputs, type Limits } from '@relay/core';
import { requestTimeoutInput, subprocessTimeoutInput } from '../../core/src/operations/common.js';
import { captured } from '../../../test/support/leaks.js';
import { startSilentServer } from '../../../test/support/connect-proxy.js';
import { providerTarball, rsaKey, tmpDir } from '../../core/test/fixtures.js';
import { runOperation } from '../src/run.js';

// Waits on the disk and loopback servers: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(30_000);

/** Runs `relay <args>` in this process (the source, not the bundle): exit code, stderr, and how long it took. */
async function relay(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stderr: string; ms: number }> {
  const op = OPERATIONS.find((o) => o.spec.name === args[0])!;
  let stderr = '';
  let stdout = '';
  const sink = (add: (s: string) => void): NodeJS.WriteStream =>
    new Writable({
      write(chunk: Buffer, _enc, done) {
        add(chunk.toString());
        done();
      },
    }) as unknown as NodeJS.WriteStream;
  const t0 = Date.now();
  const home = await tmpDir(); // no docker config of this machine's user
  const code = await runOperation(
    op,
    {
      argv: args.slice(1),
      env: { HOME: home, PATH: process.env.PATH ?? '', ...env },
      cwd: home,
      stdout: sink((s) => (stdout += s)),
      stderr: sink((s) => (stderr += s)),
    },
    'relay',
  );
  captured(stdout, stderr);
  return { code, stderr, ms: Date.now() - t0 };
}

describe('the limits are inputs', () => {
  const spec = defineSpec({
    name: 'limited',
    description: 'x',
    inputs: { ...requestTimeoutInput, ...subprocessTimeoutInput },
    branding: { icon: 'x', color: 'blue' },
    outputs: {},
  });
  const limitsOf = async (raw: Record<string, string>): Promise<Limits | undefined> => {
    let seen: Limits | undefined;
    const op = defineOperation(spec, async (_inp, ctx) => {
      seen = ctx.limits;
      return { outputs: {}, plan: [], report: { title: 'x', sections: [] } };
    });
    await op.run(parseInputs(spec, raw, new NullLogger()), { log: new NullLogger(), env: {}, cwd: '/' });
    return seen;
  };

  test('seconds become the run context limits; fractions and the bounds are accepted; not given leaves the defaults', async () => {
    expect(await limitsOf({ 'request-timeout': '2', 'subprocess-timeout': '0.5' })).toEqual({ requestMs: 2000, subprocessMs: 500 });
    expect(await limitsOf({ 'request-timeout': ' 3600 ', 'subprocess-timeout': '0.001' })).toEqual({
      requestMs: 3_600_000,
      subprocessMs: 1,
    });
    expect(await limitsOf({ 'request-timeout': '90' })).toEqual({ requestMs: 90_000 });
    expect(await limitsOf({})).toBeUndefined();
  });

  test.each([
    ['request-timeout', '0', 'seconds, more than 0 and at most 3600, got "0"'],
    ['request-timeout', '-5', 'seconds, more than 0 and at most 3600, got "-5"'],
    ['request-timeout', '3600.5', 'seconds, more than 0 and at most 3600, got "3600.5"'],
    ['request-timeout', '55s', 'a number, got "55s"'],
    ['subprocess-timeout', '1e9', 'seconds, more than 0 and at most 3600, got "1000000000"'],
    ['subprocess-timeout', 'Infinity', 'a number, got "Infinity"'],
  ])('--%s %s is refused on one line, exit 1, before anything runs', async (input, value, expected) => {
    const r = await relay(['copy-image', '127.0.0.1:9/x:y', 'oci:out', `--${input}`, value]);
    expect(r).toMatchObject({ code: EXIT.refused, stderr: `error: input '${input}': expected ${expected}\n` });
  });

  test('every operation that makes requests declares request-timeout, every one that runs subprocesses subprocess-timeout', () => {
    const declaring = (input: string): string[] => OPERATIONS.filter((o) => input in o.spec.inputs).map((o) => o.spec.name);
    expect(declaring('request-timeout').sort()).toEqual(
      [
        'copy-image',
        'mirror-artifact',
        'promote-ecr-image',
        'promote-terraform-provider',
        'publish-terraform-registry',
        'verify-terraform-registry',
      ].sort(),
    );
    expect(declaring('subprocess-timeout').sort()).toEqual(
      ['copy-image', 'mirror-artifact', 'promote-ecr-image', 'publish-terraform-registry'].sort(),
    );
  });
});

/** Runs fn with stand-in AWS keys in the process (the SDK reads its credentials there; a silent server never looks at them). */
async function withAwsKeys<T>(fn: () => Promise<T>): Promise<T> {
  const keys = { AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY };
  process.env.AWS_ACCESS_KEY_ID = 'AKIDLIMITSTEST';
  process.env.AWS_SECRET_ACCESS_KEY = 'not-a-secret';
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(keys))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  }
}

const STORE_SILENT =
  /^error: store s3:\/\/bucket\/prefix: [A-Z]+ \S+ failed after \d attempts?: no response for 2(\.\d)? s \(raise request-timeout to wait longer\)\n$/;

describe('a server that never answers fails the run within request-timeout', () => {
  let silent: Awaited<ReturnType<typeof startSilentServer>>;
  beforeAll(async () => {
    silent = await startSilentServer('silent');
  });
  afterAll(() => silent.close());

  test('copy-image from a registry that accepts and never answers: 2 s, one line naming the input, exit 3', async () => {
    const r = await relay(['copy-image', `${silent.host}/x:y`, 'oci:out', '--request-timeout', '2', '--quiet']);
    expect(r.code).toBe(EXIT.remote);
    expect(r.stderr).toMatch(
      new RegExp(
        `^error: GET ${silent.host}/v2/\\S*: no response for 2(\\.\\d)? s \\(after \\d attempts?; raise request-timeout to wait longer\\)\\n$`,
      ),
    );
    expect(r.ms).toBeGreaterThanOrEqual(1900);
    expect(r.ms).toBeLessThan(10_000); // the default would be 55 s
  });

  test('verify-terraform-registry from an S3 endpoint that never answers: the store is bounded the same way', async () => {
    const r = await withAwsKeys(() =>
      relay([
        'verify-terraform-registry',
        '--registry-url',
        'https://registry.example.com',
        '--namespace',
        'acme',
        '--name',
        'demo',
        '--store',
        's3://bucket/prefix',
        '--s3-endpoint',
        `http://${silent.host}`,
        '--request-timeout',
        '2',
        '--quiet',
      ]),
    );
    expect(r.code).toBe(EXIT.remote);
    expect(r.stderr).toMatch(STORE_SILENT);
    expect(r.ms).toBeLessThan(10_000);
  });

  test('publish-terraform-registry to an S3 endpoint that never answers: one request hangs for request-timeout, and the run ends with it', async () => {
    const dir = await tmpDir();
    const tarball = await providerTarball(dir, 'demo', '1.0.0', 'linux', 'amd64', 'bin\n');
    const signingKey = await rsaKey();
    const before = silent.accepted;
    const r = await withAwsKeys(() =>
      relay(
        [
          'publish-terraform-registry',
          '--namespace',
          'acme',
          '--name',
          'demo',
          '--version',
          '1.0.0',
          '--tarballs',
          tarball,
          '--store',
          's3://bucket/prefix',
          '--s3-endpoint',
          `http://${silent.host}`,
          '--registry-url',
          'https://registry.example.com',
          '--detect-protocols',
          'off',
          '--request-timeout',
          '2',
          '--quiet',
        ],
        { RELAY_SIGNING_KEY: signingKey },
      ),
    );
    expect(r.code).toBe(EXIT.remote);
    expect(r.stderr).toMatch(STORE_SILENT);
    // The first request that hung (the conditional-write probe, before any zip went up) ended the run: the plan did not ask again.
    expect(silent.accepted - before).toBe(1);
  }, 30_000);
});

describe('subprocess-timeout', () => {
  let server: http.Server;
  let host: string;
  beforeAll(async () => {
    // A registry that wants credentials for everything: the credential helper is asked first.
    server = http.createServer((_req, res) => res.writeHead(401, { 'www-authenticate': 'Basic realm="relay-test"' }).end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  test('a credential helper that never ends is killed after 1 s; the refusal names the helper and the input', async () => {
    const dir = await tmpDir();
    const bin = path.join(dir, 'bin');
    await mkdir(bin);
    const pidFile = path.join(dir, 'pid');
    await writeFile(path.join(bin, 'docker-credential-hang'), `#!/bin/sh\necho $$ > '${pidFile}'\nexec sleep 300\n`);
    await chmod(path.join(bin, 'docker-credential-hang'), 0o755);
    await writeFile(path.join(dir, 'config.json'), JSON.stringify({ credHelpers: { [host]: 'hang' } }));
    const r = await relay(['copy-image', `${host}/x:y`, 'oci:out', '--subprocess-timeout', '1', '--quiet'], {
      DOCKER_CONFIG: dir,
      PATH: `${bin}:${process.env.PATH ?? ''}`,
    });
    expect(r.code).toBe(EXIT.refused);
    expect(r.stderr).toMatch(
      /^error: .*credential helper docker-credential-hang did not answer within 1 s for 127\.0\.0\.1:\d+; raise subprocess-timeout to wait longer.*\n$/,
    );
    expect(r.ms).toBeLessThan(10_000); // the default would be 30 s
    // Killed, not abandoned: the helper's process is gone (once reaped).
    const pid = Number(await readFile(pidFile, 'utf8'));
    const alive = (): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 40 && alive(); i++) await new Promise((res) => setTimeout(res, 50));
    expect(alive()).toBe(false);
  });
});

describe('a server trickling a byte at a time fails the run within request-timeout (the deadline covers the body)', () => {
  let server: http.Server;
  let host: string;
  const timers = new Set<NodeJS.Timeout>();
  beforeAll(async () => {
    // Headers at once, then a byte every 200 ms of a body that claims 100 KB: never idle, never done.
    server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100000' });
      const t = setInterval(() => res.write(' '), 200);
      timers.add(t);
      res.on('close', () => clearInterval(t));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const t of timers) clearInterval(t);
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  test('verify-terraform-registry over HTTP: 2 s, one line naming the document and request-timeout, exit 3', async () => {
    const r = await relay([
      'verify-terraform-registry',
      '--registry-url',
      `http://${host}/`,
      '--namespace',
      'acme',
      '--name',
      'demo',
      '--request-timeout',
      '2',
      '--quiet',
    ]);
    expect(r.code).toBe(EXIT.remote);
    expect(r.stderr).toMatch(
      new RegExp(`^error: GET ${host}/\\S+: not done within 2 s \\(the body came too slowly; raise request-timeout to wait longer\\)\\n$`),
    );
    expect(r.ms).toBeGreaterThanOrEqual(1900);
    expect(r.ms).toBeLessThan(10_000);
  }, 30_000);

  test('copy-image from a registry whose answers trickle: 2 s, one line naming request-timeout, exit 3', async () => {
    const r = await relay(['copy-image', `${host}/x:y`, 'oci:out', '--request-timeout', '2', '--quiet']);
    expect(r.code).toBe(EXIT.remote);
    expect(r.stderr).toMatch(/raise request-timeout to wait longer\)\n$/);
    expect(r.stderr.split('\n')).toHaveLength(2);
    expect(r.ms).toBeLessThan(10_000);
  }, 30_000);
});
