// The mirror file: parsed into typed targets and images, or refused in one
// line naming the file, the line and the field, before any network use.
import { describe, expect, jest, test } from '@jest/globals';
import { InputError } from '../../src/errors.js';
import { DEFAULT_LABEL, labelFor, parseMirrorConfig, passesFilter, tagIsVersion } from '../../src/mirror/config.js';

// Waits on the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(30_000);

const GOOD = `version: 1
x-note: keys starting with x- are ignored (room for YAML anchors)
targets:
  quay: { registry: quay.io, repository: "gravitational/{name}" }
  hub:
    registry: docker.io
    repository: "gravitational/{name}"
    username-env: HUB_USER
    password-env: HUB_TOKEN
  ghcr: { registry: ghcr.io, repository: "gravitational/mirror/{name}" }
tiers:
  gold: [quay, hub]
  silver: [ghcr]
  bronze: []
images:
  - name: teleport
    source: public.ecr.aws/gravitational/teleport
    tier: gold
    tags: ["9.1.3"]
  - name: tbot
    source: public.ecr.aws/gravitational/tbot
    tier: silver
    tag-filter: { semver: ">=9 <10", exclude: "-rc" }
    platforms: [linux/amd64, linux/arm64]
`;
const ENV = { HUB_USER: 'u', HUB_TOKEN: 't' };

function parse(text: string, env: Record<string, string> = ENV, tiers: string[] = []) {
  return parseMirrorConfig(text, 'mirror.yml', { env, cwd: '/', tiers });
}

function refusal(text: string, env: Record<string, string> = ENV, tiers: string[] = []): string {
  try {
    parse(text, env, tiers);
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    const msg = (err as Error).message;
    expect(msg.split('\n')).toHaveLength(1);
    return msg;
  }
  throw new Error('expected a refusal');
}

describe('mirror file', () => {
  test('a good file gives typed targets and images', () => {
    const text = GOOD;
    const cfg = parse(text);
    expect([...cfg.targets.keys()]).toEqual(['quay', 'hub', 'ghcr']);
    const hub = cfg.targets.get('hub')!;
    expect(hub.registry).toBe('registry-1.docker.io');
    expect(hub.credentials).toEqual({ username: 'u', password: 't', from: 'mirror.yml targets.hub.password-env (HUB_TOKEN)' });
    expect(hub.descriptionApi).toEqual({ kind: 'dockerhub', url: 'https://hub.docker.com' });
    expect(cfg.targets.get('quay')!.descriptionApi).toEqual({ kind: 'quay', url: 'https://quay.io' });
    expect(cfg.targets.get('ghcr')!.descriptionApi.kind).toBe('none');
    expect(cfg.images.map((i) => [i.name, i.tier, i.targets.map((t) => t.name), i.tags])).toEqual([
      ['teleport', 'gold', ['quay', 'hub'], ['9.1.3']],
      ['tbot', 'silver', ['ghcr'], []],
    ]);
    expect(cfg.images[1]!.platforms).toEqual(['linux/amd64', 'linux/arm64']);
    expect(labelFor(cfg.images[0]!, hub)).toBe(DEFAULT_LABEL.replace(/\{source\}/g, 'public.ecr.aws/gravitational/teleport'));
    // Tiers limit the images, and so the credentials needed.
    expect(parse(text, {}, ['silver']).images.map((i) => i.name)).toEqual(['tbot']);
  });

  const MERGE = GOOD.replace(
    'x-note: keys starting with x- are ignored (room for YAML anchors)',
    'x-creds: &creds { username-env: HUB_USER }',
  ).replace('    username-env: HUB_USER\n', '    <<: *creds\n');
  test.each([
    [
      'an unknown field (with a suggestion)',
      GOOD.replace('tier: gold', 'teir: gold'),
      /^mirror\.yml:18: images\[0\]\.teir: unknown field \(did you mean 'tier'\?\); known fields: name, source, tier,/,
    ],
    ['a YAML merge key', MERGE, /^mirror\.yml:8: targets\.hub\.<<: unknown field/],
    [
      'an unknown tier',
      GOOD.replace('tier: gold', 'tier: platinum'),
      /^mirror\.yml:18: images\[0\]\.tier: unknown tier 'platinum' \(tiers: gold, silver, bronze\)$/,
    ],
    [
      'an unknown target in a tier',
      GOOD.replace('gold: [quay, hub]', 'gold: [quay, dockerhub]'),
      /^mirror\.yml:12: tiers\.gold\[1\]: unknown target 'dockerhub' \(targets: quay, hub, ghcr\)$/,
    ],
    [
      'an unknown placeholder',
      GOOD.replace('"gravitational/{name}" }', '"gravitational/{image}" }'),
      /^mirror\.yml:4: targets\.quay\.repository: unknown placeholder \{image\}/,
    ],
    [
      'an unbalanced brace',
      GOOD.replace('"gravitational/{name}" }', '"gravitational/{name" }'),
      /^mirror\.yml:4: targets\.quay\.repository: unbalanced/,
    ],
    [
      'a template without {name}',
      GOOD.replace('"gravitational/{name}" }', '"gravitational/teleport" }'),
      /^mirror\.yml:4: targets\.quay\.repository: .* lacks \{name\}/,
    ],
    ['a label placeholder', `label: "Mirror of {vendor}"\n${GOOD}`, /^mirror\.yml:1: label: unknown placeholder \{vendor\}/],
    [
      'a target registry whose port is out of range',
      GOOD.replace('{ registry: ghcr.io,', '{ registry: "ghcr.io:99999",'),
      /^mirror\.yml:10: targets\.ghcr\.registry: "ghcr\.io:99999" is not a registry host$/,
    ],
    [
      'a source whose port is out of range',
      GOOD.replace('source: public.ecr.aws/gravitational/tbot', 'source: registry.test:70000/tbot'),
      /^mirror\.yml:21: images\[1\]\.source: .*port 70000 is not from 1 to 65535/,
    ],
    [
      'a description API URL whose port is out of range',
      GOOD.replace(
        '{ registry: quay.io, repository: "gravitational/{name}" }',
        '{ registry: quay.io, repository: "gravitational/{name}", description-api: { kind: quay, url: "https://quay.test:99999" } }',
      ),
      /^mirror\.yml:4: targets\.quay\.description-api\.url: expected an http\(s\) base URL, got "https:\/\/quay\.test:99999" \(port 99999 is not from 1 to 65535\)$/,
    ],
    [
      'a bad semver range',
      GOOD.replace('">=9 <10"', '"nine"'),
      /^mirror\.yml:23: images\[1\]\.tag-filter\.semver: "nine" is not a semver range$/,
    ],
    [
      'a bad regex',
      GOOD.replace('exclude: "-rc"', 'exclude: "(rc"'),
      /^mirror\.yml:23: images\[1\]\.tag-filter\.exclude: "\(rc" is not a regular expression/,
    ],
    [
      'a source with a tag',
      GOOD.replace('gravitational/teleport\n', 'gravitational/teleport:9.1.3\n'),
      /^mirror\.yml:17: images\[0\]\.source: .*name the repository only/,
    ],
    [
      'an uppercase image name',
      GOOD.replace('name: teleport', 'name: Teleport'),
      /^mirror\.yml:16: images\[0\]\.name: expected a lowercase repository path/,
    ],
    ['a missing required field', GOOD.replace('    tier: gold\n', ''), /^mirror\.yml:16: images\[0\]: missing required field 'tier'$/],
    ['no tags at all', GOOD.replace('    tags: ["9.1.3"]\n', ''), /^mirror\.yml:16: images\[0\]: give 'tags', 'tag-filter', or both$/],
    ['a duplicate key', GOOD.replace('  silver: [ghcr]', '  gold: [ghcr]'), /^mirror\.yml:13: YAML: Map keys must be unique/],
    ['broken YAML', GOOD.replace('tags: ["9.1.3"]', 'tags: ["9.1.3"'), /^mirror\.yml:\d+: YAML: /],
    ['a file that is not a mapping', '- a\n- b\n', /^mirror\.yml:1: \(top level\): expected a mapping, got a list$/],
    [
      'a duplicate image',
      GOOD.replace('name: tbot', 'name: teleport'),
      /^mirror\.yml:20: images\[1\]\.name: image 'teleport' is already listed as images\[0\]$/,
    ],
    [
      'a default label too long for Docker Hub',
      GOOD.replace('public.ecr.aws/gravitational/teleport', 'public.ecr.aws/gravitational/teleport-enterprise-distroless-debug-fips'),
      /^mirror\.yml:5: targets\.hub\.description-api: the default label for 'teleport' on hub is 1\d\d characters; Docker Hub descriptions hold 100: set a shorter 'label'$/,
    ],
  ])('refuses %s in one line with file and line', (_, text, expected) => {
    expect(refusal(text)).toMatch(expected);
  });

  test('a dry run (the plan job, which holds no secret) reads a target whose variables are unset anonymously; a write refuses', () => {
    const planned = parseMirrorConfig(GOOD, 'mirror.yml', { env: {}, cwd: '/', plan: true });
    expect(planned.anonymous).toEqual(['HUB_USER', 'HUB_TOKEN']);
    expect(planned.targets.get('hub')!.credentials).toBeUndefined();
    const given = parseMirrorConfig(GOOD, 'mirror.yml', { env: ENV, cwd: '/', plan: true });
    expect(given.anonymous).toEqual([]);
    expect(given.targets.get('hub')!.credentials).toMatchObject({ username: 'u', password: 't' });
    expect(refusal(GOOD, {})).toMatch(/^mirror\.yml:8: targets\.hub\.username-env: environment variable HUB_USER is not set/);
  });

  test('a missing credential variable is refused naming the variable', () => {
    expect(refusal(GOOD, { HUB_USER: 'u' })).toBe(
      "mirror.yml:9: targets.hub.password-env: environment variable HUB_TOKEN is not set (target 'hub' needs it)",
    );
    expect(refusal(GOOD.replace('    password-env: HUB_TOKEN\n', ''))).toBe(
      'mirror.yml:5: targets.hub.password-env: give both username-env and password-env, or neither',
    );
  });

  test('a Docker Hub label longer than the API allows is refused where the label is', () => {
    const text = `label: "${'x'.repeat(101)} {name}"\n` + GOOD;
    expect(refusal(text)).toBe("mirror.yml:1: label: the label for 'teleport' on hub is 110 characters; Docker Hub descriptions hold 100");
  });

  test('an unknown tier as input is refused naming the input', () => {
    expect(refusal(GOOD, ENV, ['platinum'])).toBe(`input 'tiers': expected tiers of mirror.yml (gold, silver, bronze), got "platinum"`);
  });
});

describe('strings are the text written', () => {
  test('tags, sources and other string fields written unquoted keep their text, whatever YAML would make of them', () => {
    const cfg = parse(GOOD.replace('tags: ["9.1.3"]', 'tags: [9.10, 0123, 1e3, true, 0x1F]'));
    expect(cfg.images[0]!.tags).toEqual(['9.10', '0123', '1e3', 'true', '0x1F']);
  });
  test('an empty value is still nothing, refused where a string is required', () => {
    expect(refusal(GOOD.replace('tags: ["9.1.3"]', 'tags: [~]'))).toMatch(
      /^mirror\.yml:19: images\[0\]\.tags\[0\]: expected .*, got nothing$/,
    );
  });
});

describe('tag filters', () => {
  test('semver range, regex and exclude all apply; cosign tags never pass', () => {
    const f = { semver: '>=9.0.0 <10', exclude: /-rc/u };
    expect(['9.0.0', 'v9.1.3', '9.1.3-rc.1', '10.0.0', 'latest', '8.9.9'].filter((t) => passesFilter(t, f))).toEqual(['9.0.0', 'v9.1.3']);
    expect(passesFilter('sha256-' + 'a'.repeat(64) + '.sig', { regex: /.*/u })).toBe(false);
    expect(passesFilter('9.1', { regex: /^9\./u })).toBe(true);
  });
  test('a version names a tag with or without a leading v', () => {
    expect(tagIsVersion('v9.1.3', '9.1.3')).toBe(true);
    expect(tagIsVersion('9.1.3', 'v9.1.3')).toBe(true);
    expect(tagIsVersion('9.1.30', '9.1.3')).toBe(false);
  });
});

describe('the shipped example', () => {
  test('examples/mirror-artifact/mirror.yml is a valid mirror file', async () => {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(new URL('../../../../examples/mirror-artifact/mirror.yml', import.meta.url), 'utf8');
    const env = Object.fromEntries(
      ['QUAY_ROBOT_USERNAME', 'QUAY_ROBOT_TOKEN', 'QUAY_API_TOKEN', 'DOCKERHUB_USERNAME', 'DOCKERHUB_TOKEN', 'TERRAFORM_RELEASE_TOKEN'].map(
        (k) => [k, 'x'],
      ),
    );
    const cfg = parseMirrorConfig(text, 'mirror.yml', { env, cwd: '/' });
    expect(cfg.images.map((i) => [i.name, i.targets.map((t) => t.name)])).toEqual([
      ['teleport', ['quay', 'hub', 'ghcr']],
      ['teleport-distroless', ['quay', 'hub', 'ghcr']],
      ['tbot', ['ghcr']],
    ]);
    expect(cfg.targets.get('quay')!.descriptionApi.token?.from).toBe('QUAY_API_TOKEN');
    expect(cfg.providers.map((p) => [p.namespace, p.name, p.versions, p.targets.map((t) => [t.name, t.repository, t.apiUrl])])).toEqual([
      [
        'gravitational',
        'teleport',
        ['18.1.0'],
        [['terraform-github', 'gravitational/terraform-provider-teleport', 'https://api.github.com']],
      ],
    ]);
    expect(cfg.githubTargets.get('terraform-github')!.watch).toEqual({
      registryUrl: 'https://registry.terraform.io',
      timeoutMs: 900_000,
      intervalMs: 15_000,
    });
  });
});

describe('providers and github-release targets', () => {
  const FILE = `targets:
  hub: { registry: docker.io, repository: "gravitational/{name}" }
  gh:
    kind: github-release
    repository: acme/terraform-provider-demo
    token-env: GH_TOKEN
tiers:
  gold: [hub, gh]
providers:
  - name: demo
    namespace: acme
    store: file:///srv/registry
    registry-url: https://registry.example.com
    tier: gold
    versions: ["1.2.3"]
`;
  const load = (text: string, env: Record<string, string> = { GH_TOKEN: 't' }) => parseMirrorConfig(text, 'mirror.yml', { env, cwd: '/' });
  test("a providers-only file loads; providers get the tier's github-release targets only", () => {
    const cfg = load(FILE);
    expect(cfg.images).toEqual([]);
    expect(cfg.providers[0]!.targets.map((t) => t.name)).toEqual(['gh']);
    expect(cfg.providers[0]!.registryUrl.href).toBe('https://registry.example.com/');
    expect(cfg.githubTargets.get('gh')!.token).toBe('t');
  });
  test.each([
    [
      'an unset token variable',
      FILE,
      {},
      /^mirror\.yml:6: targets\.gh\.token-env: environment variable GH_TOKEN is not set \(target 'gh' needs it\)$/,
    ],
    [
      'no token-env',
      FILE.replace('    token-env: GH_TOKEN\n', ''),
      undefined,
      /^mirror\.yml:3: targets\.gh: missing required field 'token-env'/,
    ],
    [
      'a bad repository',
      FILE.replace('acme/terraform-provider-demo', 'acme'),
      undefined,
      /^mirror\.yml:5: targets\.gh\.repository: expected a GitHub repository owner\/repo, got "acme"$/,
    ],
    [
      'an OCI field on a github-release target',
      FILE.replace('    kind:', '    move-tags: true\n    kind:'),
      undefined,
      /^mirror\.yml:4: targets\.gh\.move-tags: a github-release target does not take 'move-tags'$/,
    ],
    [
      'a github field on an OCI target',
      FILE.replace('"gravitational/{name}" }', '"gravitational/{name}", token-env: X }'),
      undefined,
      /^mirror\.yml:2: targets\.hub\.token-env: only a github-release target takes 'token-env'$/,
    ],
    [
      'a bad version',
      FILE.replace('"1.2.3"', '"v1.2"'),
      undefined,
      /^mirror\.yml:15: providers\[0\]\.versions\[0\]: expected a version such as "1\.2\.3", got "v1\.2"$/,
    ],
    [
      'an unknown tier',
      FILE.replace('tier: gold', 'tier: lead'),
      undefined,
      /^mirror\.yml:14: providers\[0\]\.tier: unknown tier 'lead' \(tiers: gold\)$/,
    ],
    [
      'neither images nor providers',
      FILE.replace(/providers:[\s\S]*/, ''),
      undefined,
      /^mirror\.yml:1: \(top level\): give 'images', 'providers', or both$/,
    ],
  ])('%s is refused in one line', (_, text, env, re) => {
    expect(() => load(text, env)).toThrow(re);
  });
});
