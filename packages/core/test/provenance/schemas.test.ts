// The schemas themselves must refuse what the specifications forbid, or a
// statement passing them proves nothing.
import { describe, expect, test } from '@jest/globals';
import { statementErrors } from './validate.js';

const good = {
  _type: 'https://in-toto.io/Statement/v1',
  subject: [{ name: 'a.zip', digest: { sha256: 'a'.repeat(64) } }],
  predicateType: 'https://slsa.dev/provenance/v1',
  predicate: {
    buildDefinition: { buildType: 'https://example.com/build/v1', externalParameters: {} },
    runDetails: { builder: { id: 'https://example.com/builder' } },
  },
};

describe('the Statement schemas', () => {
  test('accept a minimal SLSA v1 statement', () => {
    expect(statementErrors(good, 'slsa')).toEqual([]);
    expect(statementErrors(good, 'in-toto')).toEqual([]);
  });
  test.each([
    ['another _type', { ...good, _type: 'https://in-toto.io/Statement/v0.1' }],
    ['a subject without digest', { ...good, subject: [{ name: 'a.zip' }] }],
    ['no subject', { ...good, subject: [] }],
    ['an upper-case sha256', { ...good, subject: [{ name: 'a', digest: { sha256: 'A'.repeat(64) } }] }],
    ['a predicateType that is no URI', { ...good, predicateType: 'slsa provenance' }],
  ])('refuse %s', (_what, doc) => {
    expect(statementErrors(doc, 'in-toto')).not.toEqual([]);
  });
  test.each([
    ['no buildType', { ...good, predicate: { ...good.predicate, buildDefinition: { externalParameters: {} } } }],
    ['no externalParameters', { ...good, predicate: { ...good.predicate, buildDefinition: { buildType: 'https://e.com/b' } } }],
    ['no builder id', { ...good, predicate: { ...good.predicate, runDetails: { builder: {} } } }],
    [
      'a dependency with neither uri, digest nor content',
      {
        ...good,
        predicate: { ...good.predicate, buildDefinition: { ...good.predicate.buildDefinition, resolvedDependencies: [{ name: 'x' }] } },
      },
    ],
  ])('refuse SLSA provenance with %s', (_what, doc) => {
    expect(statementErrors(doc, 'slsa')).not.toEqual([]);
  });
});
