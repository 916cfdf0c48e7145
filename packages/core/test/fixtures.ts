// Builders for release archives and keys used by the unit tests. Malformed
// archives are made on purpose, the way a broken build or an attacker would.
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import * as openpgp from 'openpgp';
import { pack, type Header } from 'tar-stream';

export interface Entry extends Partial<Header> {
  name: string;
  body?: string | Buffer;
}

export async function tarball(dir: string, file: string, entries: Entry[]): Promise<string> {
  const p = pack();
  for (const e of entries) {
    const { body, ...h } = e;
    const header = { mode: 0o755, mtime: new Date(0), type: 'file' as const, ...h };
    p.entry(header, header.type === 'file' ? (body ?? '') : '');
  }
  p.finalize();
  const out = path.join(dir, file);
  await pipeline(p, createGzip(), createWriteStream(out));
  return out;
}

/** A well-formed Teleport-style tarball for one platform. */
export function providerTarball(
  dir: string,
  name: string,
  version: string,
  os_: string,
  arch: string,
  content: string | Buffer = `binary ${os_}/${arch}\n`,
  extra: Entry[] = [],
): Promise<string> {
  return tarball(dir, `terraform-provider-${name}-v${version}-${os_}-${arch}-bin.tar.gz`, [
    { name: `terraform-provider-${name}${os_ === 'windows' ? '.exe' : ''}`, body: content },
    ...extra,
  ]);
}

export async function tmpDir(prefix = 'relay-test-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function rsaKey(opts: { passphrase?: string; date?: Date; keyExpirationTime?: number } = {}): Promise<string> {
  const k = await openpgp.generateKey({ type: 'rsa', rsaBits: 2048, userIDs: [{ name: 'Relay test' }], format: 'armored', ...opts });
  return k.privateKey;
}

/** Every file under dir with its bytes: proves a refused publish changed nothing. */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out[path.relative(dir, p)] = (await fs.readFile(p)).toString('base64');
    }
  };
  await walk(dir);
  return out;
}
