// Writes a deterministic, Go-binary-like file: `node gen-binary.mjs <out> <bytes> <seed>`.
//
// Real provider executables are partly incompressible (machine code, packed
// tables) and partly text (symbol names, type and package paths, strings), so
// deflate shrinks them to roughly half. This mimics that with 64 KiB blocks
// that are either pseudo-random bytes or symbol-like text drawn from a
// vocabulary; both come from a PRNG seeded by <seed>, so the same arguments
// always give the same bytes (and hence the same tarballs and zips).
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

const [out, sizeArg, seed = 'relay-bench'] = process.argv.slice(2);
if (!out || !sizeArg) {
  console.error('usage: node gen-binary.mjs <out> <bytes> [seed]');
  process.exit(2);
}
const total = Number(sizeArg);
const BLOCK = 64 * 1024;
// Fraction of blocks that are random: tuned so `zip -6` gives ~50% of the size.
const RANDOM_FRACTION = 0.26;

// Seeded stream of pseudo-random bytes: AES-256-CTR over zeros, key from the seed.
const key = createHash('sha256').update(`key:${seed}`).digest();
const iv = createHash('sha256').update(`iv:${seed}`).digest().subarray(0, 16);
const ctr = createCipheriv('aes-256-ctr', key, iv);
const zeros = Buffer.alloc(BLOCK);
const rand = () => ctr.update(zeros);

const words = [
  'github.com',
  'hashicorp',
  'terraform',
  'plugin',
  'sdk',
  'framework',
  'provider',
  'resource',
  'schema',
  'types',
  'internal',
  'helper',
  'validation',
  'diag',
  'tfprotov5',
  'tfprotov6',
  'grpc',
  'google.golang.org',
  'protobuf',
  'reflect',
  'runtime',
  'sync',
  'net/http',
  'crypto/tls',
  'encoding/json',
  'context',
  'Context',
  'Value',
  'String',
  'Read',
  'Create',
  'Update',
  'Delete',
  'Import',
  'Plan',
  'Apply',
  'Validate',
  'Configure',
  'Marshal',
  'Unmarshal',
  'Attribute',
  'Block',
  'Object',
  'List',
  'Map',
  'Set',
  'Int64',
  'Bool',
  'Float64',
  'Diagnostics',
  'Error',
  'Warning',
  'teleport',
  'gravitational',
  'api',
  'client',
  'proto',
  'Role',
  'User',
  'Token',
  'Cluster',
  'Session',
  'Node',
  'App',
  'func1',
  'func2',
  'gowrap1',
  'init',
  'deferwrap1',
  'String',
  'Len',
  'Less',
  'Swap',
  'Reset',
  'ProtoMessage',
  'Descriptor',
  'XXX_Unmarshal',
  'XXX_Marshal',
  'XXX_Size',
  'GetName',
  'GetSpec',
  'GetMetadata',
  'SetExpiry',
];
const seps = ['.', '/', '.(*', ').', '_', '.', '.', '/'];

// Symbol-like text from the same byte stream (so it is seeded too).
function text() {
  const r = rand();
  let s = '';
  let i = 0;
  while (s.length < BLOCK) {
    const a = r[i++ % r.length],
      b = r[i++ % r.length],
      c = r[i++ % r.length];
    s += words[a % words.length] + seps[b % seps.length];
    if (c < 24) s += (r.readUInt16LE(i++ % (r.length - 2)) & 0xfff).toString(16);
    if (c > 240) s += '\x00';
  }
  return Buffer.from(s.slice(0, BLOCK), 'latin1');
}

const ws = createWriteStream(out, { mode: 0o755 });
let left = total;
while (left > 0) {
  // one byte of the stream decides the block's kind
  const kind = rand()[0] / 256;
  let block = kind < RANDOM_FRACTION ? rand() : text();
  if (block.length > left) block = block.subarray(0, left);
  left -= block.length;
  if (!ws.write(block)) await once(ws, 'drain');
}
ws.end();
await once(ws, 'finish');
