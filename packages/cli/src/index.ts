#!/usr/bin/env node
import { publishTerraformRegistry, verifyTerraformRegistry, type Operation } from '@relay/core';
import { copyImageCommand } from './commands/copy-image.js';
import { demo } from './commands/demo.js';
import { promoteEcrImageCommand } from './commands/promote-ecr-image.js';
import { runOperation } from './run.js';

const PROG = 'relay';
const operations: Operation[] = [
  publishTerraformRegistry as unknown as Operation,
  verifyTerraformRegistry as unknown as Operation,
  promoteEcrImageCommand,
  copyImageCommand,
];

function usage(): string {
  return [
    `Usage: ${PROG} <command> [--<input> <value> ...]   (node packages/cli/dist/index.js ...)`,
    '',
    'Commands (the same operations the GitHub Actions run):',
    ...operations.map((o) => `  ${o.spec.name.padEnd(28)} ${o.spec.description.split('. ')[0]}`),
    `  ${'demo'.padEnd(28)} Publish sample providers into a local registry, serve it on loopback and verify it`,
    '',
    `Run '${PROG} <command> --help' for its inputs.`,
  ].join('\n');
}

async function main(): Promise<number> {
  const [cmd, ...rest] = process.argv.slice(2);
  const io = { argv: rest, env: process.env, cwd: process.cwd(), stdout: process.stdout, stderr: process.stderr };
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(usage() + '\n');
    return cmd ? 0 : 2;
  }
  if (cmd === 'demo') return demo(io);
  const op = operations.find((o) => o.spec.name === cmd);
  if (!op) {
    process.stderr.write(`error: unknown command '${cmd}'\n\n${usage()}\n`);
    return 2;
  }
  return runOperation(op, io, PROG);
}

process.exitCode = await main();
