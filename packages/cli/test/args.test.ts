import { describe, expect, test } from '@jest/globals';
import { defineSpec } from '@relay/core';
import { parseArgs, UsageError } from '../src/args.js';

const spec = defineSpec({
  name: 'op',
  description: 'a test operation',
  branding: { icon: 'x', color: 'blue' },
  inputs: {
    source: { description: 's', positional: 0 },
    destination: { description: 'd', positional: 1 },
    tags: { description: 't', type: 'list' },
    'dry-run': { description: 'b', type: 'boolean' },
    token: { description: 'secret', secret: true },
  },
  outputs: {},
});

describe('parseArgs', () => {
  const cases: [string, string[], Record<string, string>, Record<string, string | undefined>][] = [
    ['flag and value', ['--source', 'a'], {}, { source: 'a' }],
    ['--x=v', ['--source=a=b'], {}, { source: 'a=b' }],
    ['positionals in order', ['a', 'b'], {}, { source: 'a', destination: 'b' }],
    ['a flag wins over a positional', ['--source', 'x', 'a'], {}, { source: 'x' }],
    ['repeated list flags join with newlines', ['--tags', 'v1', '--tags', 'v2'], {}, { tags: 'v1\nv2' }],
    ['bare boolean', ['--dry-run'], {}, { 'dry-run': 'true' }],
    ['bare boolean before a positional', ['--dry-run', 'a'], {}, { 'dry-run': 'true', source: 'a' }],
    ['boolean followed by its value', ['--dry-run', 'false'], {}, { 'dry-run': 'false' }],
    ['boolean followed by TRUE', ['--dry-run', 'TRUE'], {}, { 'dry-run': 'TRUE' }],
    ['RELAY_* fills what flags left', [], { RELAY_SOURCE: 'env', RELAY_DRY_RUN: 'true' }, { source: 'env', 'dry-run': 'true' }],
    ['flags win over RELAY_*', ['--source', 'flag'], { RELAY_SOURCE: 'env' }, { source: 'flag' }],
    ['an empty RELAY_* is not given', [], { RELAY_SOURCE: '' }, { source: undefined }],
  ];
  test.each(cases)('%s', (_name, argv, env, want) => {
    const { raw } = parseArgs(spec, argv, env);
    for (const [k, v] of Object.entries(want)) expect(raw[k]).toBe(v);
  });

  const bad: [string, string[], RegExp][] = [
    ['unknown flag', ['--nope', 'x'], /^unknown flag --nope for op; see op --help$/],
    ['value missing at the end', ['--source'], /^flag --source needs a value$/],
    ['surplus positional', ['a', 'b', 'c'], /^unexpected argument 'c' for op; see op --help$/],
  ];
  test.each(bad)('refuses %s as a usage error', (_name, argv, msg) => {
    let err: unknown;
    try {
      parseArgs(spec, argv, {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(msg);
  });

  test('records which inputs came from flags (a secret on the command line earns a warning)', () => {
    expect([...parseArgs(spec, ['--token', 't0k3n', 'a'], { RELAY_DESTINATION: 'd' }).fromFlags].sort()).toEqual(['source', 'token']);
  });
});
