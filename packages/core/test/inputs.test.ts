import { describe, expect, test } from '@jest/globals';
import { defineSpec, envName, parseInputs, splitList } from '../src/inputs/spec.js';
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
  test.each([
    ['true', true],
    ['True', true],
    ['TRUE', true],
    [' true\n', true],
    ['false', false],
    ['False', false],
    ['FALSE', false],
    ['', false],
  ])('boolean %j is %s', (text, want) => expect(parseInputs(spec, { name: 'p', 'dry-run': text }, new NullLogger())['dry-run']).toBe(want));
  test.each(['yes', 'no', 'on', '1', '0', 'tRUE'])('boolean %j is refused, naming the input and the value', (text) =>
    expect(() => parseInputs(spec, { name: 'p', 'dry-run': text }, new NullLogger())).toThrow(
      `input 'dry-run': expected true or false, got ${JSON.stringify(text)}`,
    ),
  );
  test('numbers and choices are checked; a bad secret value is never echoed', () => {
    const s2 = defineSpec({
      name: 'y',
      description: 'y',
      inputs: {
        jobs: { description: 'j', type: 'number' },
        mode: { description: 'm', choices: ['fast', 'safe'] },
        flag: { description: 'f', type: 'boolean', secret: true },
      },
      branding: { icon: 'x', color: 'blue' },
      outputs: {},
    });
    expect(parseInputs(s2, { jobs: ' 4 ', mode: 'safe' }, new NullLogger())).toEqual({ jobs: 4, mode: 'safe', flag: false });
    expect(() => parseInputs(s2, { jobs: 'four' }, new NullLogger())).toThrow(`input 'jobs': expected a number, got "four"`);
    expect(() => parseInputs(s2, { mode: 'quick' }, new NullLogger())).toThrow(`input 'mode': expected one of fast, safe, got "quick"`);
    const err = (() => {
      try {
        parseInputs(s2, { flag: 'hunter2' }, new NullLogger());
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err?.message).toBe("input 'flag': expected true or false");
  });
  test('env names', () => {
    expect(envName('signing-key-passphrase')).toBe('RELAY_SIGNING_KEY_PASSPHRASE');
  });
});

describe('list inputs', () => {
  test.each([
    ['newlines', 'a\nb\r\nc', ['a', 'b', 'c']],
    ['commas', 'v1, v2,latest', ['v1', 'v2', 'latest']],
    ['both, with blanks', 'a,\n\n b ,', ['a', 'b']],
    ['braces keep their commas', 'dist/*.{tar.gz,zip}, extra.zip', ['dist/*.{tar.gz,zip}', 'extra.zip']],
    ['quotes keep their commas', '"a,b",c', ['a,b', 'c']],
  ])('%s', (_name, text, want) => {
    expect(splitList(text)).toEqual(want);
  });
});
