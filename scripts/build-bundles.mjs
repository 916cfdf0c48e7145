// Builds every committed bundle with ncc: the CLI and each action.
//   node scripts/build-bundles.mjs          rebuild dist/ in place
//   node scripts/build-bundles.mjs --check  build to a temp dir and fail if any committed dist/ differs
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const targets = ['packages/cli', ...readdirSync(join(root, 'actions')).map((a) => `actions/${a}`)].filter((t) =>
  existsSync(join(root, t, 'src/index.ts')),
);
const check = process.argv.includes('--check');
const ncc = join(root, 'node_modules/.bin/ncc');

const files = (dir) =>
  existsSync(dir)
    ? readdirSync(dir, { recursive: true })
        .filter((f) => statSync(join(dir, f)).isFile())
        .sort()
    : [];

let stale = 0;
for (const t of targets) {
  const out = check ? mkdtempSync(join(tmpdir(), 'relay-bundle-')) : join(root, t, 'dist');
  rmSync(out, { recursive: true, force: true });
  execFileSync(ncc, ['build', 'src/index.ts', '-o', out, '--license', 'licenses.txt', '-q', '--target', 'es2022'], {
    cwd: join(root, t),
    stdio: 'inherit',
  });
  if (!check) {
    console.log(`built ${t}/dist (${files(out).length} files)`);
    continue;
  }
  const committed = join(root, t, 'dist');
  const a = files(out);
  const b = files(committed);
  const differ =
    a.length !== b.length || a.some((f, i) => f !== b[i] || !readFileSync(join(out, f)).equals(readFileSync(join(committed, f))));
  if (differ) {
    stale++;
    console.error(`${relative(root, committed)} differs from a fresh build of ${t}/src: run 'pnpm build' and commit dist/`);
  } else console.log(`${t}/dist matches a fresh build`);
  rmSync(out, { recursive: true, force: true });
}
process.exit(stale ? 1 : 0);
