import { describe, expect, test } from '@jest/globals';
import { formatReference, parseReference } from '../../src/oci/ref/reference.js';

describe('parseReference', () => {
  test.each([
    ['127.0.0.1:5001/app:1.0', { kind: 'registry', registry: '127.0.0.1:5001', repository: 'app', tag: '1.0' }],
    [
      'docker://ghcr.io/org/tool/sub@sha256:' + 'a'.repeat(64),
      { kind: 'registry', registry: 'ghcr.io', repository: 'org/tool/sub', digest: 'sha256:' + 'a'.repeat(64) },
    ],
    ['alpine', { kind: 'registry', registry: 'registry-1.docker.io', repository: 'library/alpine' }],
    ['docker.io/alpine:3', { kind: 'registry', registry: 'registry-1.docker.io', repository: 'library/alpine', tag: '3' }],
    ['bitnami/redis:7', { kind: 'registry', registry: 'registry-1.docker.io', repository: 'bitnami/redis', tag: '7' }],
    ['localhost/app', { kind: 'registry', registry: 'localhost', repository: 'app' }],
    [
      'localhost:5000/a/b:t@sha256:' + 'b'.repeat(64),
      { kind: 'registry', registry: 'localhost:5000', repository: 'a/b', tag: 't', digest: 'sha256:' + 'b'.repeat(64) },
    ],
    [
      '123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:v1',
      { kind: 'registry', registry: '123456789012.dkr.ecr.eu-west-1.amazonaws.com', repository: 'team/app', tag: 'v1' },
    ],
    ['oci:/tmp/layout', { kind: 'layout', dir: '/tmp/layout' }],
    ['oci:./out:v1.2', { kind: 'layout', dir: './out', tag: 'v1.2' }],
    ['oci:dir@sha256:' + 'c'.repeat(64), { kind: 'layout', dir: 'dir', digest: 'sha256:' + 'c'.repeat(64) }],
  ])('%s', (text, want) => {
    expect(parseReference(text)).toEqual(want);
  });

  test.each([
    ['', `input 'source': expected registry/repository[:tag][@sha256:<hex>], got ""`],
    [
      'ghcr.io/Org/app:1',
      `input 'source': expected registry/repository[:tag][@sha256:<hex>] (the repository must be lowercase path components: [a-z0-9] separated by . _ __ or -), got "ghcr.io/Org/app:1"`,
    ],
    ['ghcr.io/app:bad tag', "tag 'bad tag' is not a valid tag"],
    ['ghcr.io/app@sha256:abc', 'the digest must be sha256:<64 lowercase hex>'],
    ['ghcr.io/app@md5:' + 'a'.repeat(32), 'the digest must be sha256'],
    ['ghcr.io//app', 'the repository must be lowercase path components'],
    ['oci:', 'expected oci:<directory>[:tag]'],
    // A port out of range is the input's fault, said here, not an "Invalid URL" crash at the first request.
    ['host.test:99999/app:1', '(port 99999 is not from 1 to 65535), got "host.test:99999/app:1"'],
    ['localhost:0/app', 'port 0 is not from 1 to 65535'],
    ['[::1:99999/app', 'is not a registry host'],
    ['[zz::1]:5000/app', "'[zz::1]:5000' is not a registry host"],
  ])('refuses %j', (text, msg) => {
    expect(() => parseReference(text, 'source')).toThrow(msg);
  });

  test('formats as people write it', () => {
    expect(formatReference(parseReference('alpine:3'))).toBe('docker.io/library/alpine:3');
    expect(formatReference(parseReference('oci:/x:t'))).toBe('oci:/x:t');
    expect(formatReference(parseReference('127.0.0.1:5001/a:t'), { digest: 'sha256:' + 'd'.repeat(64) })).toBe(
      `127.0.0.1:5001/a@sha256:${'d'.repeat(64)}`,
    );
  });
});
