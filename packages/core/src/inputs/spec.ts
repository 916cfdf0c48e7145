import { InputError, badInput } from '../errors.js';
import type { Logger } from '../log/logger.js';

/**
 * The one declaration of an operation's inputs. The CLI's flags, the
 * RELAY_* environment variables, --help, the actions' input parsing, the
 * action.yml check and the README tables all come from it.
 */
export interface InputSpec {
  description: string;
  /** string (default), boolean, list (newlines or commas; a CLI flag may repeat), or number */
  type?: 'string' | 'boolean' | 'list' | 'number';
  /** Default as text, exactly as action.yml states it. */
  default?: string;
  /** Said in help where the default is computed at run time. */
  defaultNote?: string;
  required?: boolean;
  /** Masked before anything can print it; should come from the environment. */
  secret?: boolean;
  choices?: readonly string[];
  /** CLI only: taken from the n-th positional argument when the flag is absent. */
  positional?: number;
}

export interface OutputSpec {
  description: string;
  /** string (default), list (one per line as an action output, an array in --json), json (an object), number. */
  type?: 'string' | 'list' | 'json' | 'number';
}

export interface OperationSpec<I extends Record<string, InputSpec> = Record<string, InputSpec>> {
  name: string;
  description: string;
  inputs: I;
  outputs: Record<string, OutputSpec>;
  /** The action's Marketplace branding (a Feather icon name and a colour). */
  branding: { icon: string; color: string };
}

type Given<S extends InputSpec, T> = S extends { required: true } | { default: string } ? T : T | undefined;
type ValueOf<S extends InputSpec> = S['type'] extends 'boolean'
  ? boolean
  : S['type'] extends 'list'
    ? string[]
    : S['type'] extends 'number'
      ? Given<S, number>
      : Given<S, string>;

/** Inputs that may be absent (no default, not required): optional keys, so adding one to a spec breaks no caller. */
type OptionalKeys<I extends Record<string, InputSpec>> = {
  [K in keyof I]: undefined extends ValueOf<I[K]> ? K : never;
}[keyof I];

export type InputValues<I extends Record<string, InputSpec>> = {
  -readonly [K in Exclude<keyof I, OptionalKeys<I>>]: ValueOf<I[K]>;
} & { -readonly [K in OptionalKeys<I>]?: ValueOf<I[K]> };

/** Identity with inference: keeps literal types of the declaration. */
export function defineSpec<const I extends Record<string, InputSpec>>(spec: OperationSpec<I>): OperationSpec<I> {
  return spec;
}

/** `signing-key-passphrase` -> `RELAY_SIGNING_KEY_PASSPHRASE` */
export function envName(input: string): string {
  return 'RELAY_' + input.toUpperCase().replace(/-/g, '_');
}

const TRUE = ['true', 'True', 'TRUE'];
const FALSE = ['false', 'False', 'FALSE'];
/** The words a boolean input accepts (YAML 1.2 core schema, as the runner's getBooleanInput). */
export const BOOLEAN_WORDS: readonly string[] = [...TRUE, ...FALSE];

/** Raw text per input name; undefined or '' means "not given". */
export type RawInputs = Record<string, string | undefined>;

/**
 * Turns raw text into typed values, applying defaults and checks. Secrets are
 * masked on the logger first, so no later error or log line can show them.
 */
export function parseInputs<I extends Record<string, InputSpec>>(
  spec: OperationSpec<I>,
  raw: RawInputs,
  log: Logger,
  /** Where a missing value is given, as the face words it (the CLI's flag, the action's `with:`). */
  givenBy: (name: string) => string = (name) => `flag --${name}`,
): InputValues<I> {
  const out: Record<string, unknown> = {};
  // Every missing required input in one line, not one per run: a recovery by hand should not take five tries.
  const missing = Object.entries(spec.inputs)
    .filter(([name, s]) => s.required && (raw[name] ?? '') === '' && (s.default ?? '') === '')
    .map(([name]) => name);
  if (missing.length > 1)
    throw new InputError(
      `inputs ${missing.map((n) => `'${n}'`).join(', ')}: expected a value for each (${missing.map((n) => `${givenBy(n)} or ${envName(n)}`).join('; ')})`,
    );
  for (const [name, s] of Object.entries(spec.inputs)) {
    let text = raw[name];
    if (s.secret && text) log.mask(text);
    if (text === undefined || text === '') text = s.default;
    if (text === undefined || text === '') {
      if (s.required) badInput(name, `a value (${givenBy(name)} or ${envName(name)})`);
      out[name] = s.type === 'boolean' ? false : s.type === 'list' ? [] : undefined;
      continue;
    }
    switch (s.type ?? 'string') {
      case 'boolean':
        if (TRUE.includes(text.trim())) out[name] = true;
        else if (FALSE.includes(text.trim())) out[name] = false;
        else badInput(name, 'true or false', s.secret ? undefined : text);
        break;
      case 'list':
        out[name] = splitList(text);
        break;
      case 'number': {
        const n = Number(text.trim());
        if (!Number.isFinite(n)) badInput(name, 'a number', text);
        out[name] = n;
        break;
      }
      default:
        if (s.choices && !s.choices.includes(text.trim())) badInput(name, `one of ${s.choices.join(', ')}`, text);
        out[name] = s.secret ? text : text.trim();
    }
  }
  return out as InputValues<I>;
}

/**
 * A list input as docker's actions read one: items separated by newlines or
 * commas, trimmed, empty ones dropped. Commas inside braces (`{a,b}.tar.gz`,
 * a glob) or double quotes (`"a,b"`) do not split; the quotes are removed.
 */
export function splitList(text: string): string[] {
  const items: string[] = [];
  let cur = '';
  let depth = 0;
  let quoted = false;
  for (const c of text) {
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === '{') depth++;
    else if (!quoted && c === '}' && depth > 0) depth--;
    if (c === '\n' || c === '\r' || (c === ',' && depth === 0 && !quoted)) {
      items.push(cur);
      cur = '';
    } else if (c !== '"') cur += c;
  }
  items.push(cur);
  return items.map((i) => i.trim()).filter((i) => i !== '');
}
