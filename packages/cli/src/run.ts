import { errorMessage, isExpected, parseInputs, renderText, TerminalLogger, type Operation } from '@relay/core';
import { helpText, parseArgs, UsageError } from './args.js';

export interface CliIo {
  argv: string[];
  env: Record<string, string | undefined>;
  cwd: string;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

/**
 * Runs one operation the way the action does: same inputs, same run, same
 * report. Returns the exit code: 0 ok, 1 refused (bad input, conflict,
 * integrity), 2 usage, 70 a bug.
 */
export async function runOperation(op: Operation, io: CliIo, prog: string): Promise<number> {
  const argv = io.argv.filter((a) => a !== '--debug' && a !== '--json');
  const debug = io.argv.includes('--debug') || io.env.RELAY_DEBUG === '1';
  const asJson = io.argv.includes('--json');
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(helpText(op.spec, prog) + '\n');
    return 0;
  }
  const log = new TerminalLogger(io.stderr, debug);
  try {
    const { raw, fromFlags } = parseArgs(op.spec, argv, io.env);
    for (const [name, s] of Object.entries(op.spec.inputs)) {
      if (s.secret && raw[name]) log.mask(raw[name]!);
      if (s.secret && fromFlags.has(name))
        log.warn(`--${name} on the command line is visible to other users of this machine; prefer the environment variable`);
    }
    const inputs = parseInputs(op.spec, raw, log);
    const res = await op.run(inputs, { log, env: io.env, cwd: io.cwd });
    io.stdout.write(asJson ? JSON.stringify(res.outputs, null, 2) + '\n' : renderText(res.report));
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      log.error(err.message);
      return 2;
    }
    if (isExpected(err)) {
      log.error(errorMessage(err));
      if (debug && err instanceof Error && err.stack) log.debug(err.stack);
      return 1;
    }
    log.error(`internal error: ${errorMessage(err)}${debug ? '' : ' (run with --debug for the stack trace)'}`);
    if (debug && err instanceof Error && err.stack) log.error(err.stack);
    return 70;
  }
}
