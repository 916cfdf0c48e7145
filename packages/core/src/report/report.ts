/**
 * The one report model every operation returns and every face renders
 * (terminal text, job-summary markdown, the --json document).
 */

/** How a run ended, as the summary's first line and the JSON `status` say it. */
export type RunStatus = 'done' | 'no-op' | 'dry-run' | 'refused' | 'failed' | 'cancelled' | 'drift';

export interface Report {
  title: string;
  /** Set by the operation when it knows better than "done" (a no-op, a dry run, drift found). */
  status?: RunStatus;
  /** What the run did in a few words, after the status ("3 written, 11 identical"). */
  counts?: string;
  /** Markdown-free sections: heading, then a table or preformatted text. */
  sections: ReportSection[];
}

export type ReportSection =
  | { heading: string; table: { head: string[]; rows: string[][] }; collapsed?: boolean }
  | { heading: string; code: string; lang?: string; collapsed?: boolean }
  | { heading: string; text: string };
