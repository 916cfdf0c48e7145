import type { PlanRow } from '../../report/plan.js';
import type { Transferred } from './execute.js';
import type { SourceGraph } from './graph.js';
import type { Plan } from './plan.js';
import type { Verified } from './verify.js';

/** What one copy did; its own module so that copy.ts and report.ts need not import each other. */
export interface CopyResult {
  digest: string;
  /** Every reference the copy made true: tags, then the image by digest. */
  images: string[];
  plan: Plan;
  graph: SourceGraph;
  transferred?: Transferred;
  verified: Verified[];
  /** The plan in the shared vocabulary, with results once executed. */
  rows: PlanRow[];
}
