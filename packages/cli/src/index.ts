#!/usr/bin/env node
import { findOperation, OPERATIONS } from '@relay/core';
import { completionScript, SHELLS, type CommandSpec, type Shell } from './completion.js';
import { demoSpec } from './commands/demo-spec.js';
import { runOperation } from './run.js';
import { suggestion } from './suggest.js';
import { versionLine } from './version.js';

const PROG = 'relay';
// The CLI supports Node 20 (engines); the AWS SDK's notice that its future releases will not is not the user's concern.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const COMMANDS: CommandSpec[] = [...OPERATIONS.map((o) => o.spec), demoSpec];
const OTHERS = ['version', 'completion', 'help'];

function usage(): string {
  return [
    `Usage: ${PROG} <command> [--<input> <value> ...]   (node dist/cli.js ...)`,
    '',
    'Commands (the same operations the GitHub Actions run):',
    ...OPERATIONS.map((o) => `  ${o.spec.name.padEnd(28)} ${o.spec.description.split('. ')[0]}`),
    '',
    `  ${'demo'.padEnd(28)} Publish sample providers into a local registry, serve it on loopback and verify it`,
    `  ${'version'.padEnd(28)} Print Relay's version (also --version)`,
    `  ${'completion bash|zsh|fish'.padEnd(28)} Print a shell completion script`,
    '',
    `Run '${PROG} <command> --help' for its inputs.`,
  ].join('\n');
}

async function main(): Promise<number> {
  const [cmd, ...rest] = process.argv.slice(2);
  const io = { argv: rest, env: process.env, cwd: process.cwd(), stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    (cmd ? process.stdout : process.stderr).write(usage() + '\n');
    return cmd ? 0 : 2;
  }
  if (cmd === '--version' || cmd === 'version') {
    process.stdout.write(versionLine() + '\n');
    return 0;
  }
  if (cmd === 'completion') {
    const shell = rest[0];
    if (!shell || !(shell in SHELLS)) {
      process.stderr.write(`error: completion takes one of ${Object.keys(SHELLS).join(', ')}${shell ? `, got '${shell}'` : ''}\n`);
      return 2;
    }
    process.stdout.write(completionScript(shell as Shell, COMMANDS));
    return 0;
  }
  if (cmd === 'demo') return (await import('./commands/demo.js')).demo(io);
  const op = findOperation(cmd);
  if (!op) {
    const names = [...COMMANDS.map((c) => c.name), ...OTHERS];
    process.stderr.write(`error: unknown command '${cmd}'${suggestion(cmd, names)}; run '${PROG} --help' for the list\n`);
    return 2;
  }
  return runOperation(op, io, PROG);
}

// No top-level await: the same entry builds as CommonJS for Node's single executable application.
void main().then((code) => {
  process.exitCode = code;
});
