import type { PlanRow } from './plan.js';

/**
 * What a run has decided so far, kept by the face: when the run fails after
 * planning, the job summary and the JSON report still show the plan.
 */
export class RunRecord {
  plan: PlanRow[] = [];
  /** The plan as computed; later calls add rows (several targets, several images). */
  addPlan(rows: readonly PlanRow[]): void {
    this.plan.push(...rows);
  }
}
