// The S3 store and HttpClient on real networks: through a loopback proxy
// (test/support/connect-proxy.ts) to Ceph RGW and a registry, and against
// servers that never answer, stall or refuse.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { HttpClient } from '../../packages/core/src/http/client.js';
import { S3Store } from '../../packages/core/src/store/s3.js';
import { openStoreInput } from '../../packages/core/src/operations/common.js';
import { CancelledError, EXIT, exitCodeFor, type RelayError } from '../../packages/core/src/errors.js';
import { NullLogger } from '../../packages/core/src/log/logger.js';
import { startConnectProxy, startSilentServer, type ConnectProxy } from '../support/connect-proxy.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { makeBucket, registries, s3Client, s3sdk, s3Settings } from '../support/servers.js';

// Waits on servers, processes and the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(120_000);

let s3: ReturnType<typeof s3Settings>;
let bucket: string;
let proxy: ConnectProxy;
let dir: string;
const fast = { baseMs: 20, maxMs: 100 };

beforeAll(async () => {
  s3 = s3Settings();
  // The AWS SDK reads credentials from the process environment (the standard chain).
  process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
  bucket = await makeBucket('net');
  proxy = await startConnectProxy();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-net-'));
});
afterAll(async () => {
  await proxy.close();
  await fs.rm(dir, { recursive: true, force: true });
});

async function caught(p: Promise<unknown>): Promise<{ err: RelayError; ms: number }> {
  const t0 = Date.now();
  try {
    await p;
  } catch (err) {
    return { err: err as RelayError, ms: Date.now() - t0 };
  }
  throw new Error('expected a failure');
}

async function readBack(key: string): Promise<Buffer> {
  const c = s3Client();
  try {
    const r = await c.send(new s3sdk.GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await r.Body!.transformToByteArray());
  } finally {
    c.destroy();
  }
}

const opts = { contentType: 'application/octet-stream', sha256: '0'.repeat(64) };

describe('S3 store through a proxy', () => {
  test('with HTTP_PROXY every call goes through the proxy, a large streamed put included', async () => {
    proxy.reset();
    const store = new S3Store(bucket, 'via-proxy', { endpoint: s3.endpoint, env: { HTTP_PROXY: proxy.url } });
    // Large enough for the SDK to send Expect: 100-continue, which makes node build the request head early.
    const big = randomBytes(3 * 1024 * 1024);
    await fs.writeFile(path.join(dir, 'big.bin'), big);
    await store.put('big.bin', { path: path.join(dir, 'big.bin'), size: big.length }, { ...opts, ifNoneMatch: '*' });
    await store.put('small.txt', Buffer.from('small\n'), { ...opts, contentType: 'text/plain' });
    expect((await store.head('big.bin'))?.size).toBe(big.length);
    expect((await store.get('small.txt'))?.body.toString()).toBe('small\n');
    const chunks: Buffer[] = [];
    for await (const c of (await store.getStream('big.bin'))!) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(big)).toBe(true);
    expect(await store.list('')).toEqual(['big.bin', 'small.txt']);
    await store.delete('small.txt');

    const base = `${s3.endpoint}/${bucket}/via-proxy`;
    expect(proxy.requests).toEqual([
      `PUT ${base}/big.bin?x-id=PutObject`,
      `PUT ${base}/small.txt?x-id=PutObject`,
      `HEAD ${base}/big.bin`,
      `GET ${base}/small.txt?x-id=GetObject`,
      `GET ${base}/big.bin?x-id=GetObject`,
      `GET ${s3.endpoint}/${bucket}/?list-type=2&prefix=via-proxy%2F`,
      `DELETE ${base}/small.txt?x-id=DeleteObject`,
    ]);
    expect(proxy.heads).toMatch(/^expect\r\n100-continue$/im); // the early-built head was rewritten to absolute form
    expect(proxy.bytes).toBeGreaterThan(2 * big.length);
    expect((await readBack('via-proxy/big.bin')).equals(big)).toBe(true);
  });

  test('NO_PROXY naming the endpoint, or only HTTPS_PROXY for an http endpoint, goes direct', async () => {
    proxy.reset();
    const host = new URL(s3.endpoint).host;
    for (const env of [
      { HTTP_PROXY: proxy.url, NO_PROXY: host },
      { HTTP_PROXY: proxy.url, no_proxy: '127.0.0.1' },
      { HTTPS_PROXY: proxy.url },
    ]) {
      const store = new S3Store(bucket, 'direct', { endpoint: s3.endpoint, env });
      await store.put('a.txt', Buffer.from('a'), opts);
      expect((await store.get('a.txt'))?.body.toString()).toBe('a');
    }
    expect(proxy.connections).toBe(0);
  });

  test('an operation opens its store with the proxy from ctx.env', async () => {
    proxy.reset();
    const ctx = { log: new NullLogger(), env: { HTTP_PROXY: proxy.url }, cwd: '/' };
    const store = openStoreInput(`s3://${bucket}/via-proxy`, 'store', s3.endpoint, ctx);
    expect(await store.list('')).toEqual(['big.bin']);
    expect(proxy.requests).toHaveLength(1);
  });

  test('HttpClient reaches a registry through HTTP_PROXY', async () => {
    proxy.reset();
    const c = new HttpClient({ env: { http_proxy: proxy.url } });
    const res = await c.request({ url: `http://${registries().anon}/v2/` });
    expect(res.status).toBe(200);
    await res.discard();
    expect(proxy.requests).toEqual([`GET http://${registries().anon}/v2/`]);
    c.close();
  });
});

describe('S3 store failures are one line, kind remote', () => {
  test('an object trickled a byte at a time is cut at request-timeout, one line naming it (RGW behind a fault proxy)', async () => {
    const proxy = await startFaultProxy(s3.endpoint);
    try {
      const store = new S3Store(bucket, 'trickle', { endpoint: proxy.url, budgetMs: 2000, retry: fast });
      await store.put('slow.bin', Buffer.alloc(4096, 1), opts);
      proxy.inject({ fault: { kind: 'trickle', intervalMs: 100 }, method: 'GET', times: 10 });
      const body = (await store.getStream('slow.bin'))!;
      const t0 = Date.now();
      const { err } = await caught(
        (async () => {
          for await (const _ of body) {
            /* read */
          }
        })(),
      );
      expect(Date.now() - t0).toBeLessThan(4000);
      expect(err.kind).toBe('remote');
      expect(err.message).toMatch(
        /^store s3:\/\/\S+: GET slow\.bin: not done within 2 s \(the body came too slowly; raise request-timeout to wait longer\)$/,
      );
    } finally {
      await proxy.close();
    }
  }, 30_000);

  test('a server that accepts and never answers fails within the budget', async () => {
    const silent = await startSilentServer();
    try {
      const store = new S3Store('b', 'p', { endpoint: `http://${silent.host}`, budgetMs: 2500, idleTimeoutMs: 1000, retry: fast });
      const { err, ms } = await caught(store.put('registry/x', Buffer.from('x'), opts));
      expect(ms).toBeGreaterThanOrEqual(2400);
      expect(ms).toBeLessThan(3500);
      expect(err.kind).toBe('remote');
      expect(exitCodeFor(err)).toBe(EXIT.remote);
      expect(err.message).toMatch(
        /^store s3:\/\/b\/p: PUT registry\/x failed after [2-9] attempts: no response for 2\.5 s \(raise request-timeout to wait longer\)$/,
      );
      expect(silent.accepted).toBeGreaterThanOrEqual(2);
    } finally {
      await silent.close();
    }
  });

  test('the same through a proxy: the tunnel or forward does not hide the hang', async () => {
    const silent = await startSilentServer();
    try {
      proxy.reset();
      const store = new S3Store('b', 'p', {
        endpoint: `http://${silent.host}`,
        env: { HTTP_PROXY: proxy.url },
        budgetMs: 2000,
        idleTimeoutMs: 800,
        retry: fast,
      });
      const { err, ms } = await caught(store.head('k'));
      expect(ms).toBeLessThan(3000);
      expect(err.message).toMatch(
        /^store s3:\/\/b\/p: HEAD k failed after \d+ attempts: no response for 2 s \(raise request-timeout to wait longer\)$/,
      );
      expect(proxy.requests.length).toBeGreaterThanOrEqual(1);
    } finally {
      await silent.close();
    }
  });

  test('a refused connection, after every attempt', async () => {
    const store = new S3Store('b', 'p', { endpoint: 'http://127.0.0.1:1', retry: fast });
    const { err } = await caught(store.put('registry/x', Buffer.from('x'), opts));
    expect(err.kind).toBe('remote');
    expect(err.message).toBe('store s3://b/p: PUT registry/x failed after 6 attempts: connect ECONNREFUSED 127.0.0.1:1');
  });

  test('a body that stalls after the headers fails on the idle timeout', async () => {
    const stall = await startSilentServer('stall-body');
    try {
      const store = new S3Store('b', '', {
        endpoint: `http://${stall.host}`,
        idleTimeoutMs: 300,
        budgetMs: 10_000,
        retry: { ...fast, attempts: 2 },
      });
      const { err, ms } = await caught(store.get('doc.json'));
      expect(ms).toBeLessThan(2000);
      expect(err.kind).toBe('remote');
      expect(err.message).toBe('store s3://b: GET doc.json failed after 2 attempts: no data for 0.3 s');
    } finally {
      await stall.close();
    }
  });

  test("the run's signal cancels a hanging call at once", async () => {
    const silent = await startSilentServer();
    try {
      const ac = new AbortController();
      const store = new S3Store('b', 'p', { endpoint: `http://${silent.host}`, signal: ac.signal });
      setTimeout(() => ac.abort(), 150);
      const { err, ms } = await caught(store.list(''));
      expect(ms).toBeLessThan(600);
      expect(err).toBeInstanceOf(CancelledError);
      expect(exitCodeFor(err)).toBe(EXIT.cancelled);
    } finally {
      await silent.close();
    }
  });

  test('a missing bucket stays an input error, refused credentials an auth error', async () => {
    const missing = new S3Store(`no-such-bucket-${Date.now()}`, 'p', { endpoint: s3.endpoint });
    const { err } = await caught(missing.list(''));
    expect(err.kind).toBe('input');
    expect(err.message).toMatch(/^store s3:\/\/no-such-bucket-\d+\/p: bucket 'no-such-bucket-\d+' does not exist$/);

    const saved = process.env.AWS_SECRET_ACCESS_KEY;
    process.env.AWS_SECRET_ACCESS_KEY = 'not-the-secret';
    try {
      const denied = new S3Store(bucket, 'p', { endpoint: s3.endpoint });
      const { err: e2 } = await caught(denied.put('k', Buffer.from('x'), opts));
      expect(e2.kind).toBe('auth');
      expect(e2.message).toBe(`store s3://${bucket}/p: access denied to write 'k' (check the AWS credentials and bucket policy)`);
    } finally {
      process.env.AWS_SECRET_ACCESS_KEY = saved;
    }
  });
});
