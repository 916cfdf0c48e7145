import { BOOLEAN_WORDS, envName, takesReleaseFile, type OperationSpec, type RawInputs } from '@relay/core';
import { didYouMean } from './suggest.js';

/** Flags every command takes besides its inputs. */
export const COMMON_FLAGS = ['--json', '--debug', '--quiet', '-q', '--help', '-h'];

/** A mistake in the command line itself (not in an input's value). */
export class UsageError extends Error {}

export interface Parsed {
  raw: RawInputs;
  /** Inputs given as flags (used to warn about secrets on the command line). */
  fromFlags: Set<string>;
}

/**
 * Flags are exactly the action's input names; a flag may be `--x v`, `--x=v`,
 * or bare `--x` for a boolean; a list flag may repeat. Anything not given
 * comes from the secrets file (`--secrets-file`, already read into
 * `fromFile`), then RELAY_<INPUT>, then the spec's default.
 */
export function parseArgs(spec: OperationSpec, argv: string[], env: Record<string, string | undefined>, fromFile: RawInputs = {}): Parsed {
  const raw: RawInputs = {};
  const fromFlags = new Set<string>();
  const positional: string[] = [];
  /** Positional arguments that came right after a bare boolean flag: a mistyped value, if surplus. */
  const afterBoolean = new Map<number, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      const prev = argv[i - 1];
      const prevSpec = prev?.startsWith('--') && !prev.includes('=') ? spec.inputs[prev.slice(2)] : undefined;
      if (prevSpec?.type === 'boolean') afterBoolean.set(positional.length, prev!);
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const s = spec.inputs[name];
    if (!s) {
      const near = didYouMean(name, Object.keys(spec.inputs));
      throw new UsageError(`unknown flag --${name} for ${spec.name}${near ? ` (did you mean --${near}?)` : ''}; see ${spec.name} --help`);
    }
    let value: string;
    if (eq >= 0) value = a.slice(eq + 1);
    else if (s.type === 'boolean' && !BOOLEAN_WORDS.includes(argv[i + 1] ?? '')) value = 'true';
    else if (i + 1 < argv.length) value = argv[++i]!;
    else throw new UsageError(`flag --${name} needs a value`);
    raw[name] = s.type === 'list' && raw[name] ? `${raw[name]}\n${value}` : value;
    fromFlags.add(name);
  }
  for (const [name, s] of Object.entries(spec.inputs)) {
    if (s.positional !== undefined && raw[name] === undefined && positional[s.positional] !== undefined) {
      raw[name] = positional[s.positional];
      fromFlags.add(name);
    }
  }
  const maxPos = Math.max(-1, ...Object.values(spec.inputs).map((s) => s.positional ?? -1));
  if (positional.length > maxPos + 1) {
    const flag = afterBoolean.get(maxPos + 1);
    if (flag) throw new UsageError(`flag ${flag} takes true or false (or nothing), got '${positional[maxPos + 1]}'`);
    throw new UsageError(`unexpected argument '${positional[maxPos + 1]}' for ${spec.name}; see ${spec.name} --help`);
  }
  for (const name of Object.keys(spec.inputs)) {
    const f = fromFile[name];
    if (raw[name] === undefined && f !== undefined && f !== '') raw[name] = f;
    const e = env[envName(name)];
    if (raw[name] === undefined && e !== undefined && e !== '') raw[name] = e;
  }
  return { raw, fromFlags };
}

/** --help text, from the same declaration the action uses. */
export function helpText(spec: OperationSpec, prog: string): string {
  const lines = [
    `Usage: ${prog} ${spec.name} [--<input> <value> ...]`,
    '',
    spec.description,
    '',
    'Inputs (flag, or environment variable):',
  ];
  for (const [name, s] of Object.entries(spec.inputs)) {
    const pos = s.positional !== undefined ? ` (or argument ${s.positional + 1})` : '';
    const flag = `--${name}${s.type === 'boolean' ? '' : ' <value>'}`;
    lines.push(
      `  ${flag}${pos}`,
      `      ${envName(name)}${s.required ? '  [required]' : ''}${s.secret ? '  [secret: prefer the variable]' : ''}`,
    );
    lines.push(`      ${s.description}`);
    if (s.default !== undefined) lines.push(`      default: ${s.default}`);
    else if (s.defaultNote) lines.push(`      default: ${s.defaultNote}`);
    if (s.type === 'list') lines.push('      a list: one per line in the variable; repeat the flag');
  }
  lines.push(
    '',
    'Common flags: --json (one JSON document on stdout: status, outputs, plan, error), --quiet (warnings and errors only),',
    '  --debug (stack traces), --help,',
    '  --secrets-file <path|->: inputs from a YAML, JSON or dotenv map of input names or RELAY_* names, read from the',
    "  file or from standard input with '-' (sops -d secrets.yaml | relay ... --secrets-file -); every value is masked;",
    '  it may also set, for this run only, the variables Relay reads (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,',
    '  AWS_SESSION_TOKEN, AWS_REGION, AWS_DEFAULT_REGION, GITHUB_TOKEN)' +
      (spec.namesVariables ? ` and those ${spec.namesVariables} name;` : ';'),
    '  any other key is refused by name; sops metadata (a `sops` key, `sops_*` in dotenv) is ignored',
    ...(takesReleaseFile(spec)
      ? [
          '  --release-file <file> --environment <name>: the non-secret inputs of this command from the release file',
          '  (.relay/release.yml), its section for that environment; also RELAY_RELEASE_FILE and RELAY_ENVIRONMENT',
          'Where an input comes from, first found: its flag, then --secrets-file, then its RELAY_* variable, then the',
          '  release file, then its default (the run document, --json, says which for each input)',
        ]
      : ['Where an input comes from, first found: its flag, then --secrets-file, then its RELAY_* variable, then its default']),
    'Exit codes: 0 done, 1 refused, 2 usage, 3 a remote failed after retries, 4 drift found, 70 a bug, 130 cancelled',
  );
  return lines.join('\n');
}

/** `--secrets-file <path|->` (packages/cli/src/secrets-file.ts reads it, loaded only when given). */
export const SECRETS_FLAG = '--secrets-file';

/** Takes `--secrets-file X` / `--secrets-file=X` out of argv. */
export function extractSecretsFlag(argv: string[]): { argv: string[]; source?: string } {
  const { argv: rest, value } = extractFlag(argv, SECRETS_FLAG, 'a path, or - for standard input');
  return { argv: rest, ...(value !== undefined && { source: value }) };
}

/** The release file's flags: the file and which of its environments (packages/core/src/release-file). */
export const RELEASE_FILE_FLAG = '--release-file';
export const ENVIRONMENT_FLAG = '--environment';

/** Takes `--<flag> X` / `--<flag>=X` out of argv: a flag of the CLI's own, not an input; given at most once. */
export function extractFlag(argv: string[], flag: string, needs: string): { argv: string[]; value?: string } {
  const rest: string[] = [];
  let value: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    let v: string | undefined;
    if (a === flag) {
      v = argv[i + 1];
      if (v === undefined || (v.startsWith('--') && v !== '-')) throw new UsageError(`flag ${flag} needs ${needs}`);
      i++;
    } else if (a.startsWith(`${flag}=`)) v = a.slice(flag.length + 1);
    else {
      rest.push(a);
      continue;
    }
    if (value !== undefined) throw new UsageError(`flag ${flag} given twice`);
    if (v === '') throw new UsageError(`flag ${flag} needs ${needs}`);
    value = v;
  }
  return { argv: rest, ...(value !== undefined && { value }) };
}
