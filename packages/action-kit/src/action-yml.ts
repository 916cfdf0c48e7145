import type { OperationSpec } from '@relay/core';

const q = (s: string): string => JSON.stringify(s); // a JSON string is a valid YAML double-quoted scalar

/** action.yml rendered from the operation's one declaration of inputs. */
export function renderActionYml(spec: OperationSpec, branding: { icon: string; color: string }): string {
  const out = [
    '# Generated from the input spec in packages/core; the unit tests fail when it drifts.',
    '# Regenerate with: UPDATE_ACTION_YML=1 pnpm test:unit',
    `name: ${q(spec.name)}`,
    `description: ${q(spec.description)}`,
    'author: Relay',
    'branding:',
    `  icon: ${branding.icon}`,
    `  color: ${branding.color}`,
    'inputs:',
  ];
  for (const [name, s] of Object.entries(spec.inputs)) {
    const note = s.defaultNote ? ` Default: ${s.defaultNote}.` : '';
    const secret = s.secret ? ' Secret: masked in logs.' : '';
    out.push(`  ${name}:`, `    description: ${q(s.description + note + secret)}`, `    required: ${Boolean(s.required)}`);
    if (s.default !== undefined) out.push(`    default: ${q(s.default)}`);
  }
  out.push('outputs:');
  for (const [name, o] of Object.entries(spec.outputs)) out.push(`  ${name}:`, `    description: ${q(o.description)}`);
  out.push('runs:', '  using: node24', '  main: dist/index.js', '');
  return out.join('\n');
}

const md = (s: string): string => s.replace(/\|/g, '\\|');

/** The README's input and output tables, from the same declaration. */
export function renderInputsTable(spec: OperationSpec): string {
  const rows = Object.entries(spec.inputs).map(([name, s]) => {
    const def = s.default !== undefined ? `\`${s.default}\`` : s.defaultNote ? s.defaultNote : s.required ? '**required**' : '';
    return `| \`${name}\` | \`RELAY_${name.toUpperCase().replace(/-/g, '_')}\` | ${md(s.description)}${s.secret ? ' *Secret.*' : ''} | ${md(def)} |`;
  });
  const outs = Object.entries(spec.outputs).map(([name, o]) => `| \`${name}\` | ${md(o.description)} |`);
  return [
    '| input / flag | environment | what | default |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
    '| output | what |',
    '| --- | --- |',
    ...outs,
  ].join('\n');
}
