import { describe, expect, test } from '@jest/globals';
import { checkVersion, compareVersions, parseTarballName, versionFromRef } from '../../src/terraform/names.js';
import {
  addMirrorVersion,
  mergeVersion,
  normaliseProtocols,
  parseMirrorIndex,
  parseVersionsDoc,
  sha256Sums,
} from '../../src/terraform/documents.js';
import { InputError } from '../../src/errors.js';
import { contentTypeFor, relativeUrl } from '../../src/terraform/layout.js';

describe('archive names', () => {
  test.each([
    ['terraform-provider-teleport-v9.1.3-linux-amd64-bin.tar.gz', { version: '9.1.3', os: 'linux', arch: 'amd64', format: 'tar.gz' }],
    ['terraform-provider-teleport_9.1.3-rc.1_darwin_arm64.zip', { version: '9.1.3-rc.1', os: 'darwin', arch: 'arm64', format: 'zip' }],
    ['dir/terraform-provider-teleport_9.1.3_windows_amd64.tar.gz', { version: '9.1.3', os: 'windows', arch: 'amd64', format: 'tar.gz' }],
  ])('%s', (file, want) => expect(parseTarballName(file, 'teleport')).toEqual(want));
  test.each([
    'terraform-provider-other-v1.0.0-linux-amd64-bin.tar.gz',
    'terraform-provider-teleport-v1.0.0-plan9-amd64-bin.tar.gz',
    'teleport.tar.gz',
    'terraform-provider-teleport_1.0.0_linux.zip',
  ])('refuses %s', (file) => expect(parseTarballName(file, 'teleport')).toBeUndefined());
  test('version from the tag', () => {
    expect(versionFromRef('refs/tags/terraform-provider-teleport-v9.1.3', 'teleport')).toBe('9.1.3');
    expect(versionFromRef('refs/heads/main', 'teleport')).toBeUndefined();
  });
});

describe('versions', () => {
  test('a v prefix and partial versions are refused with the input named', () => {
    expect(() => checkVersion('v1.2.3')).toThrow(`input 'version': expected a version without a "v" prefix`);
    expect(() => checkVersion('1.2')).toThrow(`input 'version': expected a version MAJOR.MINOR.PATCH`);
    expect(() => checkVersion('1.2.3+build.1')).toThrow(/without build metadata/);
    expect(checkVersion('1.2.3-rc.1')).toBe('1.2.3-rc.1');
  });
  test('SemVer precedence', () => {
    const vs = ['1.0.0', '1.0.0-rc.1', '1.0.0-alpha', '0.9.10', '0.9.9', '1.0.0-rc.10', '1.0.0-rc.2'];
    expect([...vs].sort(compareVersions)).toEqual(['0.9.9', '0.9.10', '1.0.0-alpha', '1.0.0-rc.1', '1.0.0-rc.2', '1.0.0-rc.10', '1.0.0']);
  });
});

describe('documents', () => {
  test('SHA256SUMS is sorted, two spaces, no star, no blank line', () => {
    const s = sha256Sums([
      { name: 'b.zip', sha256: 'b'.repeat(64) },
      { name: 'a.zip', sha256: 'a'.repeat(64) },
    ]).toString();
    expect(s).toBe(`${'a'.repeat(64)}  a.zip\n${'b'.repeat(64)}  b.zip\n`);
  });
  test('protocols are normalised and bounded to 5.x/6.x', () => {
    expect(normaliseProtocols(['6', '5.0,6.0'], 'protocols')).toEqual(['5.0', '6.0']);
    expect(() => normaliseProtocols(['7.0'], 'protocols')).toThrow("input 'protocols': expected protocol versions 5.x or 6.x");
    expect(() => normaliseProtocols(['4'], 'protocols')).toThrow(/5.x or 6.x/);
  });
  test('merging: identical is a no-op, different is a conflict when immutable', () => {
    const e = { version: '1.0.0', protocols: ['6.0'], platforms: [{ os: 'linux', arch: 'amd64' }] };
    const doc = { versions: [e] };
    expect(mergeVersion(doc, e, true, 'v')).toBeUndefined();
    const other = { ...e, platforms: [...e.platforms, { os: 'darwin', arch: 'arm64' }] };
    expect(() => mergeVersion(doc, other, true, 'v')).toThrow(/already published with different platforms/);
    expect(mergeVersion(doc, other, false, 'v')?.versions).toEqual([
      {
        ...other,
        platforms: [
          { os: 'darwin', arch: 'arm64' },
          { os: 'linux', arch: 'amd64' },
        ],
      },
    ]);
    expect(mergeVersion(doc, { ...e, version: '0.9.0' }, true, 'v')?.versions.map((v) => v.version)).toEqual(['0.9.0', '1.0.0']);
  });
  test('a corrupt or poisoned versions document is refused, not overwritten', () => {
    expect(() => parseVersionsDoc('s3://b/versions', Buffer.from('{"versions": ['))).toThrow(
      's3://b/versions is not valid JSON; refusing to overwrite it',
    );
    expect(() => parseVersionsDoc('x', Buffer.from('{"versions":[{"version":"v1.0.0"}]}'))).toThrow(/invalid version "v1.0.0"/);
    expect(() => parseVersionsDoc('x', Buffer.from('[]'))).toThrow(/no "versions" array/);
  });
  test('relative links from a download document reach the store root', () => {
    const u = relativeUrl('registry/ns/t/1.0.0/download/linux/amd64', 'store/ns/t/1.0.0/f.zip');
    expect(new URL(u, 'https://h/prefix/registry/ns/t/1.0.0/download/linux/amd64').href).toBe('https://h/prefix/store/ns/t/1.0.0/f.zip');
  });
});

describe('mirror index', () => {
  test.each([
    ['not JSON', '{"versions": {'],
    ['an array', '[]'],
    ['null', 'null'],
    ['no versions', '{}'],
    ['versions as an array', '{"versions":["1.0.0"]}'],
    ['versions as null', '{"versions":null}'],
  ])('%s is refused, not overwritten', (_name, text) => {
    const parse = () => parseMirrorIndex('s3://b/mirror/h/acme/demo/index.json', Buffer.from(text));
    expect(parse).toThrow(InputError);
    expect(parse).toThrow(
      's3://b/mirror/h/acme/demo/index.json is not a valid network mirror index; refusing to overwrite it (repair or remove it by hand)',
    );
  });
  test('adding a version keeps the others and sorts the keys; one already listed is a no-op', () => {
    const idx = parseMirrorIndex('x', Buffer.from('{"versions":{"1.1.0":{},"0.9.0":{}},"extra":true}'));
    expect(addMirrorVersion(idx, '1.0.0')).toEqual({ versions: { '0.9.0': {}, '1.0.0': {}, '1.1.0': {} }, extra: true });
    expect(Object.keys(addMirrorVersion(idx, '1.0.0')!.versions)).toEqual(['0.9.0', '1.0.0', '1.1.0']);
    expect(addMirrorVersion(idx, '1.1.0')).toBeUndefined();
  });
});

describe('content types', () => {
  test.each([
    ['.well-known/terraform.json', 'application/json'],
    ['registry/acme/demo/versions', 'application/json'],
    ['registry/acme/demo/1.0.0/download/linux/amd64', 'application/json'],
    ['mirror/h/acme/demo/index.json', 'application/json'],
    ['store/acme/demo/1.0.0/terraform-provider-demo_1.0.0_linux_amd64.zip', 'application/zip'],
    ['store/acme/demo/1.0.0/terraform-provider-demo_1.0.0_SHA256SUMS', 'text/plain; charset=utf-8'],
    ['store/acme/demo/1.0.0/terraform-provider-demo_1.0.0_SHA256SUMS.sig', 'application/pgp-signature'],
    ['store/acme/demo/1.0.0/notes', 'application/octet-stream'],
  ])('%s is served as %s', (key, type) => expect(contentTypeFor(key)).toBe(type));
});
