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
  redactValue,
  fitJson,
  fitLines,
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
    const doc = redactValue(withRunRecord(documentOf(op.spec.name, res), record, whoAndRun(process.env).run), (t) => log.redact(t));
    setOutputs(op, doc.outputs, log);
    keepDocument(doc, log);
    report = res.report;
    const code = exitCodeOfStatus(statusOf(res));
    if (code !== 0) {
      log.fail(`${op.spec.name}: ${statusOf(res)} (see the job summary)`);
      process.exitCode = code;
    }
  } catch (err) {
    if (!isExpected(err) && err instanceof Error && err.stack) log.debug(err.stack);
    report = failureReport(op.spec.name, err, record.plan);
    keepDocument(
      redactValue(withRunRecord(failureDocument(op.spec.name, err, record.plan), record, whoAndRun(process.env).run), (t) => log.redact(t)),
      log,
    );
    log.fail(isExpected(err) ? errorMessage(err) : `internal error: ${errorMessage(err)} (re-run with debug logging for the stack trace)`);
    process.exitCode = exitCodeFor(err);
  } finally {
    process.off('SIGINT', cancel);
    process.off('SIGTERM', cancel);
  }
  // Redacted as values before rendering: markdown escapes `<`, `&` and `|`, which would hide a secret from text redaction.
  if (process.env.GITHUB_STEP_SUMMARY)
    await core.summary.addRaw(fitSummary(renderMarkdown(redactValue(report, (t) => log.redact(t))))).write();
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
 * Characters (UTF-16 code units) of all of a step's outputs together. GitHub
 * allows a job 1 MB of outputs, sized as UTF-16 (two bytes a character), and
 * the reusable workflows pass every output of the step on as a job output;
 * 1,000,000 bytes less room for their names.
 */
export const OUTPUTS_MAX = 500_000 - 8 * 1024;

/** Characters of the `report` output: half of OUTPUTS_MAX and more (the run document is the output people read). */
export const REPORT_OUTPUT_MAX = 256 * 1024;

/**
 * Sets the operation's outputs, within what OUTPUTS_MAX leaves beside the
 * report: outputs smaller than an equal share are set whole, and what they
 * leave is shared by the larger ones (a list output keeps its first lines, a
 * JSON output the first rows of each of its lists, counting the rest, as
 * fitJson does). Each cut is said in the log; the run document in
 * RELAY_REPORT_FILE keeps every row.
 */
function setOutputs(op: AnyOperation, outputs: RunDocument['outputs'], log: ActionsLogger): void {
  const texts = Object.entries(outputs).map(([name, v]) => ({ name, v, text: outputText(v) }));
  let budget = OUTPUTS_MAX - REPORT_OUTPUT_MAX;
  let left = texts.length;
  for (const o of [...texts].sort((a, b) => a.text.length - b.text.length)) {
    const share = Math.floor(budget / left--);
    let text = o.text;
    if (text.length > share) {
      const type = op.spec.outputs[o.name]?.type;
      let kept: string;
      if (Array.isArray(o.v)) {
        const f = fitLines(o.v, share);
        text = f.text;
        kept = `the first ${f.kept} of ${o.v.length} lines`;
      } else if (type === 'json' || (typeof o.v === 'object' && o.v !== null)) {
        const f = fitJson(o.v, share);
        text = f.text;
        kept = `all but ${f.omitted} rows of its lists`;
      } else {
        text = text.slice(0, share);
        kept = `its first ${share} characters`;
      }
      log.warn(`output '${o.name}' keeps ${kept} (${o.text.length} characters; GitHub limits a job's outputs to 1 MB); ${whereAll()}`);
    }
    budget -= text.length;
    core.setOutput(o.name, text);
  }
}

function whereAll(): string {
  const file = process.env.RELAY_REPORT_FILE;
  return file ? `the run document in ${file} has them all` : 'set RELAY_REPORT_FILE to keep them all';
}

/**
 * The run document (already redacted) as the `report` output, whatever the
 * outcome, and also as the file RELAY_REPORT_FILE names when set: the
 * reusable workflows read the plan from there, since a large plan does not fit
 * in an environment variable. The file has every row; the output, when the
 * whole does not fit REPORT_OUTPUT_MAX, keeps what fitJson keeps (status,
 * exit code, error, counts, and the first rows of every list, with
 * `planOmitted` and the like saying how many were left out).
 */
function keepDocument(doc: RunDocument, log: ActionsLogger): void {
  const text = JSON.stringify(doc);
  let output = text;
  if (text.length > REPORT_OUTPUT_MAX) {
    const f = fitJson(doc, REPORT_OUTPUT_MAX);
    output = f.text;
    log.info(`the report output leaves out ${f.omitted} rows (job outputs are limited to 1 MB); ${whereAll()}`);
  }
  core.setOutput('report', output);
  const file = process.env.RELAY_REPORT_FILE;
  try {
    if (file) writeFileSync(file, text + '\n');
  } catch (err) {
    log.warn(`could not write the run document to RELAY_REPORT_FILE (${file}): ${errorMessage(err)}`);
  }
}
