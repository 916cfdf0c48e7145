import * as core from '@actions/core';
import { envName, errorMessage, isExpected, parseInputs, renderMarkdown, type Operation, type RawInputs } from '@relay/core';
import { ActionsLogger } from './logger.js';

/**
 * The whole action face: inputs from the spec (the runner applies
 * action.yml defaults; RELAY_* variables fill what the workflow left empty),
 * run, outputs, job summary, and exactly one setFailed on error.
 */
export async function runAction(op: Operation): Promise<void> {
  const log = new ActionsLogger();
  try {
    const raw: RawInputs = {};
    for (const name of Object.keys(op.spec.inputs)) raw[name] = core.getInput(name) || process.env[envName(name)] || '';
    // parseInputs masks every secret before it can reach a log line
    const inputs = parseInputs(op.spec, raw, log);
    const res = await op.run(inputs, { log, env: process.env, cwd: process.env.GITHUB_WORKSPACE || process.cwd() });
    for (const [k, v] of Object.entries(res.outputs)) core.setOutput(k, v);
    if (process.env.GITHUB_STEP_SUMMARY) await core.summary.addRaw(renderMarkdown(res.report)).write();
  } catch (err) {
    if (!isExpected(err) && err instanceof Error && err.stack) core.debug(err.stack);
    core.setFailed(
      isExpected(err) ? errorMessage(err) : `internal error: ${errorMessage(err)} (re-run with debug logging for the stack trace)`,
    );
  }
}
