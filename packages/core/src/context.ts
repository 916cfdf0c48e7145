import type { HttpClientOptions } from './http/client.js';
import type { Logger } from './log/logger.js';
import type { AwsConfig } from './oci/ecr/client.js';
import type { PlanRow } from './report/plan.js';
import type { RunRecord } from './report/recorder.js';
import type { Report } from './report/report.js';

export type { Report, ReportSection, RunStatus } from './report/report.js';

/** Overrides for tests and stand-ins (retry timing, --connect-to, a fake AWS endpoint); the faces pass none. */
export interface Clients {
  http?: Omit<HttpClientOptions, 'insecureHosts' | 'log'>;
  aws?: AwsConfig;
}

/** What every operation receives besides its inputs. */
export interface Context {
  log: Logger;
  /** The environment the face chose to pass (core never reads process.env). */
  env: Record<string, string | undefined>;
  /** Where relative paths resolve. */
  cwd: string;
  /** Fires on SIGINT/SIGTERM or the runner's cancel: engines stop between objects and abort requests. */
  signal?: AbortSignal;
  clients?: Clients;
  /** Where the operation records its plan as soon as it has one, so a failed run still reports it. */
  record?: RunRecord;
  /** The run's time limits, from its inputs (defineOperation sets them); one not set is DEFAULTS'. */
  limits?: Limits;
  /**
   * Variables of `env` that came from a secrets map and that only the run's inputs
   * can justify (inputs/variables.ts): the operation refuses those its inputs do
   * not name (`checkNamedVariables`); one that names none refuses them all.
   */
  namedVariables?: { names: readonly string[]; where: string };
}

/** How long a run lets anything outside the process take, from the request-timeout and subprocess-timeout inputs. */
export interface Limits {
  /** One remote request (or S3 call), every retry included. */
  requestMs?: number;
  /** Any subprocess Relay starts: credential helpers, a provider run for its handshake. */
  subprocessMs?: number;
}

/** An output's value: typed in --json, rendered as text for an action output (lists one per line, objects as JSON). */
export type OutputValue = string | number | boolean | string[] | { [key: string]: unknown };

/** What every operation returns: outputs, the plan (with per-object results), a report for people. */
export interface Result {
  outputs: Record<string, OutputValue>;
  plan: PlanRow[];
  report: Report;
}

/** An output as an action output or environment text. */
export function outputText(v: OutputValue): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.join('\n');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}
