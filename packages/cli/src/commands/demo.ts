import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack } from 'tar-stream';
import {
  badInput,
  EXIT,
  exitCodeFor,
  parseInputs,
  contentTypeFor,
  errorMessage,
  generateThrowawayKey,
  HttpClient,
  httpReader,
  publishTerraformRegistry,
  renderText,
  TerminalLogger,
  verifyRegistry,
} from '@relay/core';
import { COMMON_FLAGS, helpText, parseArgs, UsageError } from '../args.js';
import type { CliIo } from '../run.js';
import { demoSpec } from './demo-spec.js';

const NAMESPACE = 'relay';
const NAME = 'demo';
const VERSION = '1.0.0';
const PLATFORMS = [
  ['linux', 'amd64'],
  ['darwin', 'arm64'],
  ['windows', 'amd64'],
] as const;

/** Marks a directory as the demo's own: only such a directory is ever cleared. */
const MARKER = '.relay-demo';
/** What the demo writes into its directory, and all it ever removes there. */
const OWNED = ['registry', 'dist', 'terraform.rc', MARKER];

/**
 * The main job on an embedded default: sample provider tarballs for three
 * platforms, a throwaway RSA key, a publish into a file-backed registry
 * (the same operation the action runs), that registry served on loopback,
 * and a verification over HTTP exactly as terraform init would walk it.
 */
export async function demo(io: CliIo): Promise<number> {
  if (io.argv.includes('--help') || io.argv.includes('-h')) {
    io.stdout.write(helpText(demoSpec, 'relay') + '\n');
    return 0;
  }
  const argv = io.argv.filter((a) => !COMMON_FLAGS.includes(a));
  const log = new TerminalLogger(io.stderr, io.argv.includes('--debug'), io.argv.includes('--quiet') || io.argv.includes('-q'));
  let inputs;
  try {
    inputs = parseInputs(demoSpec, parseArgs(demoSpec, argv, io.env).raw, log);
  } catch (err) {
    log.error(errorMessage(err));
    return err instanceof UsageError ? EXIT.usage : EXIT.refused;
  }
  const dir = path.resolve(io.cwd, inputs.dir);
  const serve = inputs.serve;
  const storeDir = path.join(dir, 'registry');
  const server = http.createServer((req, res) => void serveFile(storeDir, req, res));
  try {
    await claimDir(dir, inputs.dir);
    await fs.mkdir(path.join(dir, 'dist'), { recursive: true });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const registryUrl = `http://localhost:${port}/`;

    const tarballs = await log.group('Building sample provider tarballs', async () => {
      const out: string[] = [];
      for (const [os, arch] of PLATFORMS) out.push(await sampleTarball(path.join(dir, 'dist'), os, arch));
      out.forEach((t) => log.info(path.relative(io.cwd, t)));
      return out;
    });
    const key = await log.group('Generating a throwaway RSA signing key', () => generateThrowawayKey('Relay demo (throwaway)', 2048));

    const env = { ...io.env, RELAY_SIGNING_KEY: key };
    const res = await publishTerraformRegistry.run(
      {
        namespace: NAMESPACE,
        name: NAME,
        version: VERSION,
        tarballs,
        source: undefined,
        store: `file://${storeDir}`,
        'registry-url': registryUrl,
        'signing-key': key,
        'signing-key-passphrase': undefined,
        protocols: [],
        'detect-protocols': 'handshake',
        immutable: true,
        'dry-run': false,
        's3-endpoint': undefined,
        'max-binary-size': 1024,
      },
      { log, env, cwd: io.cwd },
    );
    io.stdout.write(renderText(res.report));
    const client = new HttpClient({ log });
    await log
      .group(`Verifying over HTTP at ${registryUrl}, as terraform init would`, () =>
        verifyRegistry(
          httpReader(client),
          { root: new URL(registryUrl), namespace: NAMESPACE, name: NAME, versions: [], mirrorHost: `localhost:${port}` },
          log,
        ),
      )
      .finally(() => client.close());
    const cfg = path.join(dir, 'terraform.rc');
    await fs.writeFile(cfg, `host "localhost:${port}" {\n  services = {\n    "providers.v1" = "${registryUrl}registry/"\n  }\n}\n`);
    io.stdout.write(
      [
        '',
        `Registry tree: ${path.relative(io.cwd, storeDir)}/ (served at ${registryUrl})`,
        `To install it with terraform or tofu while it is served (${serve ? 'now' : 'run the demo with --serve'}):`,
        `  export TF_CLI_CONFIG_FILE=${cfg}`,
        '  and in main.tf:',
        '    terraform {',
        '      required_providers {',
        `        ${NAME} = {`,
        `          source  = "localhost:${port}/${NAMESPACE}/${NAME}"`,
        `          version = "${VERSION}"`,
        '        }',
        '      }',
        '    }',
        `The CLI config holds a host block, which bypasses HTTPS-only discovery:`,
        ...(await fs.readFile(cfg, 'utf8'))
          .trimEnd()
          .split('\n')
          .map((l) => '  ' + l),
        '',
      ].join('\n'),
    );
    if (serve) {
      log.info(`serving ${registryUrl} until interrupted (Ctrl-C)`);
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    }
    return 0;
  } catch (err) {
    log.error(errorMessage(err));
    return exitCodeFor(err) === EXIT.bug ? EXIT.bug : exitCodeFor(err);
  } finally {
    server.close();
  }
}

/** Creates dir, or clears what an earlier demo wrote there; refuses a directory holding anything else. */
async function claimDir(dir: string, given: string): Promise<void> {
  const entries = await fs.readdir(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    if (e.code === 'ENOTDIR') badInput('dir', 'a directory for the demo', given);
    throw e;
  });
  if (entries && entries.length > 0) {
    const foreign = entries.filter((e) => !OWNED.includes(e));
    if (!entries.includes(MARKER) || foreign.length > 0) {
      badInput(
        'dir',
        `a new or empty directory, or one an earlier demo made (it holds ${foreign.slice(0, 3).join(', ') || 'files'}; nothing was removed)`,
        given,
      );
    }
    for (const e of OWNED) await fs.rm(path.join(dir, e), { recursive: true, force: true });
  }
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, MARKER), 'made by relay demo: the demo may clear this directory\n');
}

/** A tiny static server with the Content-Type S3 would serve; loopback only. */
async function serveFile(root: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const key = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '');
  const file = path.resolve(root, key);
  const st = file.startsWith(root + path.sep) ? await fs.stat(file).catch(() => undefined) : undefined;
  if (!st?.isFile() || req.method !== 'GET') {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    return;
  }
  res.writeHead(200, { 'content-type': contentTypeFor(key), 'content-length': st.size });
  await pipeline((await import('node:fs')).createReadStream(file), res).catch(() => res.destroy());
}

/** A Teleport-style release tarball holding a stand-in executable and the registry manifest. */
async function sampleTarball(dir: string, os: string, arch: string): Promise<string> {
  const file = path.join(dir, `terraform-provider-${NAME}-v${VERSION}-${os}-${arch}-bin.tar.gz`);
  const p = pack();
  const exe = `terraform-provider-${NAME}${os === 'windows' ? '.exe' : ''}`;
  p.entry({ name: exe, mode: 0o755, mtime: new Date(0) }, `#!/bin/sh\necho "relay demo provider ${VERSION} for ${os}/${arch}"\n`);
  p.entry(
    { name: 'terraform-registry-manifest.json', mode: 0o644, mtime: new Date(0) },
    '{"version":1,"metadata":{"protocol_versions":["6.0"]}}\n',
  );
  p.entry({ name: 'LICENSE', mode: 0o644, mtime: new Date(0) }, 'Apache-2.0 (sample)\n');
  p.finalize();
  await pipeline(p, createGzip(), createWriteStream(file));
  return file;
}
