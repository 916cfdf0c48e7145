import { envName, takesReleaseFile, type OperationSpec } from '@relay/core';

const q = (s: string): string => JSON.stringify(s); // a JSON string is a valid YAML double-quoted scalar

/** Where every action's entry lives in the shared bundle, relative to actions/<name>/. */
export const actionMain = (name: string): string => `../../dist/actions/${name}.mjs`;

/** Every action's extra output: the same document `--json` prints. */
export const REPORT_OUTPUT =
  'The run as one JSON document: status, exit code, typed outputs, and the plan with per-object results (the CLI prints the same with --json).';

/** action.yml rendered from the operation's one declaration of inputs. */
export function renderActionYml(spec: OperationSpec): string {
  const out = [
    '# Generated from the operation spec in packages/core/src/operations; the unit tests fail when it drifts.',
    '# Regenerate with: UPDATE_ACTION_YML=1 pnpm test:unit',
    `name: ${q(spec.name)}`,
    `description: ${q(spec.description)}`,
    'author: Relay',
    'branding:',
    `  icon: ${spec.branding.icon}`,
    `  color: ${spec.branding.color}`,
    'inputs:',
  ];
  // With a release file (RELAY_RELEASE_FILE), an input left out of `with:` may come from it: so no input is
  // required here and none has a default the runner would fill in (Relay applies the spec's defaults after the file).
  const fromFile = takesReleaseFile(spec);
  for (const [name, s] of Object.entries(spec.inputs)) {
    const note = s.defaultNote ? ` Default: ${s.defaultNote}.` : fromFile && s.default !== undefined ? ` Default: ${s.default}.` : '';
    const needed = fromFile && s.required ? ' Required: here, in the release file, or as its RELAY_* variable.' : '';
    const secret = s.secret ? ' Secret: masked in logs.' : '';
    out.push(
      `  ${name}:`,
      `    description: ${q(s.description + note + needed + secret)}`,
      `    required: ${Boolean(s.required) && !fromFile}`,
    );
    if (s.default !== undefined && !fromFile) out.push(`    default: ${q(s.default)}`);
  }
  out.push('outputs:');
  for (const [name, o] of Object.entries(spec.outputs)) out.push(`  ${name}:`, `    description: ${q(o.description)}`);
  out.push('  report:', `    description: ${q(REPORT_OUTPUT)}`);
  out.push('runs:', '  using: node24', `  main: ${actionMain(spec.name)}`, '');
  return out.join('\n');
}

const md = (s: string): string => s.replace(/\|/g, '\\|');

/** The README's input and output tables, from the same declaration. */
export function renderInputsTable(spec: OperationSpec): string {
  const rows = Object.entries(spec.inputs).map(([name, s]) => {
    const def = s.default !== undefined ? `\`${s.default}\`` : s.defaultNote ? s.defaultNote : s.required ? '**required**' : '';
    return `| \`${name}\` | \`${envName(name)}\` | ${s.type ?? 'string'} | ${md(s.description)}${s.secret ? ' *Secret.*' : ''} | ${md(def)} |`;
  });
  const outs = Object.entries(spec.outputs).map(([name, o]) => `| \`${name}\` | ${o.type ?? 'string'} | ${md(o.description)} |`);
  return [
    '| input / flag | environment | type | what | default |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    '',
    '| output | type | what |',
    '| --- | --- | --- |',
    ...outs,
  ].join('\n');
}
