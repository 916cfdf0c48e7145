import { ConflictError } from '../errors.js';
import type { PlanRow } from './plan.js';
import { planHash } from './plan-hash.js';

/** The sha256 (hex) an `expect-plan` input carries. */
export const PLAN_HASH_PATTERN = /^[0-9a-f]{64}$/;

/** A non-secret input value as the audit record keeps it. */
export type RecordedInput = string | number | boolean | string[];

/** The GitHub Actions run a run document or audit record belongs to (absent for a run by hand). */
export interface RunIdentity {
  id: string;
  repository?: string;
  workflowRef?: string;
  workflowSha?: string;
  ref?: string;
  sha?: string;
  event?: string;
  job?: string;
  attempt?: string;
  url?: string;
}

/** What a replay (`relay replay`) recovers: the run whose run document it was given. */
export interface Recovers {
  /** The run document's operation and its plan's hash (the failed run's plan). */
  operation: string;
  planSha256: string;
  /** How that run ended (failed, cancelled, refused, …). */
  status: string;
  /** The GitHub Actions run, when the document names one. */
  run?: RunIdentity;
  /** The sha256 of the run document as read. */
  documentSha256: string;
}

/**
 * What a run has decided so far, kept by the face: when the run fails after
 * planning, the job summary and the JSON report still show the plan.
 *
 * It also binds a writing run to an approved plan. The plan, once complete, is
 * approved with `approve()` before the first write (an operation calls it once,
 * between planning and executing, dry run or not): when the run was given the
 * hash of an approved plan (`expect-plan`, set by defineOperation) and the plan
 * it has just computed hashes differently, approve() refuses before anything is
 * written. An operation that plans in stages must plan every stage first:
 * rows added after approve() are a bug. (Publish writes a new version's zips
 * ahead of approve() only when no approved plan binds the run, when nothing
 * could refuse them: terraform/upload-ahead.ts.)
 */
export class RunRecord {
  plan: PlanRow[] = [];
  /** The operation running (set by defineOperation). */
  operation?: string;
  /** The approved plan's hash this run must match (input `expect-plan`); undefined when not bound. */
  expected?: string;
  /** The hash of the plan approve() let through: the plan the run executed. */
  approved?: string;
  /** The non-secret inputs given, for the audit record (set by defineOperation; values redacted when written). */
  inputs: Record<string, RecordedInput> = {};
  /** Where each input came from (the face sets it: flag, with, secrets-file, RELAY_*, release-file FILE:LINE, default). */
  origins: Record<string, string> = {};
  /** Set by a replay: the run it recovers (named in the run document and the audit record). */
  recovers?: Recovers;
  /** A dry run (set by defineOperation from `dry-run`): it writes nothing, so nothing can refuse a write. */
  dryRun = false;
  /**
   * Checks that can refuse a write the run will make after its plan's (the
   * audit record's destination): run by approve() when the plan writes
   * something, so they refuse before the first write, never after the last.
   * Synchronous on purpose: approve() is the one point every operation passes.
   */
  private readonly beforeWrites: (() => void)[] = [];

  /** The plan as computed; later calls add rows (several targets, several images). */
  addPlan(rows: readonly PlanRow[]): void {
    if (this.approved !== undefined) throw new Error(`${this.operation ?? 'operation'}: plan rows added after the plan was approved`);
    this.plan.push(...rows);
  }

  /** Adds a check that must pass before the run's first write (see beforeWrites). */
  beforeWrite(check: () => void): void {
    this.beforeWrites.push(check);
  }

  /**
   * The plan is complete and nothing is written yet: refuses when it is not the
   * approved one, or when a write the run will make afterwards (its audit
   * record) would be refused; returns its hash.
   */
  approve(): string {
    if (this.approved !== undefined) throw new Error(`${this.operation ?? 'operation'}: plan approved twice`);
    const now = planHash(this.plan);
    if (this.expected !== undefined && now !== this.expected) {
      throw new ConflictError(
        `plan changed since it was approved: expected ${this.expected}, now ${now} (the files, the signing key, the store or a registry changed in between; run the plan again)`,
      );
    }
    // A dry run or a no-op writes nothing (and records nothing): nothing of it can be refused.
    if (
      !this.dryRun &&
      this.plan.some((r) => r.action === 'put' || r.action === 'replace' || r.action === 'mount' || r.action === 'repair')
    )
      for (const check of this.beforeWrites) check();
    this.approved = now;
    return now;
  }
}
