// Secrets holding the characters that JSON, URLs and HTML write differently
// (`"`, `\`, `%`, `<`, `&`, a newline): redacted as values before any document
// is serialised, on every exit path of the CLI (issue 18, class 3). Run in
// this process (the source, not the bundle), every output registered with
// the suite's secret scan, which looks for each escaped form too.
import { describe, expect, test } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { ConflictError, defineOperation, defineSpec, OPERATIONS, type AnyOperation } from '@relay/core';
import { captured, secret } from '../../../test/support/leaks.js';
import { forms } from '../../../test/support/leak-scan.mjs';
import { tmpDir } from '../../core/test/fixtures.js';
import { runOperation } from '../src/run.js';

const SECRETS = ['q"uote\\back-1', 'per%25cent<lt>&amp-2', 'two\nlines-secret-3', 'it\'s <b>&"all"</b>-4'].map((s) => secret(s));

async function relay(
  op: AnyOperation,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const sink = (add: (s: string) => void): NodeJS.WriteStream =>
    new Writable({
      write(chunk: Buffer, _enc, done) {
        add(chunk.toString());
        done();
      },
    }) as unknown as NodeJS.WriteStream;
  const home = await tmpDir();
  const code = await runOperation(
    op,
    {
      argv: args,
      env: { HOME: home, PATH: process.env.PATH ?? '', ...env },
      cwd: home,
      stdout: sink((s) => (stdout += s)),
      stderr: sink((s) => (stderr += s)),
    },
    'relay',
  );
  captured(stdout, stderr);
  return { code, stdout, stderr };
}

const leaked = (text: string, s: string): string[] => forms(s).filter((f: string) => text.includes(f));

const spec = defineSpec({
  name: 'stand-in',
  description: 'A stand-in operation for the CLI face.',
  inputs: { token: { description: 'a secret', secret: true }, outcome: { description: 'done, conflict or crash' } },
  outputs: { names: { description: 'a list', type: 'list' }, detail: { description: 'JSON', type: 'json' } },
  branding: { icon: 'box', color: 'gray' },
});
const standIn = defineOperation(spec, async (inp, ctx) => {
  const s = inp.token!;
  ctx.log.info(`as JSON ${JSON.stringify({ s })}, in a URL https://x.test/?q=${encodeURIComponent(s)}`);
  const plan = [{ object: `key-${s}`, action: 'put' as const, why: `the server said ${JSON.stringify(s)}` }];
  ctx.record?.addPlan(plan);
  if (inp.outcome === 'conflict') throw new ConflictError(`object ${JSON.stringify(s)} exists`);
  if (inp.outcome === 'crash') throw new Error(`crashed on ${encodeURIComponent(s)}`);
  return {
    outputs: { names: [s], detail: { s, list: [{ s }] } },
    plan,
    report: { title: `stand-in ${s}`, sections: [{ heading: 'H', text: s }] },
  };
});

describe('secrets in every form, on every exit path', () => {
  test.each(['done', 'conflict', 'crash'])(
    '%s: --json, the text report and stderr hold no form of any secret',
    async (outcome) => {
      for (const s of SECRETS) {
        for (const json of [true, false]) {
          const r = await relay(standIn, ['--outcome', outcome, ...(json ? ['--json'] : [])], { RELAY_TOKEN: s });
          expect(r.code).toBe(outcome === 'done' ? 0 : outcome === 'conflict' ? 1 : 70);
          expect(leaked(r.stdout + r.stderr, s)).toEqual([]);
          if (json) {
            const doc = JSON.parse(r.stdout) as { plan: { object: string }[]; outputs: { detail?: { s: string } } };
            expect(doc.plan[0]!.object).toBe('key-***');
            if (outcome === 'done') expect(doc.outputs.detail!.s).not.toContain(s.split('\n')[0]);
          }
        }
      }
    },
    60_000,
  );

  test('a registry that quotes the password back, JSON-escaped and URL-encoded, in its error: copy-image prints neither', async () => {
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      const auth = req.headers.authorization ?? '';
      const pass = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString().split(':').slice(1).join(':') : '';
      seen.push(pass);
      if (!auth) return res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
      res
        .writeHead(400, { 'content-type': 'application/json' })
        .end(JSON.stringify({ errors: [{ code: 'UNSUPPORTED', message: `password ${pass} (${encodeURIComponent(pass)}) refused` }] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const copy = OPERATIONS.find((o) => o.spec.name === 'copy-image')!;
      for (const s of SECRETS) {
        for (const json of [true, false]) {
          const r = await relay(copy, [`127.0.0.1:${port}/acme/app:1.0`, 'oci:/tmp/relay-never-written:1.0', ...(json ? ['--json'] : [])], {
            RELAY_SOURCE_USERNAME: 'bob',
            RELAY_SOURCE_PASSWORD: s,
          });
          expect(r.code).not.toBe(0);
          expect(r.code).not.toBe(70);
          expect(leaked(r.stdout + r.stderr, s)).toEqual([]);
          // The server's text is shown, the secret in it masked (a refusal is one line: the multi-line one is cut there).
          if (!s.includes('\n')) expect(r.stderr).toMatch(/password \*\*\* \(\*\*\*\) refused/);
          if (json) expect(() => JSON.parse(r.stdout) as unknown).not.toThrow();
        }
      }
      expect(seen).toContain(SECRETS[0]); // the password did reach the registry: the test is not vacuous
    } finally {
      await new Promise((r) => server.close(r));
    }
  }, 120_000);
});
