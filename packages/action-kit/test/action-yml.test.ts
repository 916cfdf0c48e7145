import { describe, expect, jest, test } from '@jest/globals';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { OPERATIONS } from '@relay/core';
import { renderActionYml } from '../src/docs.js';

// Waits on the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(30_000);

const root = new URL('../../../', import.meta.url).pathname;

describe('every operation is an action whose action.yml matches its spec', () => {
  for (const op of OPERATIONS) {
    test(op.spec.name, () => {
      const file = `${root}actions/${op.spec.name}/action.yml`;
      const want = renderActionYml(op.spec);
      if (process.env.UPDATE_ACTION_YML === '1') writeFileSync(file, want);
      expect(existsSync(file)).toBe(true);
      expect(readFileSync(file, 'utf8')).toBe(want);
      for (const input of Object.keys(op.spec.inputs)) expect(input).toMatch(/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/);
    });
  }
  test('actions/ holds exactly the operations, each only its action.yml', () => {
    const dirs = readdirSync(`${root}actions`).sort();
    expect(dirs).toEqual(OPERATIONS.map((o) => o.spec.name).sort());
    for (const d of dirs) expect(readdirSync(`${root}actions/${d}`)).toEqual(['action.yml']);
  });
  test('every action entry exists in the committed bundle', () => {
    for (const op of OPERATIONS) expect(existsSync(`${root}dist/actions/${op.spec.name}.mjs`)).toBe(true);
  });
});
