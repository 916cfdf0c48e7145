// What the action face writes to the runner: untrusted strings never become
// workflow commands (issue 18, class 2), secrets never leave in any escaped
// form (class 3), and every output fits GitHub's limits (class 9).
import { afterEach, beforeAll, beforeEach, describe, expect, jest, test } from '@jest/globals';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConflictError, defineOperation, defineSpec, mirrorArtifact, type RunDocument } from '@relay/core';
import { OUTPUTS_MAX, REPORT_OUTPUT_MAX, runAction } from '../src/run-action.js';
import { captured, secret } from '../../../test/support/leaks.js';

let dir: string;
let stdout: string[];
const saved = { ...process.env };
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'relay-untrusted-'));
  writeFileSync(join(dir, 'out'), '');
  writeFileSync(join(dir, 'summary.md'), '');
  process.env.GITHUB_OUTPUT = join(dir, 'out');
  process.env.GITHUB_STEP_SUMMARY = join(dir, 'summary.md');
  process.env.RELAY_REPORT_FILE = join(dir, 'report.json');
  stdout = [];
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout.push(String(chunk));
    return true;
  });
});
afterEach(() => {
  captured(stdout.join(''), read('out'), read('summary.md'), read('report.json'));
  process.env = { ...saved };
  process.exitCode = undefined;
  jest.restoreAllMocks();
});

const read = (name: string): string => {
  try {
    return readFileSync(join(dir, name), 'utf8');
  } catch {
    return '';
  }
};
/** GITHUB_OUTPUT's `name<<delimiter` blocks. */
function outputs(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of read('out').matchAll(/^([\w-]+)<<(.*)\n([\s\S]*?)\n\2$/gm)) out[m[1]!] = m[3]!;
  return out;
}

/**
 * The lines the runner would read as commands: it splits at LF, CR and CRLF,
 * and a command is a line starting with `::` after whitespace, or holding `##[`.
 */
function commandLines(text: string): string[] {
  return text.split(/\r\n|\r|\n/).filter((l) => /^\s*::/.test(l) || l.includes('##['));
}
/** What Relay means to say to the runner: annotations, groups, masks, each one line with its data encoded. */
const INTENDED = /^::(debug|notice|warning|error|group|endgroup|add-mask)::/;

const HOSTILE = [
  'x\n::stop-commands::abc',
  'y\r::add-mask::visible',
  '  ::error file=a.ts::fake annotation',
  'z\r\n##[add-mask]legacy',
  '\u001b[2J\u001b]0;title\u0007cleared',
  '%0A::warning::pre-encoded',
];

const spec = defineSpec({
  name: 'stand-in',
  description: 'A stand-in operation for the action face.',
  inputs: { token: { description: 'a secret', secret: true } },
  outputs: { names: { description: 'a list', type: 'list' }, detail: { description: 'JSON', type: 'json' } },
  branding: { icon: 'box', color: 'gray' },
});

describe('untrusted strings never speak to the runner', () => {
  test('a message with command lines, at every level, in a group title and in the failure line, reaches stdout inert', async () => {
    const op = defineOperation(spec, async (_inp, ctx) => {
      for (const h of HOSTILE) {
        ctx.log.info(`tag ${h}`);
        ctx.log.debug(`tag ${h}`);
        ctx.log.warn(`tag ${h}`);
        ctx.log.error(`tag ${h}`);
        await ctx.log.group(`image ${h}`, async () => ctx.log.info('inside'));
      }
      const plan = HOSTILE.map((h) => ({ object: h, action: 'conflict' as const, why: `server said ${h}` }));
      ctx.record?.addPlan(plan);
      throw new ConflictError(`release ${HOSTILE[0]} exists\n::error::second line`);
    });
    process.env.RUNNER_DEBUG = '1';
    await runAction(op);
    const text = stdout.join('');
    const commands = commandLines(text);
    expect(commands.length).toBeGreaterThan(HOSTILE.length * 4); // the annotations and groups Relay did mean
    for (const line of commands) {
      expect(line).toMatch(INTENDED);
      expect(line).not.toContain('##[');
    }
    expect(text).not.toMatch(/^\s*::stop-commands::/m);
    expect(text).not.toContain('\u001b');
    // Still readable: the message is there, its command escaped.
    expect(text).toMatch(/^%3A:stop-commands::abc$/m);
    expect(text).toMatch(/^::warning::tag x%0A::stop-commands::abc$/m); // one command line, its data encoded
    expect(text).toMatch(/^::error::release x$/m); // a refusal is its first line
    expect(text).toContain('##%5Badd-mask]legacy');
    expect(process.exitCode).toBe(1);
  });

  test('mirror-artifact against a registry stand-in listing names that are not tags: skipped, reported quoted, never a command', async () => {
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.setHeader('content-type', 'application/json');
      if (req.url === '/v2/' || req.url === '/v2') return res.end('{}');
      if (req.url?.startsWith('/v2/app/tags/list'))
        return res.end(JSON.stringify({ name: 'app', tags: ['1.0.0', ...HOSTILE, 'a'.repeat(129), 42] }));
      res.statusCode = 404;
      res.end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'unknown\n::error::said the server\r::add-mask::x' }] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const file = join(dir, 'mirror.yaml');
      writeFileSync(
        file,
        `targets:\n  t: { registry: "127.0.0.1:${port}", repository: "dst/{name}" }\ntiers:\n  gold: [t]\n` +
          `images:\n  - { name: app, source: "127.0.0.1:${port}/app", tier: gold, tag-filter: { regex: ".*" } }\n`,
      );
      process.env.INPUT_CONFIG = file;
      process.env.INPUT_MODE = 'check';
      process.env.INPUT_PARALLEL = '2';
      await runAction(mirrorArtifact);
      const text = stdout.join('');
      for (const line of commandLines(text)) expect(line).toMatch(INTENDED);
      expect(text).toMatch(/^::warning::127\.0\.0\.1:\d+\/app: the registry lists 8 name\(s\) that are not tags/m);
      // Only the real tag was asked for.
      const asked = seen.filter((s) => s.includes('/manifests/')).map((s) => decodeURIComponent(s.split('/manifests/')[1]!));
      expect(asked).toEqual(['1.0.0']);
      const doc = JSON.parse(read('report.json')) as RunDocument;
      expect(JSON.stringify(doc)).not.toContain('stop-commands');
    } finally {
      await new Promise((r) => server.close(r));
    }
  }, 60_000);
});

describe('secrets are redacted as values, in every form', () => {
  // Each holds a character that JSON, URLs or HTML write differently.
  const secrets = ['pa"ss\\word-1', 'per%cent&amp<lt>-2', "it's a\nsecret-3", 'plus+ sp ace-4'];
  for (const s of secrets) secret(s);

  test('none reaches stdout, the outputs, the report output, RELAY_REPORT_FILE or the summary, raw or escaped', async () => {
    const op = defineOperation(spec, async (inp, ctx) => {
      const s = inp.token!;
      ctx.log.info(`raw ${s}, JSON ${JSON.stringify({ s })}, URL https://x.test/?q=${encodeURIComponent(s)}`);
      const plan = [{ object: `key-${s}`, action: 'put' as const, why: `body ${JSON.stringify(s)} <p>${s.replace(/&/g, '&amp;')}</p>` }];
      ctx.record?.addPlan(plan);
      return {
        outputs: { names: [s, `a-${s}`], detail: { s, nested: [{ s }] } },
        plan,
        report: { title: `stand-in ${s}`, sections: [{ heading: 'H', table: { head: ['a'], rows: [[s]] } }] },
      };
    });
    for (const s of secrets) {
      process.env.INPUT_TOKEN = s;
      stdout.length = 0;
      await runAction(op);
      const all = [stdout.join('').replace(/^::add-mask::.*$/gm, ''), read('out'), read('report.json'), read('summary.md')].join('\n');
      for (const form of [s, JSON.stringify(s).slice(1, -1), encodeURIComponent(s), s.replace(/&/g, '&amp;').replace(/</g, '&lt;')])
        expect(all).not.toContain(form);
      // The documents are still the documents, with the values masked.
      const doc = JSON.parse(read('report.json')) as RunDocument;
      expect(doc.plan[0]!.object).toBe('key-***');
      expect(JSON.parse(outputs().report!)).toMatchObject({ outputs: { detail: { s: '***' } } });
      captured(all);
    }
  });

  test('the failure line of a refused run and of a crash goes through the masker', async () => {
    const s = secrets[0]!;
    process.env.INPUT_TOKEN = s;
    await runAction(defineOperation(spec, async () => Promise.reject(new ConflictError(`object ${s} exists`))));
    await runAction(defineOperation(spec, async () => Promise.reject(new Error(`crashed on ${JSON.stringify(s)}`))));
    const text = stdout.join('').replace(/^::add-mask::.*$/gm, '');
    expect(text).toMatch(/^::error::object \*\*\* exists$/m);
    expect(text).toMatch(/^::error::internal error: crashed on "\*\*\*"/m);
    expect(text).not.toContain('ss\\\\word');
  });
});

describe('every output within GitHub limits', () => {
  let big: ReturnType<typeof defineOperation>;
  beforeAll(() => {
    // As mirror-artifact with 3,000 tags: plan rows, a result row per tag, a reference per tag.
    const n = 3000;
    const bigSpec = defineSpec({
      name: 'stand-in',
      description: 'A stand-in with mirror-artifact outputs.',
      inputs: {},
      outputs: {
        status: { description: 's' },
        results: { description: 'r', type: 'json' },
        digests: { description: 'd', type: 'list' },
        counts: { description: 'c', type: 'json' },
      },
      branding: { icon: 'box', color: 'gray' },
    });
    big = defineOperation(bigSpec, async (_inp, ctx) => {
      const tag = (i: number): string => `1.${i}.0-build.${'0'.repeat(20)}${i}`;
      const ref = (i: number): string => `ghcr.io/example-org/some-image:${tag(i)}@sha256:${'ab'.repeat(32)}`;
      const plan = Array.from({ length: n }, (_, i) => ({ object: ref(i), action: 'put' as const, why: 'new tag on the target' }));
      ctx.record?.addPlan(plan);
      const rows = Array.from({ length: n }, (_, i) => ({
        image: 'some-image',
        tag: tag(i),
        target: 'ghcr',
        status: 'created',
        reason: 'x'.repeat(60),
      }));
      return {
        outputs: { status: 'done', results: { mode: 'sync', rows }, digests: plan.map((r) => r.object), counts: { created: n } },
        plan,
        report: { title: 'stand-in', status: 'done', sections: [] },
      };
    }) as unknown as ReturnType<typeof defineOperation>;
  });

  test('with 3,000 tags every output and the report fit, together under 1 MB as UTF-16; the file keeps every row', async () => {
    await runAction(big as never);
    const out = outputs();
    const total = Object.values(out).reduce((n, v) => n + v.length, 0);
    expect(out.report!.length).toBeLessThanOrEqual(REPORT_OUTPUT_MAX);
    expect(total).toBeLessThanOrEqual(OUTPUTS_MAX);
    const file = JSON.parse(read('report.json')) as RunDocument;
    expect(file.plan).toHaveLength(3000);
    expect((file.outputs.digests as string[]).length).toBe(3000);
    // The report output: status, counts, error-free; every list cut to the same first rows, with what was left out counted.
    const doc = JSON.parse(out.report!) as RunDocument & {
      outputs: { digestsOmitted: number; results: { rows: unknown[]; rowsOmitted: number } };
    };
    expect(doc).toMatchObject({ status: 'done', exitCode: 0, outputs: { status: 'done', counts: { created: 3000 } } });
    expect(doc.plan.length + doc.planOmitted!).toBe(3000);
    expect(doc.outputs.results.rows.length + doc.outputs.results.rowsOmitted).toBe(3000);
    expect((doc.outputs.digests as unknown as string[]).length + doc.outputs.digestsOmitted).toBe(3000);
    expect(doc.plan.length).toBeGreaterThan(300);
    expect(doc.plan[0]).toEqual(file.plan[0]);
    // The outputs themselves: whole when small, the first lines and rows when not, each cut said in the log.
    expect(out.status).toBe('done');
    expect(JSON.parse(out.counts!)).toEqual({ created: 3000 });
    const digests = out.digests!.split('\n');
    expect(digests.length).toBeGreaterThan(300);
    expect(digests).toEqual((file.outputs.digests as string[]).slice(0, digests.length));
    const results = JSON.parse(out.results!) as { rows: unknown[]; rowsOmitted: number };
    expect(results.rows.length + results.rowsOmitted).toBe(3000);
    expect(stdout.join('')).toMatch(/^::warning::output 'digests' keeps the first \d+ of 3000 lines .*report\.json has them all$/m);
  }, 60_000);
});
