// Variables a secrets map sets for a run besides inputs: a mirror run takes those
// its mirror file names and refuses any other by name, once the file is read and
// before any network use; an operation whose inputs name none refuses them all.
import { describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { mirrorArtifact, parseInputs, publishTerraformRegistry, TerminalLogger, type Context } from '../../src/index.js';
import { tmpDir } from '../fixtures.js';

const log = new TerminalLogger(process.stderr, false, true);

describe('named variables', () => {
  test('mirror-artifact: a variable its mirror file names is taken, any other refused by name before a request is made', async () => {
    const dir = await tmpDir('relay-named-vars-');
    // An address nothing listens on: reaching the network would fail differently, and slowly.
    await fs.writeFile(
      path.join(dir, 'mirror.yml'),
      'targets:\n  hub: { registry: 127.0.0.1:9, repository: "m/{name}", username-env: HUB_USER, password-env: HUB_TOKEN }\ntiers:\n  gold: [hub]\nimages:\n  - { name: a, source: 127.0.0.1:9/a, tier: gold, tags: ["1"] }\n',
    );
    const inputs = parseInputs(mirrorArtifact.spec, { config: 'mirror.yml', 'dry-run': 'true' }, log);
    const ctx = (names: string[]): Context => ({
      log,
      cwd: dir,
      env: { HUB_USER: 'u', HUB_TOKEN: 't', STRAY: 's' },
      namedVariables: { names, where: '--secrets-file -' },
    });
    await expect(mirrorArtifact.run(inputs, ctx(['HUB_USER', 'STRAY']))).rejects.toThrow(
      "--secrets-file -: 'STRAY' is not an input, nor a variable Relay reads, nor one the mirror file mirror.yml names",
    );
    // The names the file gives pass the check: the run goes on to the registry (and fails there, unreachable).
    await expect(mirrorArtifact.run(inputs, ctx(['HUB_USER', 'HUB_TOKEN']))).resolves.toMatchObject({ outputs: { status: 'failed' } });
  }, 60_000);

  test('an operation whose inputs name no variables refuses every one, before it starts', async () => {
    const inputs = parseInputs(
      publishTerraformRegistry.spec,
      { namespace: 'a', name: 'b', store: 'file:///nonexistent', 'registry-url': 'https://r.example.com', 'signing-key': 'x' },
      log,
    );
    await expect(
      publishTerraformRegistry.run(inputs, { log, cwd: '/', env: {}, namedVariables: { names: ['HUB_TOKEN'], where: 'RELAY_ENV' } }),
    ).rejects.toThrow(
      "RELAY_ENV: 'HUB_TOKEN' is not an input, nor a variable Relay reads, nor one publish-terraform-registry's inputs names",
    );
  });
});
