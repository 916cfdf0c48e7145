// Hosts, ports and URLs a person gives are checked once, where they are read:
// a refusal naming the input, never an "Invalid URL" crash (exit 70) at the
// first request (issue 18, class 10).
import { describe, expect, test } from '@jest/globals';
import { InputError } from '../../src/errors.js';
import { hostPortProblem, httpUrlProblem } from '../../src/inputs/url.js';
import { NullLogger } from '../../src/log/logger.js';
import { openStoreInput, parseRegistryUrl } from '../../src/operations/common.js';
import { openStore } from '../../src/store/open.js';
import { proxySettings } from '../../src/http/proxy.js';

describe('host[:port] and http(s) URLs', () => {
  test.each([
    ['registry.test', undefined],
    ['registry.test:5000', undefined],
    ['127.0.0.1:65535', undefined],
    ['[::1]:5000', undefined],
    ['registry.test:65536', 'port 65536 is not from 1 to 65535'],
    ['registry.test:0', 'port 0 is not from 1 to 65535'],
    ['[zz::1]', "'[zz::1]' is not a host[:port]"],
  ])('%s', (hostPort, why) => {
    expect(hostPortProblem(hostPort)).toBe(why);
  });

  test.each([
    ['https://registry.test/v1/', undefined],
    ['http://user:pw@127.0.0.1:9000', undefined],
    ['https://registry.test:99999/', 'port 99999 is not from 1 to 65535'],
    ['ftp://registry.test/', 'not an http(s) URL'],
    ['https:///x', 'no host'],
  ])('%s', (url, why) => {
    expect(httpUrlProblem(url)).toBe(why);
  });
});

describe('at the inputs', () => {
  const ctx = { log: new NullLogger(), env: {}, cwd: '/' };
  const refusal = (f: () => unknown): string => {
    try {
      f();
    } catch (err) {
      expect(err).toBeInstanceOf(InputError);
      return (err as Error).message;
    }
    throw new Error('expected a refusal');
  };

  test('registry-url with a port out of range', () => {
    expect(refusal(() => parseRegistryUrl('https://registry.test:99999'))).toBe(
      `input 'registry-url': expected an http(s) URL such as https://registry.example.com (port 99999 is not from 1 to 65535), got "https://registry.test:99999"`,
    );
  });

  test('s3-endpoint, AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL are named when theirs is the bad URL', () => {
    expect(refusal(() => openStoreInput('s3://bucket/x', 'store', 'http://127.0.0.1:99999', ctx))).toMatch(
      /^input 's3-endpoint': expected an http\(s\) endpoint URL .*\(port 99999 is not from 1 to 65535\)/,
    );
    expect(refusal(() => openStoreInput('s3://bucket/x', 'store', undefined, { ...ctx, env: { AWS_ENDPOINT_URL: 'rgw:8080' } }))).toMatch(
      /^input 'AWS_ENDPOINT_URL': .*\(not an http\(s\) URL\)/,
    );
    expect(
      refusal(() => openStoreInput('s3://bucket/x', 'store', undefined, { ...ctx, env: { AWS_ENDPOINT_URL_S3: 'https://x:70000' } })),
    ).toMatch(/^input 'AWS_ENDPOINT_URL_S3'/);
  });

  test('a file:// store with a broken %-escape, and a proxy whose credentials hold one, are refused, not URIErrors', () => {
    expect(refusal(() => openStore('file:///tmp/%E0%A4%A', 'store', { cwd: '/' }))).toBe(
      `input 'store': expected file://<dir> with valid %-escapes, got "file:///tmp/%E0%A4%A"`,
    );
    const msg = refusal(() => proxySettings({ HTTPS_PROXY: 'http://u%E0:s3cret@proxy.test:3128' }));
    expect(msg).toBe("HTTPS_PROXY: the proxy URL's credentials hold an invalid %-escape");
  });
});
