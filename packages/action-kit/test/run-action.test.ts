import { afterEach, beforeEach, expect, jest, test } from '@jest/globals';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConflictError, defineOperation, defineSpec, type RunDocument } from '@relay/core';
import { REPORT_OUTPUT_MAX, runAction, SUMMARY_MAX_BYTES } from '../src/run-action.js';

// Waits on the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(30_000);

// A stand-in operation: the face is what is tested here, not a domain.
const spec = defineSpec({
  name: 'stand-in',
  description: 'A stand-in operation for the action face.',
  inputs: {
    outcome: { description: 'done or conflict', required: true },
    token: { description: 'a secret', secret: true },
  },
  outputs: { answer: { description: 'an output' } },
  branding: { icon: 'box', color: 'gray' },
});
const op = defineOperation(spec, async (inp, ctx) => {
  const plan = [{ object: `key-${inp.token}`, action: 'put' as const, why: 'new' }];
  ctx.record?.addPlan(plan);
  if (inp.outcome === 'conflict') throw new ConflictError(`object key-${inp.token} exists with different content`);
  return { outputs: { answer: '42' }, plan, report: { title: 'stand-in', sections: [] } };
});

let dir: string;
const saved = { ...process.env };
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'relay-action-face-'));
  writeFileSync(join(dir, 'out'), '');
  process.env.GITHUB_OUTPUT = join(dir, 'out');
  process.env.RELAY_REPORT_FILE = join(dir, 'report.json');
  delete process.env.GITHUB_STEP_SUMMARY;
  jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
});
afterEach(() => {
  process.env = { ...saved };
  process.exitCode = undefined;
  jest.restoreAllMocks();
});

const outputs = (): string => readFileSync(join(dir, 'out'), 'utf8');

test('the run document goes to the report output and to RELAY_REPORT_FILE (the reusable workflows read the plan there)', async () => {
  process.env.INPUT_OUTCOME = 'done';
  process.env.INPUT_TOKEN = 'sekret-value-1';
  await runAction(op);
  const doc = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as RunDocument;
  expect(doc).toMatchObject({ operation: 'stand-in', status: 'done', exitCode: 0, outputs: { answer: '42' } });
  expect(doc.plan).toEqual([{ object: 'key-***', action: 'put', why: 'new' }]); // masked like every log line
  expect(outputs()).toMatch(/^report<<.*\n\{"operation":"stand-in".*\n/m);
  expect(outputs()).not.toContain('sekret-value-1');
  expect(process.exitCode).toBeUndefined();
});

test('a refused run still leaves its run document, error and plan included', async () => {
  process.env.INPUT_OUTCOME = 'conflict';
  process.env.INPUT_TOKEN = 'sekret-value-2';
  await runAction(op);
  const doc = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as RunDocument;
  expect(doc).toMatchObject({ status: 'refused', exitCode: 1, error: { kind: 'conflict' } });
  expect(JSON.stringify(doc)).not.toContain('sekret-value-2');
  expect(outputs()).toContain('report<<');
  expect(process.exitCode).toBe(1);
});

test('a missing required input is worded for a workflow (with:), not as a CLI flag', async () => {
  delete process.env.INPUT_OUTCOME;
  await runAction(op);
  const doc = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as RunDocument;
  expect(doc).toMatchObject({ status: 'refused', exitCode: 1, error: { kind: 'input' } });
  expect(doc.error?.message).toBe("input 'outcome': expected a value (with: outcome or RELAY_OUTCOME)");
  expect(process.exitCode).toBe(1);
});

test('a plan too large for a job output: the report output keeps the rows that fit and counts the rest; the file keeps all', async () => {
  const wide = defineOperation(spec, async (_inp, ctx) => {
    const plan = Array.from({ length: 20_000 }, (_, i) => ({ object: `store/object-${i}`, action: 'put' as const, why: 'new' }));
    ctx.record?.addPlan(plan);
    return { outputs: { answer: '42' }, plan, report: { title: 'stand-in', sections: [] } };
  });
  process.env.INPUT_OUTCOME = 'done';
  await runAction(wide);
  const file = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as RunDocument;
  expect(file.plan).toHaveLength(20_000);
  expect(file.planOmitted).toBeUndefined();
  const text = /^report<<(.*)\n([\s\S]*?)\n\1$/m.exec(outputs())![2]!;
  expect(text.length).toBeLessThanOrEqual(REPORT_OUTPUT_MAX);
  const out = JSON.parse(text) as RunDocument;
  expect(out.plan.length + out.planOmitted!).toBe(20_000);
  expect(out.plan.length).toBeGreaterThan(1000);
  expect(out.plan[0]).toEqual(file.plan[0]);
  expect(out).toMatchObject({ operation: 'stand-in', status: 'done', outputs: { answer: '42' } });
}, 60_000);

test("a summary over GitHub's 1 MiB is cut at a row, its folded section closed, and says so; a small one is whole", async () => {
  const rows = (n: number) => Array.from({ length: n }, (_, i) => [`store/object-${i}-${'x'.repeat(80)}`, 'put', 'new']);
  const wide = (n: number) =>
    defineOperation(spec, async (_inp, ctx) => {
      const plan = rows(n).map(([object, , why]) => ({ object: object!, action: 'put' as const, why: why! }));
      ctx.record?.addPlan(plan);
      const table = { head: ['object', 'action', 'why'], rows: rows(n) };
      return {
        outputs: { answer: '42' },
        plan,
        report: {
          title: 'stand-in',
          sections: [
            { heading: 'Plan', table, collapsed: true },
            { heading: 'After', text: 'the end' },
          ],
        },
      };
    });
  process.env.INPUT_OUTCOME = 'done';
  process.env.GITHUB_STEP_SUMMARY = join(dir, 'summary.md');
  writeFileSync(process.env.GITHUB_STEP_SUMMARY, '');
  await runAction(wide(20_000));
  const big = readFileSync(process.env.GITHUB_STEP_SUMMARY, 'utf8');
  expect(Buffer.byteLength(big)).toBeLessThanOrEqual(SUMMARY_MAX_BYTES);
  expect(big).toMatch(/^\| store\/object-0-x+ \| put \| new \|$/m);
  expect(big).not.toMatch(/store\/object-19999-/);
  expect((big.match(/^<details>$/gm) ?? []).length).toBe((big.match(/^<\/details>$/gm) ?? []).length);
  expect(big).toMatch(/The rest of this summary is left out: GitHub shows none of a summary over 1 MiB \(\d+ bytes\)/);
  // every line kept is whole: the cut falls between rows
  for (const l of big.split('\n').filter((x) => x.startsWith('| store/'))) expect(l).toMatch(/\| new \|$/);

  writeFileSync(process.env.GITHUB_STEP_SUMMARY, '');
  await runAction(wide(10));
  const small = readFileSync(process.env.GITHUB_STEP_SUMMARY, 'utf8');
  expect(small).toContain('store/object-9-');
  expect(small).toContain('the end');
  expect(small).not.toContain('left out');
}, 60_000);

test('RELAY_ENV: read by the parser the CLI uses; inputs and variables masked; AWS_* and stray names refused by name', async () => {
  process.env.INPUT_OUTCOME = 'done';
  process.env.RELAY_ENV = 'export RELAY_TOKEN="sekret-from-env-3"\n# comment\n';
  await runAction(op);
  const doc = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as RunDocument;
  expect(doc.status).toBe('done');
  expect(doc.plan[0]!.object).toBe('key-***'); // the input came from RELAY_ENV, masked
  expect(outputs()).not.toContain('sekret-from-env-3');
  for (const [line, why] of [
    [
      'AWS_SECRET_ACCESS_KEY=wJalr-sekret-4',
      "RELAY_ENV: 'AWS_SECRET_ACCESS_KEY' may not be set this way (AWS access in a workflow goes through OIDC",
    ],
    ['DOCKERHUB_TOKEN=dckr-sekret-5', "RELAY_ENV: 'DOCKERHUB_TOKEN' is not an input of stand-in"],
  ] as const) {
    process.env.RELAY_ENV = line;
    process.exitCode = undefined;
    const written: string[] = [];
    jest.spyOn(process.stdout, 'write').mockImplementation((t) => (written.push(String(t)), true));
    await runAction(op);
    expect(process.exitCode).toBe(1);
    const shown = written.join('').replace(/^::add-mask::.*$/gm, '');
    expect(shown).toContain(why);
    expect(shown).not.toContain(line.split('=')[1]);
  }
});
