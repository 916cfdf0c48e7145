import type { Context } from '../context.js';
import { InputError } from '../errors.js';
import { envName, type OperationSpec, type RawInputs } from './spec.js';

/**
 * The secrets a runbook hands Relay in one map (`sops -d | relay … --secrets-file -`,
 * or the reusable workflows' `RELAY_ENV` secret), sorted into what each key is:
 *
 * - an input of the operation, by its name (`signing-key`) or variable (`RELAY_SIGNING_KEY`);
 * - a variable Relay itself reads (RUN_VARIABLES: AWS credentials and region, GITHUB_TOKEN);
 * - for an operation whose inputs name variables (the mirror file's `username-env`,
 *   `password-env`, `token-env`: `spec.namesVariables`), any other variable name, held
 *   as *named*: the run refuses each one its inputs do not name, once it has read them
 *   (`checkNamedVariables`), before anything is written;
 * - anything else is refused by name (never its value).
 *
 * Every value is masked (`mask`) before anything is checked, so no refusal can
 * print one; only public words are not (boolean and choice inputs, the region).
 * Variables reach the run through Context.env, never process.env.
 */

/** Variables Relay reads itself (besides RELAY_*), and whether the value is a secret. */
export const RUN_VARIABLES: Readonly<Record<string, { secret: boolean }>> = {
  AWS_ACCESS_KEY_ID: { secret: true },
  AWS_SECRET_ACCESS_KEY: { secret: true },
  AWS_SESSION_TOKEN: { secret: true },
  AWS_REGION: { secret: false },
  AWS_DEFAULT_REGION: { secret: false },
  GITHUB_TOKEN: { secret: true },
};

/** What a variable name may be (POSIX shell names). */
const VARIABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Names that change how a program runs or what the runner does rather than what
 * Relay reads: never set this way, even when an input names one.
 */
const NEVER =
  /^(GITHUB_|RUNNER_|ACTIONS_|INPUT_|STATE_|AWS_|RELAY_)|^(PATH|HOME|SHELL|BASH_ENV|ENV|CDPATH|IFS|PS4|NODE_OPTIONS|NODE_PATH|NODE_EXTRA_CA_CERTS|LD_PRELOAD|LD_LIBRARY_PATH|LD_AUDIT|HTTPS?_PROXY|NO_PROXY|https?_proxy|no_proxy)$/;

export interface SortedSecrets {
  /** Inputs of the operation, by input name. */
  inputs: RawInputs;
  /** Variables for the run's environment: RUN_VARIABLES and named ones alike. */
  variables: Record<string, string>;
  /** The variables only the run's inputs can justify (see checkNamedVariables). */
  named: string[];
}

/** Options of sortSecrets: `refuse` names variables this face takes another way (the workflows' AWS_* come through OIDC). */
export interface SortOptions {
  refuse?: { pattern: RegExp; why: string };
}

/** Sorts one secrets map (see above); throws InputError naming the first key refused. */
export function sortSecrets(
  spec: OperationSpec,
  entries: ReadonlyMap<string, string>,
  mask: (value: string) => void,
  where: string,
  opts: SortOptions = {},
): SortedSecrets {
  const byVariable = new Map(Object.keys(spec.inputs).map((n) => [envName(n), n]));
  const inputOf = (key: string): string | undefined => (Object.hasOwn(spec.inputs, key) ? key : byVariable.get(key));
  for (const [key, value] of entries) {
    const name = inputOf(key);
    const s = name ? spec.inputs[name] : undefined;
    const isPublic = s ? s.type === 'boolean' || s.choices !== undefined : RUN_VARIABLES[key]?.secret === false;
    if (!isPublic && value !== '') mask(value);
  }
  const out: SortedSecrets = { inputs: {}, variables: {}, named: [] };
  for (const [key, value] of entries) {
    if (/^ENC\[[A-Z0-9_]+,/.test(value.trim()))
      throw new InputError(`${where}: '${key}' is still encrypted by sops (ENC[...]): decrypt it first (sops -d)`);
    const name = inputOf(key);
    if (name) {
      if (out.inputs[name] !== undefined) throw new InputError(`${where}: '${key}' sets ${name}, which the file already sets`);
      out.inputs[name] = value;
      continue;
    }
    if (opts.refuse?.pattern.test(key)) throw new InputError(`${where}: '${key}' may not be set this way (${opts.refuse.why})`);
    if (Object.hasOwn(RUN_VARIABLES, key)) {
      out.variables[key] = value;
      continue;
    }
    if (spec.namesVariables && VARIABLE.test(key) && !NEVER.test(key)) {
      out.variables[key] = value;
      out.named.push(key);
      continue;
    }
    throw new InputError(
      `${where}: '${key}' is not an input of ${spec.name} (its input names, e.g. ${Object.keys(spec.inputs)[0]}, or their RELAY_* variables)` +
        `, nor a variable Relay reads (${Object.keys(RUN_VARIABLES).join(', ')})` +
        (spec.namesVariables ? `, nor a variable ${spec.namesVariables} could name` : ''),
    );
  }
  return out;
}

/**
 * Refuses every named variable (a key of the secrets map that is neither an
 * input nor a RUN_VARIABLE) that the run's inputs do not name: a file that sets
 * what the run never reads is the wrong file. An operation that names variables
 * calls it once it knows them (mirror: the mirror file loaded), before any
 * network use; defineOperation refuses them all up front for the others.
 */
export function checkNamedVariables(ctx: Pick<Context, 'namedVariables'>, referenced: Iterable<string>, by: string): void {
  const given = ctx.namedVariables;
  if (!given) return;
  const names = new Set(referenced);
  const stray = given.names.find((n) => !names.has(n));
  if (stray !== undefined)
    throw new InputError(`${given.where}: '${stray}' is not an input, nor a variable Relay reads, nor one ${by} names`);
}
