import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import {
  describePlanDiff,
  diffPlans,
  envName,
  EXPECT_PLAN,
  findOperation,
  planHash,
  type AnyOperation,
  type InputOrigins,
  type RawInputs,
  type RunDocument,
} from '@relay/core';
import { COMMON_FLAGS, extractFlag, extractSecretsFlag, UsageError } from './args.js';
import { readSecrets, runFlags, runPrepared, type CliIo } from './run.js';

/**
 * `relay replay <run-document.json> --secrets-file - [--expect-plan <hash>]`:
 * runs a failed run again, the same operation with the same non-secret inputs
 * (the run document keeps them: `inputs.<name>.value`), the secrets from the
 * secrets file or RELAY_* variables as for any run. Without `--expect-plan` it is
 * a dry run: it prints the plan, how it differs from the failed run's (rows
 * added, changed, gone), and its hash. With `--expect-plan` (the failed run's
 * hash when nothing changed, else the new one) it applies exactly that plan
 * and nothing else; its audit record names the run it recovers (`recovers`).
 */
export const REPLAY_USAGE = [
  'Usage: relay replay <run-document.json> [--secrets-file <path|->] [--expect-plan <hash>] [--json]',
  '',
  "Runs a failed run again from its run document (the CLI's --json output, the action's report output or",
  "RELAY_REPORT_FILE, the reusable workflows' run-document artifact): the same operation, the same non-secret inputs.",
  'Secrets come from --secrets-file or their RELAY_* variables, as for any command. Without --expect-plan it',
  "is a dry run: it prints the plan, how it differs from the failed run's (added, changed, gone) and its hash;",
  "with --expect-plan <hash> (the failed run's plan hash, or the dry run's) it applies exactly that plan.",
].join('\n');

/** The largest run document read (every plan row of a large publish or mirror). */
const MAX_DOCUMENT_BYTES = 256 << 20;

export async function replay(io: CliIo): Promise<number> {
  if (io.argv.includes('--help') || io.argv.includes('-h')) {
    io.stdout.write(REPLAY_USAGE + '\n');
    return 0;
  }
  const flags = runFlags(io);
  let read: { op: AnyOperation; doc: RunDocument; file: string; sha256: string; argv: string[] };
  try {
    read = await readDocument(io);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr.write(`error: ${err.message}\n`);
    return 2;
  }
  const { op, doc, file, sha256 } = read;
  const before = doc.plan;
  const beforeHash = planHash(before);
  let expected: string | undefined;
  return runPrepared(
    op,
    io,
    flags,
    async (log, record) => {
      const secretsFlag = extractSecretsFlag(read.argv);
      const expect = extractFlag(secretsFlag.argv, `--${EXPECT_PLAN}`, 'the plan hash to apply');
      if (expect.argv.length) throw new UsageError(`replay: unexpected argument '${expect.argv[0]}'; see relay replay --help`);
      expected = expect.value;
      const secrets = secretsFlag.source === undefined ? undefined : await readSecrets(op, secretsFlag.source, io, log);
      const raw: RawInputs = {};
      const origins: InputOrigins = {};
      for (const [name, s] of Object.entries(op.spec.inputs)) {
        if (s.secret) {
          const v = secrets?.inputs[name] || io.env[envName(name)];
          if (v) [raw[name], origins[name]] = [v, secrets?.inputs[name] ? 'secrets-file' : envName(name)];
          continue;
        }
        if (secrets?.inputs[name] !== undefined)
          throw new UsageError(`--secrets-file ${secretsFlag.source}: '${name}' is not a secret; a replay takes it from the run document`);
        if (name === 'dry-run' || name === EXPECT_PLAN) continue;
        const given = doc.inputs?.[name];
        if (given === undefined) continue;
        if (given.value === undefined)
          throw new UsageError(`${file}: input '${name}' (from ${given.from}) has no value in the run document; it cannot be replayed`);
        raw[name] = Array.isArray(given.value) ? given.value.join('\n') : String(given.value);
        origins[name] = `run-document ${file} (${given.from})`;
      }
      raw['dry-run'] = expected === undefined ? 'true' : 'false';
      origins['dry-run'] = expected === undefined ? 'replay (a plan first)' : 'replay (--expect-plan)';
      if (expected !== undefined) [raw[EXPECT_PLAN], origins[EXPECT_PLAN]] = [expected, 'flag'];
      record.recovers = {
        operation: doc.operation,
        planSha256: beforeHash,
        status: doc.status,
        ...(doc.run && { run: doc.run }),
        documentSha256: sha256,
      };
      const env = secrets ? { ...io.env, ...secrets.variables } : io.env;
      return {
        raw,
        origins,
        env,
        ...(secrets?.named.length && { namedVariables: { names: secrets.named, where: `--secrets-file ${secretsFlag.source}` } }),
      };
    },
    (plan, log) => {
      const now = planHash(plan);
      const diff = diffPlans(before, plan);
      const same = diff.added.length + diff.changed.length + diff.gone.length === 0;
      const what = doc.run?.url ?? file;
      if (same) log.info(`replay of ${what}: the plan is the failed run's (${beforeHash})`);
      else {
        log.warn(`replay of ${what}: the plan differs from the failed run's (${beforeHash}): ${describePlanDiff(diff).join('\n')}`);
      }
      if (expected === undefined)
        log.info(
          `to apply this plan and nothing else: relay replay ${file} --secrets-file - --expect-plan ${now}` +
            (same ? '' : ` (the failed run's hash ${beforeHash} is refused: the plan changed)`),
        );
    },
  );
}

async function readDocument(io: CliIo): Promise<{ op: AnyOperation; doc: RunDocument; file: string; sha256: string; argv: string[] }> {
  const argv = io.argv.filter((a) => !COMMON_FLAGS.includes(a));
  const file = argv[0];
  if (file === undefined || file.startsWith('--'))
    throw new UsageError('replay needs the run document first: relay replay <run-document.json> ...');
  let buf: Buffer;
  try {
    buf = await readFile(path.resolve(io.cwd, file));
  } catch (e) {
    throw new UsageError(`${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  if (buf.length > MAX_DOCUMENT_BYTES) throw new UsageError(`${file}: larger than ${MAX_DOCUMENT_BYTES} bytes; not a run document`);
  let doc: RunDocument;
  try {
    doc = JSON.parse(buf.toString('utf8')) as RunDocument;
  } catch {
    throw new UsageError(
      `${file}: not JSON; give the run document a run left (--json output, RELAY_REPORT_FILE, the run-document artifact)`,
    );
  }
  if (doc === null || typeof doc !== 'object' || typeof doc.operation !== 'string' || !Array.isArray(doc.plan))
    throw new UsageError(`${file}: not a run document (expected operation, plan and inputs)`);
  if (doc.planOmitted)
    throw new UsageError(
      `${file}: ${doc.planOmitted} plan rows were left out of this copy; use the run-document artifact (RELAY_REPORT_FILE), which has them all`,
    );
  const op = findOperation(doc.operation);
  if (!op) throw new UsageError(`${file}: unknown operation '${doc.operation}'`);
  if (!(EXPECT_PLAN in op.spec.inputs))
    throw new UsageError(`${file}: ${doc.operation} writes nothing; run it again instead of replaying it`);
  if (!doc.inputs)
    throw new UsageError(
      `${file}: the run document keeps no inputs (a run by a Relay older than replay); run the operation with its inputs`,
    );
  return { op, doc, file, sha256: createHash('sha256').update(buf).digest('hex'), argv: argv.slice(1) };
}
