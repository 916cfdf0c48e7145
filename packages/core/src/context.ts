import type { Logger } from './log/logger.js';

/** A row-oriented report that faces render (terminal, job summary, JSON). */
export interface Report {
  title: string;
  /** Markdown-free sections: heading, then a table or preformatted text. */
  sections: ReportSection[];
}
export type ReportSection =
  | { heading: string; table: { head: string[]; rows: string[][] } }
  | { heading: string; code: string; lang?: string }
  | { heading: string; text: string };

/** What every operation receives besides its inputs. */
export interface Context {
  log: Logger;
  /** The environment the face chose to pass (core never reads process.env). */
  env: Record<string, string | undefined>;
  /** Where relative paths resolve. */
  cwd: string;
  signal?: AbortSignal;
}

/** What every operation returns: outputs for the action, a report for people. */
export interface Result {
  outputs: Record<string, string>;
  report: Report;
}
