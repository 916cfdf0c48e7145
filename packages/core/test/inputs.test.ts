import { describe, expect, test } from '@jest/globals';
import { defineSpec, envName, parseInputs } from '../src/inputs/spec.js';
import { NullLogger } from '../src/log/logger.js';

const spec = defineSpec({
  name: 'x',
  description: 'x',
  inputs: {
    name: { description: 'n', required: true },
    'dry-run': { description: 'd', type: 'boolean', default: 'false' },
    tags: { description: 't', type: 'list' },
    'signing-key': { description: 'k', secret: true },
  },
  branding: { icon: 'x', color: 'blue' },
  outputs: {},
});

describe('parseInputs', () => {
  test('applies defaults, types and masks secrets', () => {
    const log = new NullLogger();
    const v = parseInputs(spec, { name: ' p ', tags: 'a\n\nb\n', 'signing-key': 'SECRET-KEY-TEXT' }, log);
    expect(v).toEqual({ name: 'p', 'dry-run': false, tags: ['a', 'b'], 'signing-key': 'SECRET-KEY-TEXT' });
    log.info('the key is SECRET-KEY-TEXT');
    expect(log.lines).toEqual(['the key is ***']);
  });
  test('a missing required input names the flag and the variable', () => {
    expect(() => parseInputs(spec, {}, new NullLogger())).toThrow("input 'name': expected a value (flag --name or RELAY_NAME)");
  });
  test('booleans follow the YAML core schema', () => {
    expect(parseInputs(spec, { name: 'p', 'dry-run': 'TRUE' }, new NullLogger())['dry-run']).toBe(true);
    expect(() => parseInputs(spec, { name: 'p', 'dry-run': 'yes' }, new NullLogger())).toThrow("input 'dry-run': expected true or false");
  });
  test('env names', () => {
    expect(envName('signing-key-passphrase')).toBe('RELAY_SIGNING_KEY_PASSPHRASE');
  });
});
