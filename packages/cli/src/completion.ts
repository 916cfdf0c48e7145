import type { OperationSpec } from '@relay/core';
import { COMMON_FLAGS } from './args.js';

/** Commands with their specs (operations, and the CLI's own such as demo). */
export interface CommandSpec {
  name: string;
  description: string;
  inputs: OperationSpec['inputs'];
}

/** Commands that read --secrets-file: the operations (the demo has no secrets to give). */
const takesSecretsFile = (c: CommandSpec): boolean => c.name !== 'demo';

const first = (d: string): string => d.split('. ')[0]!.replace(/\.$/, '');
const flagsOf = (c: CommandSpec): string[] => [
  ...Object.keys(c.inputs).map((n) => `--${n}`),
  ...COMMON_FLAGS.filter((f) => f.startsWith('--')),
  ...(takesSecretsFile(c) ? ['--secrets-file'] : []),
];

function bash(cmds: CommandSpec[]): string {
  return [
    '# relay completion for bash: source <(relay completion bash)',
    '_relay() {',
    '  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}',
    '  if [ "$COMP_CWORD" -eq 1 ]; then',
    `    COMPREPLY=($(compgen -W "${cmds.map((c) => c.name).join(' ')}" -- "$cur"))`,
    '    return',
    '  fi',
    // the values of a flag that has a fixed set (choices, booleans) after it; file names after any other
    '  case ${COMP_WORDS[1]}:$prev in',
    ...cmds.flatMap((c) =>
      Object.entries(c.inputs)
        .filter(([, s]) => s.choices || s.type === 'boolean')
        .map(
          ([n, s]) =>
            `    ${c.name}:--${n}) COMPREPLY=($(compgen -W "${(s.choices ?? ['true', 'false']).join(' ')}" -- "$cur")); return ;;`,
        ),
    ),
    '  esac',
    '  case ${COMP_WORDS[1]} in',
    ...cmds.map((c) => `    ${c.name}) COMPREPLY=($(compgen -W "${flagsOf(c).join(' ')}" -- "$cur")) ;;`),
    '  esac',
    '}',
    'complete -o default -F _relay relay',
    '',
  ].join('\n');
}

const zq = (s: string): string => s.replace(/'/g, "'\\''").replace(/([[\]:])/g, '\\$1');

function zsh(cmds: CommandSpec[]): string {
  return [
    '#compdef relay',
    '# relay completion for zsh: relay completion zsh > "${fpath[1]}/_relay"',
    '_relay() {',
    '  local -a cmds',
    `  cmds=(${cmds.map((c) => `'${c.name}:${zq(first(c.description))}'`).join(' ')})`,
    "  if (( CURRENT == 2 )); then _describe 'command' cmds; return; fi",
    '  case $words[2] in',
    ...cmds.map((c) => {
      const args = Object.entries(c.inputs).map(([n, s]) => {
        const value = s.type === 'boolean' ? '' : s.choices ? `:value:(${s.choices.join(' ')})` : ':value:_files';
        return `'--${n}[${zq(first(s.description))}]${value}'`;
      });
      const common = ["'--json[one JSON document on stdout]'", "'--debug[stack traces]'", "'--help[inputs]'"];
      if (takesSecretsFile(c)) common.push("'--secrets-file[inputs from a YAML, JSON or dotenv map (- reads stdin)]:file:_files'");
      return `    ${c.name}) _arguments ${[...args, ...common].join(' ')} ;;`;
    }),
    '  esac',
    '}',
    '_relay "$@"',
    '',
  ].join('\n');
}

const fq = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

function fish(cmds: CommandSpec[]): string {
  const lines = ['# relay completion for fish: relay completion fish > ~/.config/fish/completions/relay.fish', 'complete -c relay -f'];
  for (const c of cmds) lines.push(`complete -c relay -n __fish_use_subcommand -a ${c.name} -d ${fq(first(c.description))}`);
  for (const c of cmds) {
    const when = `-n '__fish_seen_subcommand_from ${c.name}'`;
    for (const [n, s] of Object.entries(c.inputs)) {
      const value = s.type === 'boolean' ? '' : s.choices ? ` -x -a ${fq(s.choices.join(' '))}` : ' -r -F';
      lines.push(`complete -c relay ${when} -l ${n}${value} -d ${fq(first(s.description))}`);
    }
    lines.push(
      `complete -c relay ${when} -l json -d 'one JSON document on stdout'`,
      `complete -c relay ${when} -l debug -d 'stack traces'`,
    );
    if (takesSecretsFile(c))
      lines.push(`complete -c relay ${when} -l secrets-file -r -F -d 'inputs from a YAML, JSON or dotenv map (- reads stdin)'`);
  }
  return lines.join('\n') + '\n';
}

export const SHELLS = { bash, zsh, fish } as const;
export type Shell = keyof typeof SHELLS;

export function completionScript(shell: Shell, cmds: CommandSpec[]): string {
  return SHELLS[shell](cmds);
}
