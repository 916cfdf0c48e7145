import { expect, test } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { OPERATIONS } from '@relay/core';
import { renderInputsTable } from '../src/docs.js';

const file = new URL('../../../README.md', import.meta.url).pathname;

test('the README has an input table for every operation, matching its spec', () => {
  let text = readFileSync(file, 'utf8');
  for (const op of OPERATIONS) {
    const re = new RegExp(`(<!-- inputs:${op.spec.name} -->)[\\s\\S]*?(<!-- /inputs -->)`);
    expect(text).toMatch(re);
    text = text.replace(re, (_m, a: string, b: string) => `${a}\n${renderInputsTable(op.spec)}\n${b}`);
  }
  if (process.env.UPDATE_README === '1') writeFileSync(file, text);
  expect(readFileSync(file, 'utf8')).toBe(text);
});
