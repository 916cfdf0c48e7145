import { expect, jest, test } from '@jest/globals';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { OPERATIONS, renderPermissions } from '@relay/core';
import { renderInputsTable } from '../src/docs.js';

// Waits on the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(30_000);

const root = new URL('../../../', import.meta.url).pathname;
const file = `${root}README.md`;

/** Replaces the body between `open` and the next `close` marker; the README must have the markers. */
function fill(text: string, open: string, close: string, body: string): string {
  const re = new RegExp(`(${open})[\\s\\S]*?(${close})`);
  expect(text).toMatch(re);
  return text.replace(re, (_m, a: string, b: string) => `${a}\n${body}\n${b}`);
}

/** Checks the README against `want`, or writes it with UPDATE_README=1. */
function check(want: string): void {
  if (process.env.UPDATE_README === '1') writeFileSync(file, want);
  expect(readFileSync(file, 'utf8')).toBe(want);
}

test('the README has an input table for every operation, matching its spec', () => {
  let text = readFileSync(file, 'utf8');
  for (const op of OPERATIONS) text = fill(text, `<!-- inputs:${op.spec.name} -->`, '<!-- /inputs -->', renderInputsTable(op.spec));
  check(text);
});

test("the README's Permissions section is the table iam-policy builds its policies from", () => {
  check(fill(readFileSync(file, 'utf8'), '<!-- permissions -->', '<!-- /permissions -->', renderPermissions()));
});

test('the README shows every example workflow as it is in examples/workflows', () => {
  let text = readFileSync(file, 'utf8');
  const examples = readdirSync(`${root}examples/workflows`).sort();
  for (const name of examples) {
    const body = readFileSync(`${root}examples/workflows/${name}`, 'utf8').trimEnd();
    text = fill(
      text,
      `<!-- example:${name.replace('.', '\\.')} -->`,
      '<!-- /example -->',
      `\`examples/workflows/${name}\`:\n\n\`\`\`yaml\n${body}\n\`\`\``,
    );
  }
  expect([...text.matchAll(/<!-- example:(\S+) -->/g)].map((m) => m[1]).sort()).toEqual(examples);
  check(text);
});
