import { expect, test } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { copyImage, verifyTerraformRegistry, type Operation } from '@relay/core';
import { ACTIONS } from '../src/actions.js';
import { renderInputsTable } from '../src/action-yml.js';

const file = new URL('../../../README.md', import.meta.url).pathname;
const ops: Operation[] = [
  ...Object.values(ACTIONS).map((a) => a.op),
  verifyTerraformRegistry as unknown as Operation,
  copyImage as unknown as Operation,
];

test('README input tables match the input specs', () => {
  let text = readFileSync(file, 'utf8');
  for (const op of ops) {
    const re = new RegExp(`(<!-- inputs:${op.spec.name} -->)[\\s\\S]*?(<!-- /inputs -->)`);
    expect(text).toMatch(re);
    text = text.replace(re, (_m, a: string, b: string) => `${a}\n${renderInputsTable(op.spec)}\n${b}`);
  }
  if (process.env.UPDATE_README === '1') writeFileSync(file, text);
  expect(readFileSync(file, 'utf8')).toBe(text);
});
