// The release file: checked whole against the schema built from the specs (file:line errors), placeholders
// filled from the inputs given, and read below flags, secrets and RELAY_* variables and above defaults, with
// the origin of every input kept for the run document. The JSON Schema shipped is the one generated.
// Regenerate with: RELAY_UPDATE_SCHEMAS=1 pnpm test:unit packages/core/test/release-file
import { describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  fillInputs,
  mirrorArtifact,
  parseReleaseFile,
  promoteTerraformProvider,
  publishTerraformRegistry,
  releaseFileJsonSchema,
} from '../../src/index.js';
import { tmpDir } from '../fixtures.js';

const SHIPPED = fileURLToPath(new URL('../../schemas/release-file.schema.json', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../../../examples/release.yml', import.meta.url));

const refusal = (text: string): string => {
  try {
    parseReleaseFile(text, 'release.yml');
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('not refused');
};

describe('release file', () => {
  test('the shipped JSON Schema is the one generated from the specs', async () => {
    const generated = JSON.stringify(releaseFileJsonSchema(), null, 2) + '\n';
    if (process.env.RELAY_UPDATE_SCHEMAS === '1') await fs.writeFile(SHIPPED, generated);
    expect(await fs.readFile(SHIPPED, 'utf8').catch(() => '')).toBe(generated);
  });

  test('the example parses', async () => {
    const rf = parseReleaseFile(await fs.readFile(EXAMPLE, 'utf8'), 'examples/release.yml');
    expect(Object.keys(rf.environments)).toEqual(['staging', 'production']);
    expect(rf.environments.production!['promote-terraform-provider']).toMatchObject({ namespace: 'gravitational', name: 'teleport' });
  });

  test('refusals name the file, the line and the field: unknown operation, unknown or secret input, wrong type, placeholder', () => {
    expect(refusal('version: 1\nenvironments:\n  production:\n    publish-terraform-registy: {}\n')).toMatch(
      /^release\.yml:4: environments\.production\.publish-terraform-registy: unknown field \(did you mean 'publish-terraform-registry'\?\)/,
    );
    expect(refusal('version: 1\nenvironments:\n  production:\n    publish-terraform-registry:\n      signing-key: x\n')).toMatch(
      /^release\.yml:5: environments\.production\.publish-terraform-registry\.signing-key: unknown field/,
    );
    expect(refusal('version: 1\nenvironments:\n  production:\n    publish-terraform-registry:\n      immutable: "no"\n')).toBe(
      'release.yml:5: environments.production.publish-terraform-registry.immutable: expected true or false, got "no"',
    );
    // a field declared a string takes the text as written (YAML would make 6.0 the number 6)
    expect(
      JSON.stringify(
        parseReleaseFile('version: 1\nenvironments:\n  staging:\n    publish-terraform-registry:\n      protocols: [6.0]\n', 'release.yml'),
      ),
    ).toContain('"6.0"');
    expect(refusal('version: 1\nenvironments:\n  staging:\n    publish-terraform-registry:\n      store: s3://b/${tag}\n')).toBe(
      'release.yml:5: environments.staging.publish-terraform-registry.store: unknown placeholder ${tag} (known: ${version}, ${name}, ${namespace}, ${environment})',
    );
    expect(refusal('version: 2\nenvironments: {}\n')).toBe('release.yml:1: version: expected an integer from 1 to 1, got 2');
    expect(refusal('version: 1\nenvironments:\n  production:\n    publish-terraform-registry:\n      dry-run: true\n')).toMatch(
      /dry-run: unknown field/,
    );
  });

  test('flags, secrets and RELAY_* win; the file fills the rest, placeholders filled; defaults last; every origin kept', async () => {
    const dir = await tmpDir('relay-release-file-');
    await fs.writeFile(
      path.join(dir, 'release.yml'),
      [
        'version: 1',
        'environments:',
        '  production:',
        '    publish-terraform-registry:',
        '      namespace: acme',
        '      name: demo',
        '      tarballs: ["dist/terraform-provider-${name}-v${version}-*.tar.gz", "more/${version}.zip"]',
        '      store: s3://bucket/${environment}',
        '      registry-url: https://terraform.acme.dev',
        '      immutable: false',
        '      max-binary-size: 512',
        '',
      ].join('\n'),
    );
    const raw: Record<string, string | undefined> = { version: '9.1.3', 'registry-url': 'https://override.acme.dev', 'signing-key': 'k' };
    const origins: Record<string, string> = { version: 'flag', 'registry-url': 'RELAY_REGISTRY_URL', 'signing-key': 'secrets-file' };
    await fillInputs(
      publishTerraformRegistry.spec,
      raw,
      origins,
      { file: 'release.yml', environment: 'production' },
      { cwd: dir, env: {} },
    );
    expect(raw).toMatchObject({
      namespace: 'acme',
      tarballs: 'dist/terraform-provider-demo-v9.1.3-*.tar.gz\nmore/9.1.3.zip',
      store: 's3://bucket/production',
      'registry-url': 'https://override.acme.dev',
      immutable: 'false',
      'max-binary-size': '512',
    });
    expect(origins).toMatchObject({
      version: 'flag',
      'registry-url': 'RELAY_REGISTRY_URL',
      'signing-key': 'secrets-file',
      namespace: 'release-file release.yml:5 (production)',
      tarballs: 'release-file release.yml:7 (production)',
      immutable: 'release-file release.yml:10 (production)',
      'detect-protocols': 'default',
    });
    // ${version} from the tag when no version is given; a refusal naming the field when there is none.
    const fromTag: Record<string, string | undefined> = {};
    await fillInputs(
      publishTerraformRegistry.spec,
      fromTag,
      {},
      { file: 'release.yml', environment: 'production' },
      {
        cwd: dir,
        env: { GITHUB_REF: 'refs/tags/terraform-provider-demo-v2.0.0' },
      },
    );
    expect(fromTag.tarballs).toBe('dist/terraform-provider-demo-v2.0.0-*.tar.gz\nmore/2.0.0.zip');
    await expect(
      fillInputs(publishTerraformRegistry.spec, {}, {}, { file: 'release.yml', environment: 'production' }, { cwd: dir, env: {} }),
    ).rejects.toThrow(
      'release.yml:7: environments.production.publish-terraform-registry.tarballs: uses ${version}, but no version is given (--version, RELAY_VERSION, or a terraform-provider-<name>-v<version> tag in GITHUB_REF)',
    );
    await expect(
      fillInputs(publishTerraformRegistry.spec, {}, {}, { file: 'release.yml', environment: 'staging' }, { cwd: dir, env: {} }),
    ).rejects.toThrow("release.yml: no environment 'staging' (environments: production)");
    await expect(
      fillInputs(promoteTerraformProvider.spec, {}, {}, { file: 'release.yml', environment: 'production' }, { cwd: dir, env: {} }),
    ).rejects.toThrow('release.yml:3: environments.production: no promote-terraform-provider in it');
    await expect(fillInputs(mirrorArtifact.spec, {}, {}, { file: 'release.yml' }, { cwd: dir, env: {} })).rejects.toThrow(
      /input 'environment'/,
    );
  });
});
