// The ECR API through the AWS SDK, against an endpoint that accepts connections
// and never answers (the ECR API cannot run here: a silent loopback server
// stands in for it). The SDK's own limit is per attempt and it makes four; the
// request budget (request-timeout) bounds the call as a whole.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { RemoteError } from '../../src/errors.js';
import { NullLogger } from '../../src/log/logger.js';
import { ecrProvider } from '../../src/oci/ecr/auth.js';
import { ecrTagImmutability } from '../../src/oci/ecr/immutability.js';
import { startSilentServer } from '../../../../test/support/connect-proxy.js';

let silent: Awaited<ReturnType<typeof startSilentServer>>;
beforeAll(async () => {
  silent = await startSilentServer('silent');
});
afterAll(async () => {
  await silent.close();
});

const HOST = '123456789012.dkr.ecr.us-east-1.amazonaws.com';
const aws = (limitMs: number) => ({
  ecrEndpoint: `http://${silent.host}`,
  credentials: { accessKeyId: 'AKIAEXAMPLESTANDIN', secretAccessKey: 'stand-in-secret-key' },
  net: { env: {}, attemptLimitMs: limitMs },
});

describe('an ECR API stand-in that never answers', () => {
  test('GetAuthorizationToken fails once the budget is spent, every attempt included: a remote failure naming request-timeout', async () => {
    const started = Date.now();
    const err = await ecrProvider(HOST, aws(1500), new NullLogger())
      .get()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    const seconds = (Date.now() - started) / 1000;
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as Error).message).toBe(
      `registry ${HOST}: ECR API (us-east-1) GetAuthorizationToken: no answer within 1.5 s, every attempt included (raise request-timeout to wait longer)`,
    );
    // Four attempts of 1.5 s each (and backoff between them) would take 6 s or more.
    expect(seconds).toBeLessThan(4);
  }, 30_000);

  test('DescribeRepositories (tag immutability) gives up within the budget and the copy goes on without it', async () => {
    const started = Date.now();
    expect(await ecrTagImmutability(HOST, 'app', aws(1000), new NullLogger())).toBeUndefined();
    expect((Date.now() - started) / 1000).toBeLessThan(3);
  }, 30_000);
});
