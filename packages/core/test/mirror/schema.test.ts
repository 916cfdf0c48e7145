// The mirror file's JSON Schema is generated from the declaration that also
// gives the TypeScript type and the validator; the shipped copy must match.
// Regenerate with: RELAY_UPDATE_SCHEMAS=1 pnpm test:unit packages/core/test/mirror/schema.test.ts
import { describe, expect, jest, test } from '@jest/globals';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { mirrorFileJsonSchema } from '../../src/mirror/file.js';

// Waits on the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(30_000);

const SHIPPED = fileURLToPath(new URL('../../schemas/mirror-file.schema.json', import.meta.url));

describe('mirror file JSON Schema', () => {
  test('the shipped schema is the one generated from the declaration', async () => {
    const generated = JSON.stringify(mirrorFileJsonSchema(), null, 2) + '\n';
    if (process.env.RELAY_UPDATE_SCHEMAS === '1') await writeFile(SHIPPED, generated);
    const shipped = await readFile(SHIPPED, 'utf8').catch(() => '');
    expect(shipped).toBe(generated);
  });

  test('it refuses unknown fields and requires targets and tiers (images, providers or both: checked by the loader)', () => {
    const s = mirrorFileJsonSchema() as { required: string[]; additionalProperties: boolean; properties: Record<string, unknown> };
    expect(s.required).toEqual(['targets', 'tiers']);
    expect(s.additionalProperties).toBe(false);
    expect(Object.keys(s.properties)).toEqual(['version', 'label', 'targets', 'tiers', 'images', 'providers']);
  });
});
