import type { OutputValue, Result } from '../context.js';
import { EXIT, errorJson, exitCodeFor, RelayError, type ErrorKind } from '../errors.js';
import type { PlanRow } from './plan.js';
import type { RecordedInput, Recovers, RunIdentity, RunRecord } from './recorder.js';
import type { Report, RunStatus } from './report.js';

/**
 * How a run ended, the same for every face: its status, its exit code, and
 * the one JSON document `--json` prints (shape documented in the README and
 * tested in cli/test/json.test.ts).
 */
export interface RunDocument {
  operation: string;
  status: RunStatus;
  exitCode: number;
  outputs: Record<string, OutputValue>;
  /** Every planned object, with `result` once executed; what was planned before a failure. */
  plan: PlanRow[];
  /** Plan rows left out of this copy (the action's `report` output is capped; RELAY_REPORT_FILE has them all). */
  planOmitted?: number;
  error?: { kind: ErrorKind | 'bug' | 'usage'; message: string };
  /**
   * Every input given or defaulted: where it came from (`flag`, `with`, `secrets-file`, `RELAY_*`,
   * `release-file FILE:LINE (ENV)`, `default`) and, for a writing operation, its value unless it is a
   * secret. `relay replay` runs the operation again with these values.
   */
  inputs?: Record<string, { from: string; value?: RecordedInput }>;
  /** The GitHub Actions run (absent for a run by hand). */
  run?: RunIdentity;
  /** A replay: the run it recovers. */
  recovers?: Recovers;
}

/** The document with what the run record knows about its inputs (values of non-secrets only), its run and what it recovers. */
export function withRunRecord(doc: RunDocument, record: RunRecord, run: RunIdentity | undefined): RunDocument {
  const names = new Set([...Object.keys(record.origins), ...Object.keys(record.inputs)]);
  const inputs: NonNullable<RunDocument['inputs']> = {};
  for (const name of names) {
    const value = record.inputs[name];
    inputs[name] = { from: record.origins[name] ?? 'given', ...(value !== undefined && { value }) };
  }
  return {
    ...doc,
    ...(names.size > 0 && { inputs }),
    ...(run && { run }),
    ...(record.recovers && { recovers: record.recovers }),
  };
}

/** A finished run's status: what the operation said, else done. */
export function statusOf(res: Result): RunStatus {
  return res.report.status ?? 'done';
}

/** Exit code of a run that returned: drift found is 4, targets that failed are 3. */
export function exitCodeOfStatus(status: RunStatus): number {
  if (status === 'drift') return EXIT.drift;
  if (status === 'failed') return EXIT.remote;
  return EXIT.ok;
}

/** The status a thrown error gives a run. */
export function statusOfError(err: unknown): RunStatus {
  if (!(err instanceof RelayError)) return 'failed';
  if (err.kind === 'cancelled') return 'cancelled';
  if (err.kind === 'remote') return 'failed';
  return 'refused';
}

export function documentOf(operation: string, res: Result): RunDocument {
  const status = statusOf(res);
  return { operation, status, exitCode: exitCodeOfStatus(status), outputs: res.outputs, plan: res.plan };
}

export function failureDocument(operation: string, err: unknown, plan: PlanRow[], usage = false): RunDocument {
  return {
    operation,
    status: usage ? 'refused' : statusOfError(err),
    exitCode: usage ? EXIT.usage : exitCodeFor(err),
    outputs: {},
    plan,
    error: usage ? { kind: 'usage', message: errorJson(err).message } : errorJson(err),
  };
}

/** The report of a run that threw: its status and error, and the plan it had made. */
export function failureReport(operation: string, err: unknown, plan: PlanRow[]): Report {
  const status = statusOfError(err);
  return {
    title: `${operation}: ${status}`,
    status,
    sections: [
      { heading: 'Error', text: errorJson(err).message },
      ...(plan.length
        ? [
            {
              heading: 'Plan at the time',
              table: { head: ['object', 'action', 'why', 'result'], rows: plan.map((r) => [r.object, r.action, r.why, r.result ?? '']) },
            },
          ]
        : []),
    ],
  };
}
