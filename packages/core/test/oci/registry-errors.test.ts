// A registry's refusal, from the HTTP status and error body a real server
// sends to the RegistryError Relay throws: kind, spec code, retryable. The
// server is a few lines of node:http on 127.0.0.1; Relay's own code runs as is.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConflictError, RelayError } from '../../src/errors.js';
import { HttpClient } from '../../src/http/client.js';
import { NullLogger } from '../../src/log/logger.js';
import { OCI_MANIFEST } from '../../src/oci/ref/media.js';
import { sha256Digest } from '../../src/oci/ref/digest.js';
import { anonymous, fixed } from '../../src/oci/repo/auth/credentials.js';
import type { CredentialProvider } from '../../src/oci/repo/auth/credentials.js';
import { RegistryAuth } from '../../src/oci/repo/auth/registry-auth.js';
import { Registry } from '../../src/oci/repo/registry.js';
import { RegistryError } from '../../src/oci/repo/registry-errors.js';
import { retryDecision } from '../../src/retry.js';

// Waits on loopback servers: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(30_000);

interface Answer {
  status: number;
  body?: string;
  headers?: Record<string, string>;
}

/** What the server answers for /v2/r/manifests/<name>; /v2/ always says 200 (no auth). */
const answers: Record<string, Answer> = {};
const json = (code: string, message = `${code.toLowerCase()} here`): string => JSON.stringify({ errors: [{ code, message, detail: {} }] });

let server: http.Server;
let port = 0;
beforeAll(async () => {
  server = http.createServer((req, res) => {
    req.resume();
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/v2/') return res.writeHead(200).end('{}');
    const a = answers[url.pathname.split('/').pop() ?? ''] ?? { status: 404, body: json('MANIFEST_UNKNOWN') };
    res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
    res.end(req.method === 'HEAD' ? undefined : a.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(
  () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
);

/** A registry client for `host`, reaching the test server; one attempt per request, so statuses come straight back. */
function registry(host = `127.0.0.1:${port}`, provider: CredentialProvider = anonymous): Registry {
  const log = new NullLogger();
  const httpClient = new HttpClient({ retry: { attempts: 1 }, connectTo: { [host]: `127.0.0.1:${port}` }, insecureHosts: [host] });
  return new Registry(host, httpClient, new RegistryAuth(host, httpClient, provider, log), log);
}

async function refusal(name: string, answer: Answer, method = 'GET', reg = registry()): Promise<RegistryError> {
  answers[name] = answer;
  const err = await reg.call(method, reg.url(`/v2/r/manifests/${name}`), ['repository:r:pull']).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RegistryError);
  expect(err).toBeInstanceOf(RelayError);
  return err as RegistryError;
}

describe('registry errors: status and body to kind, code and retryable', () => {
  test.each([
    // name, status, body, kind, code, retryable
    ['unknown-manifest', 404, json('MANIFEST_UNKNOWN'), 'remote', 'MANIFEST_UNKNOWN', false],
    ['unknown-name', 404, json('NAME_UNKNOWN'), 'remote', 'NAME_UNKNOWN', false],
    ['invalid-manifest', 400, json('MANIFEST_INVALID'), 'remote', 'MANIFEST_INVALID', false],
    ['blob-unknown', 400, json('MANIFEST_BLOB_UNKNOWN'), 'remote', 'MANIFEST_BLOB_UNKNOWN', false],
    ['unsupported', 405, json('UNSUPPORTED'), 'remote', 'UNSUPPORTED', false],
    ['bad-digest', 400, json('DIGEST_INVALID'), 'integrity', 'DIGEST_INVALID', false],
    ['bad-size', 400, json('SIZE_INVALID'), 'integrity', 'SIZE_INVALID', false],
    ['upload-invalid', 400, json('BLOB_UPLOAD_INVALID'), 'remote', 'BLOB_UPLOAD_INVALID', true],
    ['upload-unknown', 404, json('BLOB_UPLOAD_UNKNOWN'), 'remote', 'BLOB_UPLOAD_UNKNOWN', true],
    ['denied', 403, json('DENIED'), 'auth', 'DENIED', false],
    ['unauthorized', 401, json('UNAUTHORIZED'), 'auth', 'UNAUTHORIZED', false],
    ['server-error', 500, json('UNKNOWN'), 'remote', undefined, true],
    ['bad-gateway', 502, '<html>\n<body>502 Bad Gateway</body>\n</html>', 'remote', undefined, true],
  ] as const)('%s: HTTP %d', async (name, status, body, kind, code, retryable) => {
    const err = await refusal(name, { status, body });
    expect(err.status).toBe(status);
    expect(err.kind).toBe(kind);
    expect(err.code).toBe(code);
    expect(err.retryable).toBe(retryable);
    expect(err.temporary()).toBe(retryable);
  });

  test('one line naming the registry, the request, the status, the code and its message', async () => {
    const err = await refusal('said-so', { status: 404, body: json('MANIFEST_UNKNOWN', 'manifest unknown to registry') });
    expect(err.message).toBe(
      `registry 127.0.0.1:${port}: GET /v2/r/manifests/said-so: HTTP 404 MANIFEST_UNKNOWN: manifest unknown to registry`,
    );
  });

  test('a body that is not JSON: no code, its first line as the message', async () => {
    const err = await refusal('html', { status: 502, body: '<html>\n<body>502 Bad Gateway</body>\n</html>' });
    expect(err.code).toBeUndefined();
    expect(err.message).toBe(`registry 127.0.0.1:${port}: GET /v2/r/manifests/html: HTTP 502: <html>`);
  });

  test('a code the spec does not define is kept as reported but typed as unknown', async () => {
    const err = await refusal('tag-invalid', { status: 400, body: json('TAG_INVALID') });
    expect(err.code).toBeUndefined();
    expect(err.reportedCode).toBe('TAG_INVALID');
    expect(err.kind).toBe('remote');
    expect(err.retryable).toBe(false);
  });

  test('429 TOOMANYREQUESTS is retryable after the Retry-After it carries', async () => {
    const err = await refusal('throttled', { status: 429, body: json('TOOMANYREQUESTS'), headers: { 'retry-after': '3' } });
    expect(err.kind).toBe('remote');
    expect(err.code).toBe('TOOMANYREQUESTS');
    expect(err.retryable).toBe(true);
    expect(err.retryAfterMs).toBe(3000);
    expect(retryDecision(err)).toBe(3000);
  });

  test('a HEAD shows no body: the status alone decides', async () => {
    const err = await refusal('head-503', { status: 503, body: json('UNKNOWN') }, 'HEAD');
    expect(err.code).toBeUndefined();
    expect(err.kind).toBe('remote');
    expect(err.retryable).toBe(true);
    expect(err.message).toBe(`registry 127.0.0.1:${port}: HEAD /v2/r/manifests/head-503: HTTP 503`);
  });

  test('refused credentials name their source, never the secret', async () => {
    const reg = registry(`127.0.0.1:${port}`, fixed({ kind: 'basic', username: 'u', password: 'hunter2' }, "input 'source-password'"));
    const err = await refusal('not-yours', { status: 403, body: json('DENIED', 'requested access to the resource is denied') }, 'GET', reg);
    expect(err.kind).toBe('auth');
    expect(err.message).toBe(
      `registry 127.0.0.1:${port}: credentials from input 'source-password' not allowed for GET /v2/r/manifests/not-yours (HTTP 403 DENIED)`,
    );
    expect(err.message).not.toContain('hunter2');
  });

  test("ECR Public's 400 DENIED, and its bodiless 400 on HEAD, are auth refusals", async () => {
    const reg = registry('public.ecr.aws');
    const get = await refusal('expired', { status: 400, body: json('DENIED', 'Your Authorization Token is invalid.') }, 'GET', reg);
    expect([get.kind, get.code, get.retryable]).toEqual(['auth', 'DENIED', false]);
    const head = await refusal('expired-head', { status: 400, body: json('DENIED') }, 'HEAD', reg);
    expect([head.kind, head.code, head.reportedCode]).toEqual(['auth', 'DENIED', 'DENIED']);
    // Elsewhere a 400 is the remote's refusal, not an auth one.
    const other = await refusal('bad-request', { status: 400 }, 'HEAD');
    expect([other.kind, other.code]).toEqual(['remote', undefined]);
  });

  test('a registry refusing to move a tag (TAG_INVALID) is an immutable-tag conflict', async () => {
    answers['v1'] = {
      status: 400,
      body: json('TAG_INVALID', 'The image tag already exists and cannot be overwritten because the repository is immutable.'),
    };
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: {}, layers: [] }));
    const repo = registry().repo('r', 'push');
    const err = await repo.putManifest({ digest: sha256Digest(bytes), mediaType: OCI_MANIFEST, bytes }, 'v1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toBe(
      `immutable tag conflict: 127.0.0.1:${port}/r:v1 exists and the registry refuses to move it to ${sha256Digest(bytes)}`,
    );
  });
});
