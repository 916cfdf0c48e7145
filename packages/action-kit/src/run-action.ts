import * as core from '@actions/core';
import { writeFileSync } from 'node:fs';
import {
  runController,
  CancelledError,
  documentOf,
  envName,
  errorMessage,
  exitCodeFor,
  exitCodeOfStatus,
  failureDocument,
  failureReport,
  fillInputs,
  isExpected,
  outputText,
  parseDotenv,
  parseInputs,
  RELEASE_ENVIRONMENT_VARIABLE,
  RELEASE_FILE_VARIABLE,
  renderMarkdown,
  RunRecord,
  sortSecrets,
  statusOf,
  takesReleaseFile,
  whoAndRun,
  withRunRecord,
  type AnyOperation,
  type InputOrigins,
  type RawInputs,
  type Report,
  type RunDocument,
  type SortedSecrets,
} from '@relay/core';
import { ActionsLogger } from './logger.js';

/**
 * The whole action face: inputs from the spec (the runner applies action.yml
 * defaults; RELAY_* variables fill what the workflow left empty), the
 * runner's cancel (SIGINT, then SIGTERM) as the run's signal, outputs, a job
 * summary whatever the outcome, and exactly one setFailed on failure.
 */
export async function runAction(op: AnyOperation): Promise<void> {
  const log = new ActionsLogger();
  const controller = runController();
  const cancel = (sig: NodeJS.Signals): void => {
    log.warn(`${sig}: cancelling ${op.spec.name}; writes in flight finish, nothing new starts`);
    controller.abort(new CancelledError(`${op.spec.name} cancelled by ${sig}`));
  };
  process.once('SIGINT', cancel);
  process.once('SIGTERM', cancel);
  const record = new RunRecord();
  let report: Report;
  try {
    // RELAY_ENV first: every value masked before anything else can print one.
    const secrets = envSecret(op, log);
    const raw: RawInputs = {};
    const origins: InputOrigins = {};
    for (const name of Object.keys(op.spec.inputs)) {
      const given: [string, string | undefined][] = [
        ['with', core.getInput(name)],
        [ENV_SECRET, secrets.inputs[name]],
        [envName(name), process.env[envName(name)]],
      ];
      const [from, value] = given.find(([, v]) => v !== undefined && v !== '') ?? [];
      if (from !== undefined) [raw[name], origins[name]] = [value, from];
    }
    const cwd = process.env.GITHUB_WORKSPACE || process.cwd();
    const env = { ...process.env, ...secrets.variables };
    const choice = takesReleaseFile(op.spec)
      ? { file: process.env[RELEASE_FILE_VARIABLE], environment: process.env[RELEASE_ENVIRONMENT_VARIABLE] }
      : {};
    await fillInputs(op.spec, raw, origins, choice, { cwd, env });
    record.origins = origins;
    // parseInputs masks every secret before it can reach a log line
    const inputs = parseInputs(op.spec, raw, log, (name) => `with: ${name}`);
    const res = await op.run(inputs, {
      log,
      env,
      cwd,
      signal: controller.signal,
      record,
      ...(secrets.named.length > 0 && { namedVariables: { names: secrets.named, where: ENV_SECRET } }),
    });
    for (const [k, v] of Object.entries(res.outputs)) core.setOutput(k, log.redact(outputText(v)));
    keepDocument(withRunRecord(documentOf(op.spec.name, res), record, whoAndRun(process.env).run), log);
    report = res.report;
    const code = exitCodeOfStatus(statusOf(res));
    if (code !== 0) {
      core.setFailed(`${op.spec.name}: ${statusOf(res)} (see the job summary)`);
      process.exitCode = code;
    }
  } catch (err) {
    if (!isExpected(err) && err instanceof Error && err.stack) core.debug(log.redact(err.stack));
    report = failureReport(op.spec.name, err, record.plan);
    keepDocument(withRunRecord(failureDocument(op.spec.name, err, record.plan), record, whoAndRun(process.env).run), log);
    core.setFailed(
      isExpected(err) ? errorMessage(err) : `internal error: ${errorMessage(err)} (re-run with debug logging for the stack trace)`,
    );
    process.exitCode = exitCodeFor(err);
  } finally {
    process.off('SIGINT', cancel);
    process.off('SIGTERM', cancel);
  }
  if (process.env.GITHUB_STEP_SUMMARY) await core.summary.addRaw(fitSummary(log.redact(renderMarkdown(report)))).write();
}

/** The dotenv secret the reusable workflows pass to the action (`secrets.RELAY_ENV`). */
export const ENV_SECRET = 'RELAY_ENV';

/**
 * RELAY_ENV: one `NAME=value` per line, read by the same parser and sorted by the
 * same rules as the CLI's `--secrets-file` (@relay/core parseDotenv, sortSecrets),
 * except AWS_*: in a workflow AWS access comes through OIDC, never long-lived keys.
 */
function envSecret(op: AnyOperation, log: ActionsLogger): SortedSecrets {
  const text = process.env[ENV_SECRET];
  if (!text) return { inputs: {}, variables: {}, named: [] };
  return sortSecrets(op.spec, parseDotenv(text, ENV_SECRET), (v) => log.mask(v), ENV_SECRET, {
    refuse: { pattern: /^AWS_/, why: 'AWS access in a workflow goes through OIDC (role-to-assume), never long-lived keys' },
  });
}

/**
 * Bytes of one step's job summary: GitHub shows none of a summary over 1 MiB
 * (it reports an error instead), so a bigger one is cut below that.
 */
export const SUMMARY_MAX_BYTES = 1024 * 1024 - 8 * 1024;

/**
 * The summary as GitHub will show it: whole when it fits, else cut at a line
 * below SUMMARY_MAX_BYTES, any folded section left open closed, and a last
 * line saying where the rest is (the run document keeps every plan row).
 */
export function fitSummary(markdown: string, max = SUMMARY_MAX_BYTES): string {
  const bytes = Buffer.from(markdown, 'utf8');
  if (bytes.length <= max) return markdown;
  const head = bytes.subarray(0, max - 1024).toString('utf8');
  const kept = head.slice(0, head.lastIndexOf('\n') + 1);
  const open = (kept.match(/^<details>$/gm) ?? []).length - (kept.match(/^<\/details>$/gm) ?? []).length;
  return (
    kept +
    '\n</details>\n'.repeat(Math.max(0, open)) +
    `\n**The rest of this summary is left out: GitHub shows none of a summary over 1 MiB (${bytes.length} bytes). Every plan row is in the run document (RELAY_REPORT_FILE, which the reusable workflows keep as an artifact).**\n`
  );
}

/**
 * Characters of the `report` output. GitHub caps a job's outputs at 1 MB,
 * counted as UTF-16, and the reusable workflows pass `report` on as a job output.
 */
export const REPORT_OUTPUT_MAX = 256 * 1024;

/**
 * The run document as the `report` output, whatever the outcome, and also as
 * the file RELAY_REPORT_FILE names when set: the reusable workflows read the
 * plan from there, since a large plan does not fit in an environment variable.
 * The file has every plan row; the output keeps the first ones that fit under
 * REPORT_OUTPUT_MAX and says how many it left out (`planOmitted`).
 */
function keepDocument(doc: RunDocument, log: ActionsLogger): void {
  const text = log.redact(JSON.stringify(doc));
  core.setOutput('report', text.length <= REPORT_OUTPUT_MAX ? text : shortened(doc, text.length, log));
  const file = process.env.RELAY_REPORT_FILE;
  try {
    if (file) writeFileSync(file, text + '\n');
  } catch (err) {
    core.warning(`could not write the run document to RELAY_REPORT_FILE (${file}): ${errorMessage(err)}`);
  }
}

function shortened(doc: RunDocument, length: number, log: ActionsLogger): string {
  const rows = doc.plan.length;
  let keep = Math.floor((rows * REPORT_OUTPUT_MAX) / length);
  let text: string;
  for (;;) {
    text = log.redact(JSON.stringify({ ...doc, plan: doc.plan.slice(0, keep), planOmitted: rows - keep }));
    if (text.length <= REPORT_OUTPUT_MAX || keep === 0) break;
    keep = Math.floor(keep * 0.9);
  }
  log.info(
    `the report output lists ${keep} of ${rows} plan rows (job outputs are limited to 1 MB); ` +
      (process.env.RELAY_REPORT_FILE ? `all of them are in ${process.env.RELAY_REPORT_FILE}` : 'set RELAY_REPORT_FILE to keep them all'),
  );
  return text;
}
