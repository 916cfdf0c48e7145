// Small S3 helper for the benchmark, on the same client library Relay bundles
// (@aws-sdk/client-s3 from the repository root's node_modules).
//
//   node bench/s3.mjs put <bucket> <file>...   the peer pipeline's upload step (timed)
//   node bench/s3.mjs mkbucket <bucket>        (untimed set-up)
//   node bench/s3.mjs count <bucket>           prints the number of objects
//   node bench/s3.mjs rmbucket <bucket>...     deletes every object, then the bucket
//
// Env: BENCH_S3_ENDPOINT (http://127.0.0.1:7480), BENCH_UPLOAD_CONCURRENCY
// (put: files in flight at once; default 1, a plain `for` loop as teams write it).
import { createReadStream, statSync } from 'node:fs';
import { basename } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(root + 'package.json');
const {
  S3Client,
  PutObjectCommand,
  CreateBucketCommand,
  ListObjectsV2Command,
  DeleteObjectsCommand,
  DeleteBucketCommand,
} = require('@aws-sdk/client-s3');

const client = new S3Client({
  endpoint: process.env.BENCH_S3_ENDPOINT || 'http://127.0.0.1:7480',
  forcePathStyle: true,
  region: 'us-east-1',
  credentials: { accessKeyId: 'testaccess', secretAccessKey: 'testsecret' },
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});

const contentType = (f) => (f.endsWith('.zip') ? 'application/zip' : f.endsWith('.sig') ? 'application/octet-stream' : 'text/plain');

async function put(bucket, files) {
  const conc = Math.max(1, Number(process.env.BENCH_UPLOAD_CONCURRENCY || 1));
  const queue = [...files];
  const worker = async () => {
    for (let f = queue.shift(); f; f = queue.shift()) {
      await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: `v1.0.0/${basename(f)}`,
          Body: createReadStream(f),
          ContentLength: statSync(f).size,
          ContentType: contentType(f),
        }),
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(conc, files.length) }, worker));
}

async function keys(bucket) {
  const out = [];
  let ContinuationToken;
  do {
    const r = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken }));
    for (const o of r.Contents ?? []) out.push(o.Key);
    ContinuationToken = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (ContinuationToken);
  return out;
}

async function rmbucket(bucket) {
  let ks;
  try {
    ks = await keys(bucket);
  } catch (e) {
    if (e?.name === 'NoSuchBucket') return;
    throw e;
  }
  for (let i = 0; i < ks.length; i += 1000) {
    await client.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: ks.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }),
    );
  }
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
}

const [cmd, bucket, ...rest] = process.argv.slice(2);
try {
  if (cmd === 'put' && bucket && rest.length) await put(bucket, rest);
  else if (cmd === 'mkbucket' && bucket) await client.send(new CreateBucketCommand({ Bucket: bucket }));
  else if (cmd === 'count' && bucket) console.log((await keys(bucket)).length);
  else if (cmd === 'rmbucket' && bucket) for (const b of [bucket, ...rest]) await rmbucket(b);
  else {
    console.error('usage: node bench/s3.mjs put <bucket> <file>... | mkbucket <bucket> | count <bucket> | rmbucket <bucket>...');
    process.exit(2);
  }
} catch (e) {
  console.error(`s3.mjs ${cmd} ${bucket}: ${e?.name ?? ''} ${e?.message ?? e}`);
  process.exit(1);
}
