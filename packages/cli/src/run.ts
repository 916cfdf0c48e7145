import {
  runController,
  CancelledError,
  documentOf,
  errorMessage,
  failureDocument,
  isExpected,
  inert,
  jsonPieces,
  redactValue,
  parseInputs,
  renderText,
  envName,
  fillInputs,
  RELEASE_ENVIRONMENT_VARIABLE,
  RELEASE_FILE_VARIABLE,
  RunRecord,
  takesReleaseFile,
  TerminalLogger,
  whoAndRun,
  withRunRecord,
  type AnyOperation,
  type InputOrigins,
  type RawInputs,
  type ReleaseFileChoice,
  type PlanRow,
  type RunDocument,
  type SortedSecrets,
} from '@relay/core';
import {
  COMMON_FLAGS,
  ENVIRONMENT_FLAG,
  extractFlag,
  extractSecretsFlag,
  helpText,
  parseArgs,
  RELEASE_FILE_FLAG,
  UsageError,
} from './args.js';

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

/** What a run needs once its inputs are read: the raw inputs with their origins, the environment, the named variables. */
export interface Prepared {
  raw: RawInputs;
  origins: InputOrigins;
  env: Record<string, string | undefined>;
  namedVariables?: { names: readonly string[]; where: string };
}

/** The CLI's flags that every run shares (not inputs). */
export interface RunFlags {
  asJson: boolean;
  debug: boolean;
  quiet: boolean;
}

export function runFlags(io: CliIo): RunFlags {
  const has = (f: string): boolean => io.argv.includes(f);
  return { asJson: has('--json'), debug: has('--debug') || io.env.RELAY_DEBUG === '1', quiet: has('--quiet') || has('-q') };
}

/**
 * Runs one operation the way the action does: same inputs, same run, same
 * report. Returns the documented exit code (README "Exit codes").
 */
export async function runOperation(op: AnyOperation, io: CliIo, prog: string): Promise<number> {
  if (io.argv.includes('--help') || io.argv.includes('-h')) {
    io.stdout.write(helpText(op.spec, prog) + '\n');
    return 0;
  }
  const argv = io.argv.filter((a) => !COMMON_FLAGS.includes(a));
  return runPrepared(op, io, runFlags(io), async (log) => {
    const flag = extractSecretsFlag(argv);
    let rest = flag.argv;
    let choice: ReleaseFileChoice = {};
    if (takesReleaseFile(op.spec)) {
      const file = extractFlag(rest, RELEASE_FILE_FLAG, 'the path of a release file (.relay/release.yml)');
      const environment = extractFlag(file.argv, ENVIRONMENT_FLAG, 'the name of an environment of the release file');
      rest = environment.argv;
      choice = {
        file: file.value ?? io.env[RELEASE_FILE_VARIABLE],
        environment: environment.value ?? io.env[RELEASE_ENVIRONMENT_VARIABLE],
      };
      if (environment.value !== undefined && !choice.file)
        throw new UsageError(`flag ${ENVIRONMENT_FLAG} names an environment of a release file: give ${RELEASE_FILE_FLAG} too`);
    }
    // Read and masked before the arguments are even checked: no message from here on can print a value of the file.
    const secrets = flag.source === undefined ? undefined : await readSecrets(op, flag.source, io, log);
    const { raw, fromFlags } = parseArgs(op.spec, rest, io.env, secrets?.inputs ?? {});
    const origins: InputOrigins = {};
    for (const [name, s] of Object.entries(op.spec.inputs)) {
      if (raw[name] === undefined || raw[name] === '') continue;
      origins[name] = fromFlags.has(name) ? 'flag' : secrets?.inputs[name] ? 'secrets-file' : envName(name);
      if (s.secret) log.mask(raw[name]!);
      if (s.secret && fromFlags.has(name))
        log.warn(`--${name} on the command line is visible to other users of this machine; prefer the environment variable`);
    }
    // The file's variables are the run's (Context.env), over the process's; process.env itself is left alone.
    const env = secrets ? { ...io.env, ...secrets.variables } : io.env;
    await fillInputs(op.spec, raw, origins, choice, { cwd: io.cwd, env });
    return {
      raw,
      origins,
      env,
      ...(secrets?.named.length && { namedVariables: { names: secrets.named, where: `--secrets-file ${flag.source}` } }),
    };
  });
}

/** `--secrets-file`, read and sorted; every value masked on `log` first. The YAML parser loads only for a run that reads one. */
export async function readSecrets(op: AnyOperation, source: string, io: CliIo, log: TerminalLogger): Promise<SortedSecrets> {
  return (await import('./secrets-file.js')).readSecretsFile(op.spec, source, io, (v) => log.mask(v));
}

/**
 * The run itself, once `prepare` has read the inputs (from argv and files, or
 * from a run document for a replay): parse, run, print the report or the run
 * document. `record` may come prepared (a replay sets what it recovers).
 */
export async function runPrepared(
  op: AnyOperation,
  io: CliIo,
  flags: RunFlags,
  prepare: (log: TerminalLogger, record: RunRecord) => Promise<Prepared>,
  /** Called once the run ended, succeeded or not, with the plan it made (a replay compares it with the failed run's). */
  after?: (plan: readonly PlanRow[], log: TerminalLogger) => void,
): Promise<number> {
  const log = new TerminalLogger(io.stderr, flags.debug, flags.quiet);
  const record = new RunRecord();
  const cancel = cancelOnSignals(log, op.spec.name);
  let env = io.env;
  const print = (doc: RunDocument): void => {
    if (!flags.asJson) return;
    // Redacted as values, then serialised: JSON's escaping (`"` as `\"`) never hides a secret from the masker.
    // In batches of whole values, not one string of megabytes; `##[` (a runner's older command form, which
    // JSON leaves as it is) written `\u0023#[`, the same JSON value.
    let batch = '';
    const flush = (end = ''): void => {
      io.stdout.write(batch.replaceAll('##[', '\\u0023#[') + end);
      batch = '';
    };
    for (const piece of jsonPieces(redactValue(doc, (t) => log.redact(t)))) {
      batch += piece;
      if (batch.length >= 65536) flush();
    }
    flush('\n');
  };
  const complete = (doc: RunDocument): RunDocument => withRunRecord(doc, record, whoAndRun(env).run);
  try {
    const prepared = await prepare(log, record);
    env = prepared.env;
    record.origins = prepared.origins;
    const inputs = parseInputs(op.spec, prepared.raw, log);
    const res = await op.run(inputs, {
      log,
      env,
      cwd: io.cwd,
      signal: cancel.signal,
      record,
      ...(prepared.namedVariables && { namedVariables: prepared.namedVariables }),
    });
    const doc = complete(documentOf(op.spec.name, res));
    after?.(res.plan, log);
    if (flags.asJson) print(doc);
    // --quiet: warnings and errors only; the exit code says how it ended, --json gives the whole document
    else if (!flags.quiet) io.stdout.write(inert(renderText(redactValue(res.report, (t) => log.redact(t)))));
    return doc.exitCode;
  } catch (err) {
    const usage = err instanceof UsageError;
    const doc = complete(failureDocument(op.spec.name, err, record.plan, usage));
    if (!usage) after?.(record.plan, log);
    print(doc);
    if (usage || isExpected(err)) {
      log.error(errorMessage(err));
      if (flags.debug && err instanceof Error && err.stack) log.debug(err.stack);
    } else {
      log.error(`internal error: ${errorMessage(err)}${flags.debug ? '' : ' (run with --debug for the stack trace)'}`);
      if (flags.debug && err instanceof Error && err.stack) log.error(err.stack);
    }
    return doc.exitCode;
  } finally {
    cancel.dispose();
  }
}
