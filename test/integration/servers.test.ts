// Smoke test of the test servers themselves (scripts/servers/*), so a broken
// server shows up here, once and plainly, not as odd failures across suites.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { s3sdk, s3Client, s3Settings, makeBucket, registries, type RegistrySettings } from '../support/servers.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { makeOciImage, pushImage, remoteDigest } from '../support/oci-images.js';

// Waits on servers, processes and the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(120_000);

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

/** Parses `Bearer realm="…",service="…",scope="…"`. */
function bearerChallenge(header: string | null): Record<string, string> {
  expect(header).toMatch(/^Bearer /);
  return Object.fromEntries([...header!.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
}

let reg: RegistrySettings;
beforeAll(() => {
  reg = registries();
});

describe('Ceph RGW', () => {
  test('PutObject IfNoneMatch=* creates once, then 412 and the object is unchanged', async () => {
    const Bucket = await makeBucket('smoke');
    const s3 = s3Client();
    try {
      await s3.send(new s3sdk.PutObjectCommand({ Bucket, Key: 'k', Body: 'first', IfNoneMatch: '*' }));
      const err = await s3
        .send(new s3sdk.PutObjectCommand({ Bucket, Key: 'k', Body: 'second', IfNoneMatch: '*' }))
        .catch((e: unknown) => e);
      expect(httpStatus(err)).toBe(412);
      const got = await s3.send(new s3sdk.GetObjectCommand({ Bucket, Key: 'k' }));
      expect(await got.Body!.transformToString()).toBe('first');
    } finally {
      s3.destroy();
    }
  });
});

describe('registries', () => {
  test('anonymous registry answers /v2/', async () => {
    expect((await fetch(`http://${reg.anon}/v2/`)).status).toBe(200);
  });

  test('basic-auth registry: 401 without credentials, 200 with them', async () => {
    const without = await fetch(`http://${reg.basic}/v2/`);
    expect(without.status).toBe(401);
    expect(without.headers.get('www-authenticate')).toMatch(/^Basic /);
    expect((await fetch(`http://${reg.basic}/v2/`, { headers: { authorization: basic(reg.user, reg.pass) } })).status).toBe(200);
  });

  describe('token-auth registry', () => {
    let realm = '',
      service = '';
    const token = async (scopes: string[], user = reg.user, pass = reg.pass) => {
      const q = new URLSearchParams({ service });
      for (const s of scopes) q.append('scope', s);
      const res = await fetch(`${realm}?${q}`, { headers: { authorization: basic(user, pass) } });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { token: string; access_token: string; expires_in: number; issued_at: string };
      expect(body.access_token).toBe(body.token);
      expect(body.expires_in).toBeGreaterThanOrEqual(60);
      return body.token;
    };
    const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

    beforeAll(async () => {
      const res = await fetch(`http://${reg.token}/v2/`);
      expect(res.status).toBe(401);
      ({ realm = '', service = '' } = bearerChallenge(res.headers.get('www-authenticate')));
    });

    test('challenge names a realm; the realm wants credentials; its token opens /v2/', async () => {
      expect(realm).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/token$/);
      expect((await fetch(`${realm}?service=${service}`)).status).toBe(401);
      expect((await fetch(`http://${reg.token}/v2/`, { headers: bearer(await token([])) })).status).toBe(200);
    });

    test('skopeo pushes through the token flow; tokens are limited to their repo and actions', async () => {
      const image = await makeOciImage({ seed: 'servers-smoke', layerSize: 4096 });
      await pushImage(image, `${reg.token}/smoke/app:v1`, `${reg.user}:${reg.pass}`).finally(() =>
        rm(image.dir, { recursive: true, force: true }),
      );
      expect(await remoteDigest(`${reg.token}/smoke/app:v1`, `${reg.user}:${reg.pass}`)).toBe(image.top.digest);

      const manifest = `http://${reg.token}/v2/smoke/app/manifests/v1`;
      const accept = { accept: image.top.mediaType };
      const pull = await token(['repository:smoke/app:pull']);
      expect((await fetch(manifest, { headers: { ...accept, ...bearer(pull) } })).status).toBe(200);
      // pull-only token: upload refused with insufficient_scope
      const upload = await fetch(`http://${reg.token}/v2/smoke/app/blobs/uploads/`, { method: 'POST', headers: bearer(pull) });
      expect(upload.status).toBe(401);
      expect(bearerChallenge(upload.headers.get('www-authenticate'))['error']).toBe('insufficient_scope');
      // token for another repo: refused
      const other = await token(['repository:smoke/other:pull,push']);
      expect((await fetch(manifest, { headers: { ...accept, ...bearer(other) } })).status).toBe(401);
      // the pull-only account asking for push still gets pull only
      const limited = await token(['repository:smoke/app:pull,push'], reg.pullUser, reg.pullPass);
      expect((await fetch(`http://${reg.token}/v2/smoke/app/blobs/uploads/`, { method: 'POST', headers: bearer(limited) })).status).toBe(
        401,
      );
    }, 60_000);
  });
});

describe('fault proxy', () => {
  let proxy: FaultProxy;
  afterAll(async () => {
    await proxy?.close();
  });

  test('injects a 503 with Retry-After, then passes through', async () => {
    proxy = await startFaultProxy(`http://${reg.anon}`);
    proxy.inject({ fault: { kind: 'status', status: 503, retryAfter: 1 }, path: /^\/v2\/$/ });
    const first = await fetch(`${proxy.url}/v2/`);
    expect(first.status).toBe(503);
    expect(first.headers.get('retry-after')).toBe('1');
    expect((await fetch(`${proxy.url}/v2/`)).status).toBe(200);
    expect(proxy.count).toBe(2);
    await proxy.close();
  });

  test('S3 through the proxy: SigV4 stays valid, SDK retries a 503, large bodies stream, corruption and resets reach the client', async () => {
    const Bucket = await makeBucket('proxy');
    proxy = await startFaultProxy(s3Settings().endpoint);
    const s3 = s3Client(proxy.url);
    try {
      const body = randomBytes(24 << 20);
      proxy.inject({ fault: { kind: 'status', status: 503 }, method: 'PUT' });
      await s3.send(new s3sdk.PutObjectCommand({ Bucket, Key: 'big', Body: body }));
      expect(proxy.seen.filter((r) => r.method === 'PUT').map((r) => r.fault ?? 'ok')).toEqual(['status', 'ok']);

      const get = async () =>
        Buffer.from(await (await s3.send(new s3sdk.GetObjectCommand({ Bucket, Key: 'big' }))).Body!.transformToByteArray());
      expect(sha(await get())).toBe(sha(body));

      proxy.inject({ fault: { kind: 'corrupt', offset: 12345 }, method: 'GET' });
      const bad = await get();
      expect(bad.length).toBe(body.length);
      expect(bad[12345]).toBe(body[12345]! ^ 0xff);
      expect(sha(bad.subarray(12346))).toBe(sha(body.subarray(12346)));

      // The SDK does not retry a broken body stream, so this one reaches us.
      proxy.inject({ fault: { kind: 'reset-mid-body', afterBytes: 1 << 20 }, method: 'GET' });
      await expect(get()).rejects.toThrow();
    } finally {
      s3.destroy();
    }
  }, 60_000);
});
