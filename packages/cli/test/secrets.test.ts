// Secrets in odd places, through the committed bundle: credentials inside URLs
// and references, and presigned URLs with signatures and session tokens. No
// output (stderr, --json, --debug stack traces) may show them.
import { describe, expect, jest, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { redact } from '@relay/core';
import { captured, secret } from '../../../test/support/leaks.js';
import { tmpDir } from '../../core/test/fixtures.js';

// Waits on processes and the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(60_000);

const run = promisify(execFile);
const ROOT = path.resolve(new URL('../../..', import.meta.url).pathname);
const CLI = path.join(ROOT, 'dist/cli.js');

async function relay(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  return run(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env } }).then(
    (r) => {
      captured(r.stdout, r.stderr);
      return { code: 0, out: r.stdout + r.stderr };
    },
    (e: { code: number; stdout: string; stderr: string }) => {
      captured(e.stdout, e.stderr);
      return { code: e.code, out: e.stdout + e.stderr };
    },
  );
}

describe('redact', () => {
  test.each([
    ['https://user:pa55word@registry.example.com/x', 'https://***@registry.example.com/x'],
    ['s3://AKIAIOSFODNN7:wJalrXUtnFEMI@bucket/prefix', 's3://***@bucket/prefix'],
    ["source 'bob:hunter2hunter2@ghcr.io/acme/app:1.0'", "source '***@ghcr.io/acme/app:1.0'"],
    [
      'GET https://b.s3.amazonaws.com/blob?X-Amz-Algorithm=AWS4&X-Amz-Credential=AKIA%2F&X-Amz-Signature=abc123&X-Amz-Security-Token=FwoGZX',
      'GET https://b.s3.amazonaws.com/blob?X-Amz-Algorithm=AWS4&X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Security-Token=***',
    ],
    [
      'https://acct.blob.core.windows.net/c/b?sv=2020&sig=SAS%2Bsig&se=2030',
      'https://acct.blob.core.windows.net/c/b?sv=***&sig=***&se=***',
    ],
    ['127.0.0.1:5001/relay/x:v1@sha256:' + 'a'.repeat(64), '127.0.0.1:5001/relay/x:v1@sha256:' + 'a'.repeat(64)],
    ['registry/repo@sha256:abc is fine, so is a=b', 'registry/repo@sha256:abc is fine, so is a=b'],
  ])('%s', (text, want) => {
    expect(redact(text)).toBe(want);
  });
});

describe('no secret in any output', () => {
  test('credentials inside registry-url, a store URL and an image reference', async () => {
    const pw = secret('Reg1stryPassw0rd');
    const key = secret('AKIAVERYSECRETKEYID');
    const sk = secret('wJalrXUtnFEMIsecretAccessKey');
    const ref = secret('hunter2hunter2');
    const cases = [
      ['verify-terraform-registry', '--registry-url', `https://release:${pw}@registry.example.com`, '--namespace', 'a', '--name', 'b'],
      [
        'verify-terraform-registry',
        '--registry-url',
        'https://registry.example.com',
        '--namespace',
        'a',
        '--name',
        'b',
        '--store',
        `s3://${key}:${sk}@bucket/x`,
      ],
      ['copy-image', `bob:${ref}@127.0.0.1:5002/acme/app:1.0`, 'oci:/tmp/relay-never-written:1.0'],
    ];
    for (const args of cases) {
      for (const extra of [[], ['--json'], ['--debug']]) {
        const r = await relay([...args, ...extra]);
        expect(r.code).toBe(1);
        for (const s of [pw, key, sk, ref]) expect(r.out).not.toContain(s);
        expect(r.out).toContain('***@');
      }
    }
  }, 90_000);

  test('a presigned blob redirect that fails: neither signature nor session token is printed, even with --debug', async () => {
    const sig = secret('SIGNATUREc0ffee1234');
    const token = secret('SESSIONTOKENFwoGZXIvYXdz');
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: 'sha256:' + 'c'.repeat(64), size: 2 },
        layers: [],
      }),
    );
    const { createHash } = await import('node:crypto');
    const digest = 'sha256:' + createHash('sha256').update(manifest).digest('hex');
    const server = http.createServer((req, res) => {
      const port = (server.address() as AddressInfo).port;
      if (req.url === '/v2/') return res.writeHead(200).end('{}');
      if (req.url?.startsWith('/v2/acme/app/manifests/')) {
        return res
          .writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': digest })
          .end(req.method === 'HEAD' ? undefined : manifest);
      }
      if (req.url?.startsWith('/v2/acme/app/blobs/')) {
        return res
          .writeHead(307, {
            location: `http://127.0.0.1:${port}/presigned/blob?X-Amz-Signature=${sig}&X-Amz-Security-Token=${token}&X-Amz-Expires=60`,
          })
          .end();
      }
      res.writeHead(503, { 'retry-after': '0' }).end('storage unavailable');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const dir = await tmpDir();
    try {
      for (const extra of [['--json'], ['--debug']]) {
        const r = await relay(['copy-image', `127.0.0.1:${port}/acme/app:1.0`, `oci:${dir}/out:1.0`, ...extra]);
        expect(r.code).toBe(3);
        expect(r.out).not.toContain(sig);
        expect(r.out).not.toContain(token);
      }
    } finally {
      server.close();
    }
  }, 90_000);
});
