import {
  runController,
  CancelledError,
  documentOf,
  errorMessage,
  failureDocument,
  isExpected,
  jsonPieces,
  parseInputs,
  renderText,
  RunRecord,
  TerminalLogger,
  type AnyOperation,
  type RunDocument,
} from '@relay/core';
import { COMMON_FLAGS, extractSecretsFlag, helpText, parseArgs, UsageError } from './args.js';

export interface CliIo {
  argv: string[];
  env: Record<string, string | undefined>;
  cwd: string;
  /** Where `--secrets-file -` reads. */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

/**
 * Turns SIGINT/SIGTERM into the run's AbortSignal: the first one cancels
 * (writes in flight finish, the registry stays consistent), a second one
 * exits at once with 130.
 */
export function cancelOnSignals(log: { warn(msg: string): void }, what: string): { signal: AbortSignal; dispose(): void } {
  const controller = runController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (controller.signal.aborted) process.exit(130);
    log.warn(`${sig}: cancelling ${what} (again to stop at once)`);
    controller.abort(new CancelledError(`${what} cancelled by ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/**
 * Runs one operation the way the action does: same inputs, same run, same
 * report. Returns the documented exit code (README "Exit codes").
 */
export async function runOperation(op: AnyOperation, io: CliIo, prog: string): Promise<number> {
  const has = (f: string): boolean => io.argv.includes(f);
  const argv = io.argv.filter((a) => !COMMON_FLAGS.includes(a));
  const debug = has('--debug') || io.env.RELAY_DEBUG === '1';
  const asJson = has('--json');
  if (has('--help') || has('-h')) {
    io.stdout.write(helpText(op.spec, prog) + '\n');
    return 0;
  }
  const quiet = has('--quiet') || has('-q');
  const log = new TerminalLogger(io.stderr, debug, quiet);
  const record = new RunRecord();
  const cancel = cancelOnSignals(log, op.spec.name);
  const print = (doc: RunDocument): void => {
    if (!asJson) return;
    // In batches of whole values (a secret is never split between two), not one string of megabytes.
    let batch = '';
    for (const piece of jsonPieces(doc)) {
      batch += piece;
      if (batch.length >= 65536) {
        io.stdout.write(log.redact(batch));
        batch = '';
      }
    }
    io.stdout.write(log.redact(batch) + '\n');
  };
  try {
    const flag = extractSecretsFlag(argv);
    // Read and masked before the arguments are even checked: no message from here on can print a value of the file.
    // The YAML parser loads only for a run that reads a secrets file.
    const fromFile =
      flag.source === undefined
        ? {}
        : await (await import('./secrets-file.js')).readSecretsFile(op.spec, flag.source, io, (v) => log.mask(v));
    const { raw, fromFlags } = parseArgs(op.spec, flag.argv, io.env, fromFile);
    for (const [name, s] of Object.entries(op.spec.inputs)) {
      if (s.secret && raw[name]) log.mask(raw[name]!);
      if (s.secret && fromFlags.has(name))
        log.warn(`--${name} on the command line is visible to other users of this machine; prefer the environment variable`);
    }
    const inputs = parseInputs(op.spec, raw, log);
    const res = await op.run(inputs, { log, env: io.env, cwd: io.cwd, signal: cancel.signal, record });
    const doc = documentOf(op.spec.name, res);
    if (asJson) print(doc);
    // --quiet: warnings and errors only; the exit code says how it ended, --json gives the whole document
    else if (!quiet) io.stdout.write(log.redact(renderText(res.report)));
    return doc.exitCode;
  } catch (err) {
    const usage = err instanceof UsageError;
    const doc = failureDocument(op.spec.name, err, record.plan, usage);
    print(doc);
    if (usage || isExpected(err)) {
      log.error(errorMessage(err));
      if (debug && err instanceof Error && err.stack) log.debug(err.stack);
    } else {
      log.error(`internal error: ${errorMessage(err)}${debug ? '' : ' (run with --debug for the stack trace)'}`);
      if (debug && err instanceof Error && err.stack) log.error(err.stack);
    }
    return doc.exitCode;
  } finally {
    cancel.dispose();
  }
}
