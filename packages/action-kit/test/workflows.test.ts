import { describe, expect, jest, test } from '@jest/globals';
import { execFile, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { envName, OPERATIONS, parseApprovers, planHash, type OperationSpec, type PlanRow } from '@relay/core';
import {
  APPROVERS_SCRIPT,
  AUDIT_FILE,
  auditsToFile,
  COMMON_INPUTS,
  ENV_SECRET,
  fromReleaseFile,
  RELEASE_FILE_INPUT,
  EXPECT_PLAN,
  hasWorkflow,
  isWriting,
  KEEP_REPORT_SCRIPT,
  PINNED_ACTIONS,
  renderReusableWorkflow,
  WORKFLOW_OPTIONS,
  workflowFile,
  workflowInputType,
  WORKFLOW_SET_INPUTS,
} from '../src/workflows.js';
import { validateWorkflow } from './workflow-parser.js';

// Waits on processes and the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(60_000);

const root = new URL('../../../', import.meta.url).pathname;
const WORKFLOWS = '.github/workflows/';
const EXAMPLES = 'examples/workflows/';

/** Workflows written by hand: Relay's CI, and the two that chain operations. */
const HAND_WRITTEN = ['ci.yml', 'release.yml', 'reusable-drift-check.yml', 'reusable-promote-image.yml'];

/**
 * Operations the workflows and examples already call, being built on other
 * branches. Remove a name once it is in OPERATIONS (a test below fails until
 * then): from that moment its steps are checked against its spec too.
 */
const PENDING_OPERATIONS: string[] = [];

interface Step {
  id?: string;
  name?: string;
  if?: string;
  uses?: string;
  run?: string;
  shell?: string;
  with?: Record<string, unknown>;
  env?: Record<string, unknown>;
}
interface Job {
  uses?: string;
  with?: Record<string, unknown>;
  secrets?: 'inherit' | Record<string, unknown>;
  steps?: Step[];
  permissions?: unknown;
  needs?: string | string[];
  if?: string;
  environment?: unknown;
  concurrency?: { group: string; 'cancel-in-progress'?: unknown; queue?: string };
  outputs?: Record<string, string>;
}
interface CallInput {
  type: string;
  required?: boolean;
  default?: unknown;
  description?: string;
}
interface Workflow {
  on: Record<string, unknown> & {
    workflow_call?: {
      inputs?: Record<string, CallInput>;
      secrets?: Record<string, { required?: boolean }>;
      outputs?: Record<string, unknown>;
    };
  };
  permissions?: unknown;
  jobs: Record<string, Job>;
}

const ymlIn = (dir: string): string[] =>
  existsSync(root + dir)
    ? readdirSync(root + dir)
        .filter((f) => /\.ya?ml$/.test(f))
        .sort()
        .map((f) => dir + f)
    : [];
const ALL = [...ymlIn(WORKFLOWS), ...ymlIn(EXAMPLES)];
const text = (file: string): string => readFileSync(root + file, 'utf8');
const load = (file: string): Workflow => parse(text(file)) as Workflow;
const opSpec = (name: string): OperationSpec | undefined => OPERATIONS.find((o) => o.spec.name === name)?.spec;
const steps = (wf: Workflow): Step[] => Object.values(wf.jobs).flatMap((j) => j.steps ?? []);
const isEmptyMapping = (v: unknown): boolean => v !== null && typeof v === 'object' && Object.keys(v).length === 0;

describe('reusable workflows generated from the operation specs', () => {
  for (const op of OPERATIONS.filter((o) => hasWorkflow(o.spec))) {
    test(`${workflowFile(op.spec.name)} matches its spec`, () => {
      const file = root + workflowFile(op.spec.name);
      const want = renderReusableWorkflow(op.spec);
      if (process.env.UPDATE_WORKFLOWS === '1') writeFileSync(file, want);
      expect(existsSync(file)).toBe(true);
      expect(readFileSync(file, 'utf8')).toBe(want);
    });
  }

  test('.github/workflows holds the generated workflows, the hand-written ones, and nothing stale', () => {
    const generated = OPERATIONS.filter((o) => hasWorkflow(o.spec)).map((o) => workflowFile(o.spec.name).slice(WORKFLOWS.length));
    expect(ymlIn(WORKFLOWS).map((f) => f.slice(WORKFLOWS.length))).toEqual([...generated, ...HAND_WRITTEN].sort());
  });

  test('their inputs and secrets are the specs: types, required, defaults; secrets by their RELAY_* names', () => {
    for (const op of OPERATIONS.filter((o) => hasWorkflow(o.spec))) {
      const call = load(workflowFile(op.spec.name)).on.workflow_call!;
      const want: Record<string, CallInput> = {};
      const secrets: string[] = [];
      for (const [name, s] of Object.entries(op.spec.inputs)) {
        if (WORKFLOW_SET_INPUTS.includes(name)) continue;
        if (s.secret) {
          secrets.push(envName(name));
          continue;
        }
        // With a release file, every input is an optional override: text, no default, never required.
        if (fromReleaseFile(op.spec)) {
          want[name] = { type: 'string', required: false };
          continue;
        }
        const type = workflowInputType(s);
        const def =
          s.default === undefined
            ? undefined
            : type === 'boolean'
              ? s.default === 'true'
              : type === 'number'
                ? Number(s.default)
                : s.default;
        want[name] = { type, required: Boolean(s.required) && def === undefined, ...(def !== undefined && { default: def }) };
      }
      for (const [name, c] of Object.entries(COMMON_INPUTS))
        if (!c.only || c.only === (isWriting(op.spec) ? 'writing' : 'reading'))
          want[name] = { type: c.type, required: Boolean(c.required), ...(c.default !== undefined && { default: c.default }) };
      // a workflow that writes always runs its writing job in an environment: the caller must name one
      if (isWriting(op.spec)) expect(want.environment).toEqual({ type: 'string', required: true });
      const got = Object.fromEntries(Object.entries(call.inputs ?? {}).map(([k, v]) => [k, { ...v, description: undefined }]));
      expect(JSON.parse(JSON.stringify(got))).toEqual(want);
      if (WORKFLOW_OPTIONS[op.spec.name]?.envSecrets) secrets.push(ENV_SECRET);
      expect(Object.keys(call.secrets ?? {}).sort()).toEqual(secrets.sort());
      expect(Object.keys(call.outputs ?? {}).sort()).toEqual([...Object.keys(op.spec.outputs), 'report'].sort());
    }
  });

  test('a writing operation: plan (dry run) first, then apply in the environment, bound to the plan hash, queued per target', () => {
    for (const op of OPERATIONS.filter((o) => hasWorkflow(o.spec) && isWriting(o.spec))) {
      const wf = load(workflowFile(op.spec.name));
      expect(Object.keys(wf.jobs)).toEqual(['plan', 'apply']);
      const { plan, apply } = wf.jobs as { plan: Job; apply: Job };
      expect(plan.if).toBeUndefined(); // the plan always runs: there is no way to the apply job around it
      expect(apply.if).toBe("${{ !cancelled() && needs.plan.result == 'success' }}");
      expect(plan.environment).toBeUndefined();
      expect(plan.steps!.find((s) => s.id === 'relay')!.with!['dry-run']).toBe(true);
      expect(plan.outputs!['plan-hash']).toBe('${{ steps.keep.outputs.plan-hash }}');
      expect(apply.needs).toBe('plan');
      expect(apply.environment).toBe('${{ inputs.environment }}');
      expect(apply.steps!.find((s) => s.id === 'relay')!.with![EXPECT_PLAN]).toBe('${{ needs.plan.outputs.plan-hash }}');
      expect(apply.concurrency).toMatchObject({ 'cancel-in-progress': false, queue: 'max' });
      for (const k of WORKFLOW_OPTIONS[op.spec.name]?.concurrency ?? []) expect(apply.concurrency!.group).toContain(`\${{ inputs.${k} }}`);
      expect(plan.concurrency).toBeUndefined(); // a dry run writes nothing: it need not wait
    }
  });

  test('separated duties: the plan job holds no secret and no writer role; the apply job refuses, before any credential, to run outside an environment or without the plan hash', () => {
    const writingWorkflows = OPERATIONS.filter((o) => hasWorkflow(o.spec) && isWriting(o.spec)).map((o) => workflowFile(o.spec.name));
    expect(writingWorkflows.length).toBeGreaterThanOrEqual(5);
    for (const file of [...writingWorkflows, '.github/workflows/reusable-promote-image.yml']) {
      const wf = load(file);
      const jobs = Object.entries(wf.jobs) as [string, Job][];
      for (const [id, job] of jobs) {
        const steps = job.steps ?? [];
        const stepText = JSON.stringify(steps);
        const relay = steps.find((st) => st.id === 'relay');
        const writes = relay !== undefined && relay.with?.['dry-run'] !== true;
        const holdsCredential = (st: Step): boolean =>
          /secrets\.|role-to-assume|github\.token/.test(JSON.stringify(st)) || st.id === 'relay';
        if (!writes) {
          // a dry run: reads with the reader role, never a secret nor the writer role
          expect(`${file} ${id}: ${/secrets\./.test(JSON.stringify(job))}`).toBe(`${file} ${id}: false`);
          expect(`${file} ${id}: ${/inputs\.role-to-assume/.test(stepText)}`).toBe(`${file} ${id}: false`);
        } else {
          expect(`${file} ${id}: ${job.environment}`).toBe(`${file} ${id}: \${{ inputs.environment }}`);
          expect(`${file} ${id}: ${/inputs\.plan-role-to-assume/.test(stepText)}`).toBe(`${file} ${id}: false`);
        }
        // every job of a writing workflow starts with the guard, before any step that holds a credential
        const guard = steps.findIndex((st) => /^Require an approved environment/.test(st.name ?? ''));
        const firstCredential = steps.findIndex(holdsCredential);
        expect(`${file} ${id}: guard ${guard >= 0 && guard < firstCredential}`).toBe(`${file} ${id}: guard true`);
        expect(steps[guard]!.shell).toBe('bash');
        expect(steps[guard]!.env!.RELAY_ENVIRONMENT).toBe('${{ inputs.environment }}');
        if (writes && relay!.with![EXPECT_PLAN] !== undefined)
          expect(steps[guard]!.env!.RELAY_PLAN_HASH).toBe('${{ needs.plan.outputs.plan-hash }}');
      }
    }
  });

  test('the guard refuses an empty environment and a missing plan hash, and lets an approved job through (run by bash)', () => {
    const guard = load(workflowFile('publish-terraform-registry')).jobs.apply!.steps![0]!;
    const run = (env: Record<string, string>): { status: number | null; out: string } => {
      const r = spawnSync('bash', ['-c', guard.run!], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, encoding: 'utf8' });
      return { status: r.status, out: r.stdout };
    };
    const hash = 'a'.repeat(64);
    expect(run({ RELAY_ENVIRONMENT: '', RELAY_PLAN_HASH: hash })).toEqual({
      status: 1,
      out: expect.stringMatching(/^::error::input environment is empty: a writing job runs only in a GitHub environment/),
    });
    expect(run({ RELAY_ENVIRONMENT: 'production', RELAY_PLAN_HASH: '' })).toEqual({
      status: 1,
      out: expect.stringMatching(/^::error::the plan job gave no plan hash/),
    });
    expect(run({ RELAY_ENVIRONMENT: 'production', RELAY_PLAN_HASH: 'x; echo pwned' }).status).toBe(1);
    expect(run({ RELAY_ENVIRONMENT: 'production', RELAY_PLAN_HASH: hash })).toEqual({ status: 0, out: '' });
  });

  test('every job of every workflow Relay ships has a time limit', () => {
    for (const file of ymlIn(WORKFLOWS)) {
      const wf = load(file);
      for (const [id, job] of Object.entries(wf.jobs) as [string, Job & { 'timeout-minutes'?: unknown }][])
        if (!job.uses) expect(`${file} ${id}: ${job['timeout-minutes'] !== undefined}`).toBe(`${file} ${id}: true`);
    }
  });

  test('the pending lists are current', () => {
    for (const name of PENDING_OPERATIONS)
      expect(`${name}: ${opSpec(name) ? 'now in OPERATIONS: remove it from PENDING_OPERATIONS' : 'pending'}`).toBe(`${name}: pending`);
  });

  test('every writing operation declares expect-plan and outputs plan-hash (the apply job binds the approval with them)', () => {
    const writing = OPERATIONS.filter((o) => isWriting(o.spec));
    expect(writing.length).toBeGreaterThanOrEqual(3);
    for (const op of writing) {
      expect(`${op.spec.name}: ${EXPECT_PLAN in op.spec.inputs}`).toBe(`${op.spec.name}: true`);
      expect(`${op.spec.name}: ${'plan-hash' in op.spec.outputs}`).toBe(`${op.spec.name}: true`);
    }
  });

  test('the apply job reads who approved (actions: read) before Relay runs; an image operation keeps its audit record', () => {
    for (const op of OPERATIONS.filter((o) => hasWorkflow(o.spec) && isWriting(o.spec))) {
      const apply = load(workflowFile(op.spec.name)).jobs.apply!;
      const attests = WORKFLOW_OPTIONS[op.spec.name]?.attest !== undefined;
      expect(apply.permissions).toEqual({
        contents: 'read',
        'id-token': 'write',
        actions: 'read',
        ...(attests && { attestations: 'write' }),
      });
      const attest = apply.steps!.find((s) => s.uses?.startsWith('actions/attest-build-provenance@'));
      if (WORKFLOW_OPTIONS[op.spec.name]?.attest === 'files') {
        // every zip and SHA256SUMS, from the subjects output, through env and a file (no expression in the script)
        const subjects = apply.steps!.find((s) => s.id === 'subjects')!;
        expect(subjects.env).toEqual({ SUBJECTS: '${{ steps.relay.outputs.subjects }}' });
        expect(subjects.run).not.toContain('${{');
        expect(attest!.with).toEqual({ 'subject-checksums': '${{ steps.subjects.outputs.file }}' });
        expect('subjects' in op.spec.outputs).toBe(true);
      } else if (attests) {
        // the written digest, attested by the job that wrote it, after Relay read it back
        expect(attest!.with).toEqual({
          'subject-name': '${{ inputs.destination }}',
          'subject-digest': '${{ steps.relay.outputs.digest }}',
        });
        expect(apply.steps!.indexOf(attest!)).toBeGreaterThan(apply.steps!.findIndex((s) => s.id === 'relay'));
      } else expect(attest).toBeUndefined();
      const names = apply.steps!.map((s) => s.name);
      const who = apply.steps!.find((s) => s.name === 'Who approved')!;
      expect(who.run).toBe(APPROVERS_SCRIPT);
      expect(who.env).toEqual({ GH_TOKEN: '${{ github.token }}' });
      expect(names.indexOf('Who approved')).toBeLessThan(apply.steps!.findIndex((s) => s.id === 'relay'));
      const relay = apply.steps!.find((s) => s.id === 'relay')!;
      const upload = apply.steps!.find((s) => s.name === 'Upload the audit record');
      if (auditsToFile(op.spec)) {
        expect(AUDIT_FILE in op.spec.inputs).toBe(true);
        expect(relay.env!.RELAY_AUDIT_FILE).toBe('${{ runner.temp }}/relay-audit.json');
        expect(upload!.with).toMatchObject({ path: '${{ runner.temp }}/relay-audit.json', 'if-no-files-found': 'ignore' });
      } else {
        expect(relay.env!.RELAY_AUDIT_FILE).toBeUndefined();
        expect(upload).toBeUndefined();
      }
      // the plan job writes nothing, so it has no record to keep
      expect(load(workflowFile(op.spec.name)).jobs.plan!.steps!.find((s) => s.id === 'relay')!.env!.RELAY_AUDIT_FILE).toBeUndefined();
    }
  });
});

describe('every workflow and example', () => {
  test('there are workflows and examples to check', () => {
    expect(ymlIn(WORKFLOWS).length).toBeGreaterThanOrEqual(HAND_WRITTEN.length + 1);
    expect(ymlIn(EXAMPLES).map((f) => f.slice(EXAMPLES.length))).toEqual([
      'image-promotion.yml',
      'mirror-drift.yml',
      'provider-production.yml',
      'provider-staging.yml',
    ]);
  });

  test('the validator is not a no-op: it finds a typo, a context where none is allowed, an unclosed expression', async () => {
    const bad = [
      'on: push',
      'permissions: {}',
      'jobs:',
      '  j:',
      '    runs-on: ubuntu-latest',
      "    if: ${{ secrets.X != '' }}",
      '    concurrency: { group: g, queue: bogus }',
      '    permissions: { id-token: writ }',
      '    steps:',
      '      - run: echo ${{ github.sha }',
    ].join('\n');
    const errors = await validateWorkflow('bad.yml', bad);
    expect(errors).toEqual([
      expect.stringContaining("Unrecognized named-value: 'secrets'"),
      expect.stringContaining("Unexpected value 'bogus'"),
      expect.stringContaining("Unexpected value 'writ'"),
      expect.stringContaining('The expression is not closed'),
    ]);
  });

  for (const file of ALL) {
    describe(file, () => {
      test('parses and validates with @actions/workflow-parser', async () => {
        expect(await validateWorkflow(file, text(file))).toEqual([]);
      });

      test('grants nothing at the top (permissions: {}), and each job exactly what it declares', () => {
        const wf = load(file);
        expect(isEmptyMapping(wf.permissions)).toBe(true);
        for (const [id, job] of Object.entries(wf.jobs)) expect(`${id}: ${typeof job.permissions}`).toBe(`${id}: object`);
      });

      test('every uses: is pinned by commit with its version in a comment (Relay itself: $/ or this repository by tag)', () => {
        const lines = text(file).split('\n');
        for (const line of lines) {
          const m = /^\s*(?:- )?uses:\s*(\S+)(?:\s+#\s*(.*))?$/.exec(line);
          if (!m) continue;
          const [, ref, comment] = m as unknown as [string, string, string | undefined];
          if (/^(\$|\.)\/actions\/[a-z0-9-]+$/.test(ref)) continue; // Relay's own action, at the workflow's own commit
          if (/^your-org\/relay\/\.github\/workflows\/[a-z0-9-]+\.yml@v\d+(\.\d+\.\d+)?$/.test(ref)) continue; // README "Versioning"
          expect(ref).toMatch(/^[\w.-]+\/[\w.-]+(\/[\w./-]+)?@[0-9a-f]{40}$/);
          expect(comment).toMatch(/^v\d+\.\d+\.\d+$/);
          const repo = ref.split('@')[0]!;
          const pin = Object.values(PINNED_ACTIONS).find((p) => p.repo === repo);
          expect(`${repo}@${ref.split('@')[1]} # ${comment}`).toBe(
            pin ? `${pin.repo}@${pin.sha} # ${pin.version}` : `${repo} in PINNED_ACTIONS`,
          );
        }
      });

      test("third-party steps use only their action's inputs", () => {
        for (const s of steps(load(file))) {
          const pin = s.uses && Object.values(PINNED_ACTIONS).find((p) => s.uses!.startsWith(p.repo + '@'));
          if (pin)
            for (const k of Object.keys(s.with ?? {}))
              expect(`${pin.repo}: ${k}`).toBe(`${pin.repo}: ${pin.inputs.includes(k) ? k : 'not an input'}`);
        }
      });

      test("Relay's steps give only inputs their operation declares, and every required one", () => {
        for (const s of steps(load(file))) {
          const m = /^(?:\$|\.)\/actions\/([a-z0-9-]+)$/.exec(s.uses ?? '');
          if (!m) continue;
          const spec = opSpec(m[1]!);
          if (!spec) {
            expect(PENDING_OPERATIONS).toContain(m[1]);
            continue;
          }
          for (const k of Object.keys(s.with ?? {}))
            expect(`${spec.name}: ${k}`).toBe(`${spec.name}: ${k in spec.inputs ? k : 'not an input'}`);
          for (const [k, i] of Object.entries(spec.inputs))
            if (i.required && i.default === undefined && !i.secret) expect(Object.keys(s.with ?? {})).toContain(k);
        }
      });

      test('calls of reusable workflows give only declared inputs and secrets, and every required input', () => {
        for (const [id, job] of Object.entries(load(file).jobs)) {
          if (!job.uses) continue;
          const m = /^(?:\.\/|your-org\/relay\/)\.github\/workflows\/([a-z0-9-]+\.yml)(?:@.*)?$/.exec(job.uses);
          expect(`${id}: ${job.uses}`).toMatch(/^[^:]+: (\.\/|your-org\/relay\/)\.github\/workflows\//);
          const callee = WORKFLOWS + m![1];
          if (!existsSync(root + callee)) {
            expect(PENDING_OPERATIONS.map((o) => workflowFile(o))).toContain(callee);
            continue;
          }
          const call = load(callee).on.workflow_call!;
          for (const k of Object.keys(job.with ?? {}))
            expect(`${callee}: ${k}`).toBe(`${callee}: ${k in (call.inputs ?? {}) ? k : 'not an input'}`);
          for (const [k, i] of Object.entries(call.inputs ?? {})) if (i.required) expect(Object.keys(job.with ?? {})).toContain(k);
          if (job.secrets && job.secrets !== 'inherit')
            for (const k of Object.keys(job.secrets))
              expect(`${callee}: ${k}`).toBe(`${callee}: ${k in (call.secrets ?? {}) ? k : 'not a secret'}`);
        }
      });

      test("calls of reusable workflows grant every permission the callee's jobs ask (else GitHub refuses the run)", () => {
        const LEVEL: Record<string, number> = { none: 0, read: 1, write: 2 };
        for (const [id, job] of Object.entries(load(file).jobs)) {
          const m = job.uses && /^(?:\.\/|your-org\/relay\/)\.github\/workflows\/([a-z0-9-]+\.yml)(?:@.*)?$/.exec(job.uses);
          if (!m || !existsSync(root + WORKFLOWS + m[1])) continue;
          const granted = (job.permissions ?? {}) as Record<string, string>;
          for (const callee of Object.values(load(WORKFLOWS + m[1]).jobs))
            for (const [scope, level] of Object.entries((callee.permissions ?? {}) as Record<string, string>))
              expect(
                `${id} grants ${scope}: ${LEVEL[granted[scope] ?? 'none']! >= LEVEL[level]! ? level : (granted[scope] ?? 'none')}`,
              ).toBe(`${id} grants ${scope}: ${level}`);
        }
      });

      test('no ${{ }} inside a script (values reach scripts through env), and every node script is a known one', () => {
        for (const s of steps(load(file))) {
          if (s.run === undefined) continue;
          expect(s.run).not.toContain('${{');
          if (s.shell === 'node {0}') expect([KEEP_REPORT_SCRIPT, APPROVERS_SCRIPT]).toContain(s.run);
        }
      });
    });
  }
});

describe('the scripts the workflows run', () => {
  const tmp = (): string => mkdtempSync(join(tmpdir(), 'relay-wf-'));
  const runScript = (script: string, env: Record<string, string>): { code: number | null; stdout: string } => {
    const dir = tmp();
    writeFileSync(join(dir, 'script'), script); // the runner hands `node {0}` a file without an extension
    const r = spawnSync(process.execPath, [join(dir, 'script')], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' });
    return { code: r.status, stdout: r.stdout };
  };
  const outputsOf = (file: string): Record<string, string> =>
    Object.fromEntries(
      readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );

  test("the plan job's hash is planHash of @relay/core: canonical JSON of the rows without result, sorted", () => {
    const plan: PlanRow[] = [
      { object: 'store/acme/teleport/9.1.3/terraform-provider-teleport_9.1.3_linux_amd64.zip', action: 'put', why: 'new', bytes: 41234567 },
      { object: 'registry/acme/teleport/versions', why: 'compare-and-swap', action: 'replace', result: 'written' },
      { object: 'public.ecr.aws/acme/app:1.4.0 ✓ "quoted" \\ \u0001', action: 'skip', why: 'identical', bytes: 0.5 },
    ];
    const dir = tmp();
    const report = { operation: 'publish-terraform-registry', status: 'dry-run', exitCode: 0, outputs: {}, plan };
    writeFileSync(join(dir, 'relay-report.json'), JSON.stringify(report) + '\n');
    for (const f of ['out', 'summary']) writeFileSync(join(dir, f), '');
    const env = {
      RELAY_REPORT_FILE: join(dir, 'relay-report.json'),
      RELAY_STAGE: 'plan',
      RELAY_ENVIRONMENT: 'production',
      GITHUB_OUTPUT: join(dir, 'out'),
      GITHUB_STEP_SUMMARY: join(dir, 'summary'),
    };
    const r = runScript(KEEP_REPORT_SCRIPT, env);
    expect(r.code).toBe(0);
    const out = outputsOf(join(dir, 'out'));
    expect(out['plan-hash']).toBe(planHash(plan));
    expect(out['plan-hash']).toMatch(/^[0-9a-f]{64}$/);
    // key order and `result` do not change the hash; the content does
    expect(planHash(plan.map(({ result: _r, ...row }) => Object.fromEntries(Object.entries(row).reverse()) as unknown as PlanRow))).toBe(
      planHash(plan),
    );
    expect(planHash([...plan].reverse())).toBe(planHash(plan)); // rows listed as they were reached, in parallel
    expect(planHash([{ ...plan[0]!, bytes: 41234568 }, ...plan.slice(1)])).not.toBe(planHash(plan));
    expect(planHash([...plan, plan[0]!])).not.toBe(planHash(plan));
    expect(out.name).toMatch(/^relay-publish-terraform-registry-plan-[0-9a-f]{16}$/);
    expect(JSON.parse(readFileSync(out.file!, 'utf8'))).toEqual({ ...report, planHash: planHash(plan) });
    expect(readFileSync(join(dir, 'summary'), 'utf8')).toContain(`\`${planHash(plan)}\``);
    expect(readFileSync(join(dir, 'summary'), 'utf8')).toContain('Approving the `production` environment');
    // the generated workflows carry this very script
    const wf = load(workflowFile('publish-terraform-registry'));
    expect(wf.jobs.plan!.steps!.find((s) => s.id === 'keep')!.run).toBe(KEEP_REPORT_SCRIPT);

    const none = runScript(KEEP_REPORT_SCRIPT, { ...env, RELAY_REPORT_FILE: join(dir, 'absent.json') });
    expect(none.code).toBe(1);
    expect(none.stdout).toContain('::error::Relay left no run document');
  });

  test(`the release file and ${ENV_SECRET} reach Relay itself: the action reads them, no step of the workflow parses them`, () => {
    for (const op of OPERATIONS.filter((o) => hasWorkflow(o.spec) && isWriting(o.spec))) {
      const wf = load(workflowFile(op.spec.name));
      expect(wf.on.workflow_call!.inputs![RELEASE_FILE_INPUT]).toMatchObject({ type: 'string', required: false, default: '' });
      for (const [job, stage] of [
        ['plan', 'plan'],
        ['apply', 'apply'],
      ] as const) {
        const relay = wf.jobs[job]!.steps!.find((s) => s.id === 'relay')!;
        if (fromReleaseFile(op.spec))
          expect(relay.env).toMatchObject({
            RELAY_RELEASE_FILE: '${{ inputs.release-file }}',
            RELAY_ENVIRONMENT: '${{ inputs.environment }}',
          });
        // The dotenv secret only where the credentials are used: the apply job, in the environment.
        if (WORKFLOW_OPTIONS[op.spec.name]?.envSecrets)
          expect(relay.env?.[ENV_SECRET]).toBe(stage === 'apply' ? `\${{ secrets.${ENV_SECRET} }}` : undefined);
      }
    }
    for (const file of ['reusable-drift-check.yml', 'reusable-promote-image.yml']) {
      const text = readFileSync(join(WORKFLOWS, file), 'utf8');
      expect(text).not.toContain('variable(s) set from RELAY_ENV');
      expect(text).toContain(`${ENV_SECRET}: \${{ secrets.${ENV_SECRET} }}`);
    }
  });

  test("the approvers step: the run's approvals as RELAY_APPROVERS, which the audit record reads; a failure only warns", async () => {
    const approvals = [
      {
        state: 'approved',
        comment: 'ship it\nline two',
        user: { login: 'octocat' },
        environments: [{ id: 1, name: 'production' }],
      },
      { state: 'approved', comment: '', user: { login: 'hubot' }, environments: [{ id: 1, name: 'production' }] },
    ];
    const seen: { url?: string; auth?: string }[] = [];
    const server = createServer((req, res) => {
      seen.push({ url: req.url, auth: req.headers.authorization });
      if (req.url === '/repos/acme/app/actions/runs/42/approvals')
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(approvals));
      else res.writeHead(404).end('{}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const runAsync = async (env: Record<string, string>): Promise<string> => {
      const dir = tmp();
      writeFileSync(join(dir, 'script'), APPROVERS_SCRIPT);
      const r = await promisify(execFile)(process.execPath, [join(dir, 'script')], { env: { PATH: process.env.PATH ?? '', ...env } });
      return r.stdout;
    };
    try {
      const dir = tmp();
      writeFileSync(join(dir, 'env'), '');
      const base = { GITHUB_API_URL: api, GITHUB_REPOSITORY: 'acme/app', GH_TOKEN: 'ghs_token', GITHUB_ENV: join(dir, 'env') };
      const out = await runAsync({ ...base, GITHUB_RUN_ID: '42' });
      expect(out).toContain('approved by: octocat (approved), hubot (approved)');
      expect(seen[0]).toEqual({ url: '/repos/acme/app/actions/runs/42/approvals', auth: 'Bearer ghs_token' });
      const m = /^RELAY_APPROVERS<<(\S+)\n(.*)\n\1\n$/s.exec(readFileSync(join(dir, 'env'), 'utf8'));
      expect(parseApprovers(m![2])).toEqual([
        { login: 'octocat', state: 'approved', comment: 'ship it\nline two', environments: ['production'] },
        { login: 'hubot', state: 'approved', environments: ['production'] },
      ]);
      writeFileSync(join(dir, 'env'), '');
      const failed = await runAsync({ ...base, GITHUB_RUN_ID: '43' });
      expect(failed).toMatch(/^::warning::could not read who approved this run \(HTTP 404 from .*\); the audit record names no approver$/m);
      expect(readFileSync(join(dir, 'env'), 'utf8')).toBe('');
    } finally {
      server.close();
    }
  });
});
