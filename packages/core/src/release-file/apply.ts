import { badInput } from '../errors.js';
import type { OperationSpec, RawInputs } from '../inputs/spec.js';
import { loadReleaseFile, releaseInputLine, releaseInputs } from './load.js';
import { takesReleaseFile } from './schema.js';

/** Where each input's value came from, for the run document: `flag`, `with`, `secrets-file`, `RELAY_NAME`, `release-file FILE:LINE (ENV)`, `default`. */
export type InputOrigins = Record<string, string>;

/** The release file a run reads (`--release-file`/`--environment`, or RELAY_RELEASE_FILE/RELAY_ENVIRONMENT). */
export interface ReleaseFileChoice {
  file?: string;
  environment?: string;
}

/** The variables that name the release file and environment when no flag does (the reusable workflows set them on the step). */
export const RELEASE_FILE_VARIABLE = 'RELAY_RELEASE_FILE';
export const RELEASE_ENVIRONMENT_VARIABLE = 'RELAY_ENVIRONMENT';

/**
 * The shared last steps of reading inputs, for every face: the inputs given
 * (`raw`, each with its origin) first; what is still missing from the release
 * file's section for this environment and operation; then the spec's default.
 * Mutates `raw` and `origins`. Both faces call it, so the action and the CLI
 * read a release file the same way.
 */
export async function fillInputs(
  spec: OperationSpec,
  raw: RawInputs,
  origins: InputOrigins,
  choice: ReleaseFileChoice,
  ctx: { cwd: string; env: Record<string, string | undefined> },
): Promise<void> {
  const file = choice.file || undefined;
  const environment = choice.environment || undefined;
  if (file !== undefined) {
    if (!takesReleaseFile(spec))
      badInput('release-file', `no release file for ${spec.name} (it has an 'environment' input of its own)`, file);
    if (environment === undefined) badInput('environment', `the environment of ${file} to read (e.g. production)`);
    const rf = await loadReleaseFile(file, ctx.cwd);
    const fromFile = releaseInputs(rf, environment, spec, raw, ctx.env);
    for (const [name, value] of Object.entries(fromFile)) {
      if (raw[name] !== undefined && raw[name] !== '') continue;
      raw[name] = value;
      origins[name] = `release-file ${file}:${releaseInputLine(rf, environment, spec.name, name)} (${environment})`;
    }
  }
  for (const [name, s] of Object.entries(spec.inputs)) {
    if ((raw[name] === undefined || raw[name] === '') && s.default !== undefined) origins[name] ??= 'default';
  }
}
