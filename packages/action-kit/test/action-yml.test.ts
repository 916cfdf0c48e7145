import { describe, expect, test } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { ACTIONS } from '../src/actions.js';
import { renderActionYml } from '../src/action-yml.js';

const root = new URL('../../../', import.meta.url).pathname;

describe('action.yml matches the input spec', () => {
  for (const [name, { op, branding }] of Object.entries(ACTIONS)) {
    test(name, () => {
      const file = `${root}actions/${name}/action.yml`;
      const want = renderActionYml(op.spec, branding);
      if (process.env.UPDATE_ACTION_YML === '1') writeFileSync(file, want);
      expect(readFileSync(file, 'utf8')).toBe(want);
      expect(op.spec.name).toBe(name);
      for (const input of Object.keys(op.spec.inputs)) expect(input).toMatch(/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/);
    });
  }
});
