// Where the integration servers are (scripts/servers/env.sh) and an S3 client set
// up the way RGW needs. A missing variable is an error, never a skip: a suite
// that silently skips looks green on a machine that tested nothing.
import { randomBytes } from 'node:crypto';
import * as s3sdk from '@aws-sdk/client-s3';

export { s3sdk };

const HINT = 'integration tests need the servers: run scripts/test.sh';

function need(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; ${HINT}`);
  return value;
}

export interface S3Settings {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export function s3Settings(): S3Settings {
  return {
    endpoint: need('RELAY_TEST_S3_ENDPOINT'),
    accessKeyId: need('RELAY_TEST_S3_ACCESS_KEY'),
    secretAccessKey: need('RELAY_TEST_S3_SECRET_KEY'),
  };
}

/** host:port of each registry, and the credentials that registries.sh sets up. */
export interface RegistrySettings {
  basic: string;
  anon: string;
  token: string;
  user: string;
  pass: string;
  /** Token-server account that is only ever granted `pull`. */
  pullUser: string;
  pullPass: string;
}

export function registries(): RegistrySettings {
  return {
    basic: need('RELAY_TEST_REG_BASIC'),
    anon: need('RELAY_TEST_REG_ANON'),
    token: need('RELAY_TEST_REG_TOKEN'),
    user: need('RELAY_TEST_REG_USER'),
    pass: need('RELAY_TEST_REG_PASS'),
    pullUser: need('RELAY_TEST_REG_PULL_USER'),
    pullPass: need('RELAY_TEST_REG_PULL_PASS'),
  };
}

/**
 * An S3 client for RGW. `endpoint` overrides the server, e.g. to go through a
 * fault proxy. Path-style because RGW has no wildcard DNS here; WHEN_REQUIRED
 * because the SDK's default aws-chunked checksums on stream bodies get
 * 411 MissingContentLength from RGW 16.
 */
export function s3Client(endpoint?: string): s3sdk.S3Client {
  const s = s3Settings();
  return new s3sdk.S3Client({
    endpoint: endpoint ?? s.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Creates a new bucket whose name starts with `prefix` and returns the name. */
export async function makeBucket(prefix: string): Promise<string> {
  // Unique per call so tests never see each other's objects, even in one run.
  const clean =
    prefix
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40) || 'b';
  const name = `${clean}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  const client = s3Client();
  try {
    await client.send(new s3sdk.CreateBucketCommand({ Bucket: name }));
  } finally {
    client.destroy();
  }
  return name;
}
