import * as core from '@actions/core';
import { findOperation } from '@relay/core';
import { runAction } from './run-action.js';

/** The shared action bundle's one entry: dist/actions/<name>.mjs calls it with its action's name. */
export async function runActionNamed(name: string): Promise<void> {
  const op = findOperation(name);
  if (!op) {
    core.setFailed(`internal error: no operation '${name}' in this bundle`);
    process.exitCode = 70;
    return;
  }
  await runAction(op);
}
