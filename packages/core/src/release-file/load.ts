import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { InputError } from '../errors.js';
import type { OperationSpec, RawInputs } from '../inputs/spec.js';
import { FieldError, validate, type Positions, type Schema } from '../mirror/schema.js';
import { versionFromRef } from '../terraform/names.js';
import { RELEASE_PLACEHOLDERS, releaseFileSchema } from './schema.js';

/**
 * The release file (`.relay/release.yml`): the non-secret inputs of each
 * operation per environment, checked in, so that the reusable workflows and a
 * recovery by hand (`relay <operation> --release-file .relay/release.yml
 * --environment production --version 9.1.3`) run with the same inputs by
 * construction. Read and checked whole (every environment, every operation)
 * before anything else happens; a problem refuses in one line `file:line: field: why`.
 */
export interface ReleaseFile {
  /** The path as given, for messages. */
  file: string;
  environments: Record<string, Record<string, Record<string, string | number | boolean | string[]>>>;
  positions: Positions;
}

/** The largest release file read: a file of inputs, not data. */
const MAX_BYTES = 1 << 20;

export async function loadReleaseFile(file: string, cwd: string): Promise<ReleaseFile> {
  let text: string;
  try {
    const buf = await readFile(path.resolve(cwd, file));
    if (buf.length > MAX_BYTES) throw new InputError(`${file}: larger than ${MAX_BYTES} bytes; a release file holds inputs only`);
    text = buf.toString('utf8');
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`release file ${file}: not readable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseReleaseFile(text, file);
}

export function parseReleaseFile(text: string, file: string): ReleaseFile {
  const counter = new LineCounter();
  try {
    const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
    const yamlError = doc.errors[0];
    if (yamlError) {
      const line = yamlError.linePos?.[0].line ?? counter.linePos(yamlError.pos[0]).line;
      throw new FieldError(line, 'YAML', yamlError.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''));
    }
    // Built at run time from the specs: its shape is ReleaseFile's, not a type Infer can compute.
    const check = validate as (s: Schema, d: typeof doc, c: LineCounter) => { value: unknown; positions: Positions };
    const { value, positions } = check(releaseFileSchema(), doc, counter);
    const rf = { file, environments: (value as { environments: ReleaseFile['environments'] }).environments, positions };
    // Placeholders are checked now, for every environment: a typo fails the pipeline and the recovery alike, at once.
    for (const [env, ops] of Object.entries(rf.environments))
      for (const [op, inputs] of Object.entries(ops))
        for (const [name, v] of Object.entries(inputs))
          for (const text of Array.isArray(v) ? v : typeof v === 'string' ? [v] : []) {
            const bad = [...text.matchAll(/\$\{([^}]*)\}/g)].find((m) => !(RELEASE_PLACEHOLDERS as readonly string[]).includes(m[1]!));
            if (bad)
              throw positions.error(
                `environments.${env}.${op}.${name}`,
                `unknown placeholder \${${bad[1]}} (known: ${RELEASE_PLACEHOLDERS.map((p) => `\${${p}}`).join(', ')})`,
              );
          }
    return rf;
  } catch (err) {
    if (err instanceof FieldError) throw new InputError(`${file}:${err.message}`);
    throw err;
  }
}

/**
 * The inputs the file gives one operation in one environment, as raw text,
 * placeholders replaced. `given` are the inputs already given by a flag, `with:`,
 * the secrets file or a RELAY_* variable: they win, and they supply the
 * placeholders (`${version}` from the version given, else from a
 * `terraform-provider-<name>-v<version>` tag in GITHUB_REF; `${name}` and
 * `${namespace}` from those inputs, given or in the file).
 */
export function releaseInputs(
  rf: ReleaseFile,
  environment: string,
  spec: OperationSpec,
  given: RawInputs,
  env: Record<string, string | undefined>,
): RawInputs {
  const ops = rf.environments[environment];
  if (!ops)
    throw new InputError(
      `${rf.file}: no environment '${environment}' (environments: ${Object.keys(rf.environments).join(', ') || 'none'})`,
    );
  const inputs = ops[spec.name];
  if (!inputs)
    throw new InputError(
      `${rf.file}:${rf.positions.line(`environments.${environment}`)}: environments.${environment}: no ${spec.name} in it`,
    );
  const plain = (name: string): string | undefined => {
    const g = given[name];
    if (g !== undefined && g !== '') return g;
    const v = inputs[name];
    return typeof v === 'string' && !v.includes('${') ? v : undefined;
  };
  const name = plain('name');
  const values: Record<string, string | undefined> = {
    environment,
    name,
    namespace: plain('namespace'),
    version: plain('version') ?? (name ? versionFromRef(env.GITHUB_REF, name) : undefined),
  };
  const out: RawInputs = {};
  for (const [input, v] of Object.entries(inputs)) {
    const field = `environments.${environment}.${spec.name}.${input}`;
    const fill = (text: string): string =>
      text.replace(/\$\{([^}]*)\}/g, (_, p: string) => {
        const value = values[p];
        if (value === undefined)
          throw new InputError(
            `${rf.file}:${rf.positions.line(field)}: ${field}: uses \${${p}}, but no ${p} is given${p === 'version' ? ` (--version, RELAY_VERSION, or a terraform-provider-<name>-v<version> tag in GITHUB_REF)` : ''}`,
          );
        return value;
      });
    out[input] = Array.isArray(v) ? v.map(fill).join('\n') : typeof v === 'string' ? fill(v) : String(v);
  }
  return out;
}

/** The line of an input in the file (for the run document: where a value came from). */
export function releaseInputLine(rf: ReleaseFile, environment: string, operation: string, input: string): number {
  return rf.positions.line(`environments.${environment}.${operation}.${input}`);
}
