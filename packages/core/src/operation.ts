import * as path from 'node:path';
import { checkAuditFile } from './audit/write.js';
import type { Context, Result } from './context.js';
import { badInput } from './errors.js';
import { checkNamedVariables } from './inputs/variables.js';
import type { InputSpec, InputValues, OperationSpec } from './inputs/spec.js';
import { planHash } from './report/plan-hash.js';
import { PLAN_HASH_PATTERN, RunRecord, type RecordedInput } from './report/recorder.js';

/**
 * One operation, three faces: the action and the CLI both take `spec` to read
 * inputs and call `run`; nothing else differs between them.
 */
export interface Operation<I extends Record<string, InputSpec> = Record<string, InputSpec>> {
  spec: OperationSpec<I>;
  run(inputs: InputValues<I>, ctx: Context): Promise<Result>;
}

/** Any operation, whatever its inputs: what the faces and the registry hold (inputs come from parseInputs on its own spec). */
export interface AnyOperation {
  spec: OperationSpec;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  run(inputs: any, ctx: Context): Promise<Result>;
}

/** The input that binds a writing run to an approved plan (declared by `planInputs`, operations/common.ts). */
export const EXPECT_PLAN = 'expect-plan';
/** The output carrying the plan's hash (declared by `planOutputs`). */
export const PLAN_HASH_OUTPUT = 'plan-hash';

/** A writing operation's dry-run input, and where image operations write their audit record (operations/common.ts). */
export const DRY_RUN = 'dry-run';
export const AUDIT_FILE = 'audit-file';

/** The time-limit inputs (declared by `requestTimeoutInput` and `subprocessTimeoutInput`, operations/common.ts). */
export const REQUEST_TIMEOUT = 'request-timeout';
export const SUBPROCESS_TIMEOUT = 'subprocess-timeout';

/**
 * An operation from its spec and run. The time-limit inputs an operation
 * declares become ctx.limits, checked, before it runs. A writing operation (one that declares
 * `expect-plan`) is bound to its plan here, the same way for all: the run
 * always has a RunRecord holding the approved hash and the non-secret inputs
 * (for the audit record); it must call `ctx.record.approve()` between planning
 * and its first write; its result gains the `plan-hash` output and a report
 * section saying what the hash is for.
 */
export function defineOperation<I extends Record<string, InputSpec>>(
  spec: OperationSpec<I>,
  run: (inputs: InputValues<I>, ctx: Context) => Promise<Result>,
): Operation<I> {
  const limited = (inputs: InputValues<I>, ctx: Context): Promise<Result> => {
    // An operation whose inputs name no variables can justify none: refused before it starts.
    if (!spec.namesVariables) checkNamedVariables(ctx, [], `${spec.name}'s inputs`);
    return run(inputs, withLimits(spec, inputs, ctx));
  };
  if (!(EXPECT_PLAN in spec.inputs)) return { spec, run: limited };
  return {
    spec,
    run: async (inputs, ctx) => {
      const record = ctx.record ?? new RunRecord();
      bindRecord(record, spec, inputs as Record<string, unknown>);
      // Where the audit record will go is checked when the plan is approved, before the first write.
      const auditFile = (inputs as Record<string, unknown>)[AUDIT_FILE];
      if (AUDIT_FILE in spec.inputs && typeof auditFile === 'string' && auditFile !== '')
        record.beforeWrite(() => checkAuditFile(path.resolve(ctx.cwd, auditFile)));
      const res = await limited(inputs, { ...ctx, record });
      return withPlanHash(spec, res, record);
    },
  };
}

function withLimits<I extends Record<string, InputSpec>>(spec: OperationSpec<I>, inputs: InputValues<I>, ctx: Context): Context {
  const given = inputs as Record<string, unknown>;
  const limit = (name: string): number | undefined => (name in spec.inputs ? limitMs(given[name] as number | undefined, name) : undefined);
  const requestMs = limit(REQUEST_TIMEOUT);
  const subprocessMs = limit(SUBPROCESS_TIMEOUT);
  if (requestMs === undefined && subprocessMs === undefined) return ctx;
  return {
    ...ctx,
    limits: { ...ctx.limits, ...(requestMs !== undefined && { requestMs }), ...(subprocessMs !== undefined && { subprocessMs }) },
  };
}

function bindRecord(record: RunRecord, spec: OperationSpec, inputs: Record<string, unknown>): void {
  record.operation = spec.name;
  record.dryRun = inputs[DRY_RUN] === true;
  const expected = inputs[EXPECT_PLAN];
  if (typeof expected === 'string' && expected !== '') {
    const h = expected
      .trim()
      .toLowerCase()
      .replace(/^sha256:/, '');
    if (!PLAN_HASH_PATTERN.test(h)) badInput(EXPECT_PLAN, 'the sha256 plan hash a dry run printed (64 hex digits)', expected);
    record.expected = h;
  }
  for (const [name, s] of Object.entries(spec.inputs)) {
    const v = inputs[name];
    if (s.secret || name === EXPECT_PLAN || v === undefined || v === '' || (Array.isArray(v) && v.length === 0)) continue;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || Array.isArray(v))
      record.inputs[name] = v as RecordedInput;
  }
}

function withPlanHash(spec: OperationSpec, res: Result, record: RunRecord): Result {
  const hash = planHash(res.plan);
  const status = res.report.status ?? 'done';
  if (record.expected !== undefined && record.approved === undefined && res.plan.some((r) => r.result === 'written')) {
    // Nothing planned may be written unchecked; an operation that skips approve() is broken, loudly.
    throw new Error(`${spec.name} did not check its plan against expect-plan before writing`);
  }
  const text =
    status === 'dry-run'
      ? `${hash}: pass it as expect-plan to apply this plan and no other (the run refuses if what it would write has changed)`
      : record.expected !== undefined
        ? `${hash}: the approved plan (expect-plan)`
        : `${hash} (not bound to an approval: no expect-plan given)`;
  return {
    ...res,
    outputs: { ...res.outputs, ...(PLAN_HASH_OUTPUT in spec.outputs && { [PLAN_HASH_OUTPUT]: hash }) },
    report: { ...res.report, sections: [...res.report.sections, { heading: 'Plan hash', text }] },
  };
}

/** Longest time limit an input accepts: a request or helper quiet for an hour is hung, whatever it is doing. */
export const MAX_LIMIT_SECONDS = 3600;

/** A time-limit input in seconds, as ms (undefined when not given); refuses zero, negatives and more than an hour. */
export function limitMs(seconds: number | undefined, input: string): number | undefined {
  if (seconds === undefined) return undefined;
  if (!(seconds > 0 && seconds <= MAX_LIMIT_SECONDS))
    badInput(input, `seconds, more than 0 and at most ${MAX_LIMIT_SECONDS}`, String(seconds));
  return Math.round(seconds * 1000);
}
