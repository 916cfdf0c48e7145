// GnuPG as the outside judge of Relay's signatures: Terraform checks
// SHA256SUMS.sig with the real OpenPGP semantics, so tests verify with gpg, not
// with the library that signed. Every home is a throwaway dir (never ~/.gnupg),
// and its gpg-agent is killed on cleanup so no daemons outlive the test run.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    // gpg may exit without reading stdin (nothing to ask): that EPIPE is not a failure.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

export interface GeneratedKey {
  fingerprint: string;
  /** The 16-hex-digit long key ID (the fingerprint's tail), as Terraform's registry shows it. */
  keyId: string;
  passphrase: string;
}

export class GpgHome {
  readonly home: string;

  private constructor(home: string) {
    this.home = home;
  }

  static async create(): Promise<GpgHome> {
    return new GpgHome(await mkdtemp(join(tmpdir(), 'relay-gnupg-')));
  }

  /** gpg in this home; throws with gpg's own output on a non-zero exit. */
  async gpg(args: string[], input?: string): Promise<string> {
    const r = await run('gpg', ['--homedir', this.home, '--batch', '--no-tty', ...args], input);
    if (r.code !== 0) throw new Error(`gpg ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** RSA 3072 signing key (fast enough to make per test). Empty passphrase = unprotected. */
  async generateKey(opts: { uid?: string; passphrase?: string } = {}): Promise<GeneratedKey> {
    const passphrase = opts.passphrase ?? '';
    const uid = opts.uid ?? `Relay Test <relay-test-${Date.now()}@example.invalid>`;
    // loopback + passphrase on stdin: no pinentry, no prompt, works headless.
    await this.gpg(['--pinentry-mode', 'loopback', '--passphrase-fd', '0', '--quick-gen-key', uid, 'rsa3072', 'sign', 'never'], passphrase);
    const listing = await this.gpg(['--with-colons', '--list-secret-keys', uid]);
    const fingerprint = /^fpr:(?:[^:]*:){8}([0-9A-F]{40}):/m.exec(listing)?.[1];
    if (!fingerprint) throw new Error(`no fingerprint for ${uid} in:\n${listing}`);
    return { fingerprint, keyId: fingerprint.slice(-16), passphrase };
  }

  /** ASCII-armored secret key, still protected by its passphrase (what users paste into a secret). */
  exportSecretKey(fingerprint: string, passphrase = ''): Promise<string> {
    return this.gpg(['--pinentry-mode', 'loopback', '--passphrase-fd', '0', '--armor', '--export-secret-keys', fingerprint], passphrase);
  }

  exportPublicKey(fingerprint: string): Promise<string> {
    return this.gpg(['--armor', '--export', fingerprint]);
  }

  async importKey(armor: string): Promise<void> {
    await this.gpg(['--import'], armor);
  }

  async cleanup(): Promise<void> {
    await run('gpgconf', ['--homedir', this.home, '--kill', 'all']).catch(() => undefined);
    await rm(this.home, { recursive: true, force: true });
  }
}

/**
 * Verifies a detached signature in a fresh home holding only `publicArmor`, so
 * a pass means "made by that key", not "by any key this machine knows".
 * `ok` needs both gpg's exit 0 and a VALIDSIG status line.
 */
export async function verifyDetached(sigPath: string, dataPath: string, publicArmor: string): Promise<{ ok: boolean; output: string }> {
  const home = await GpgHome.create();
  try {
    await home.importKey(publicArmor);
    const r = await run('gpg', ['--homedir', home.home, '--batch', '--no-tty', '--status-fd', '1', '--verify', sigPath, dataPath]);
    const output = `${r.stdout}${r.stderr}`;
    return { ok: r.code === 0 && /^\[GNUPG:\] VALIDSIG /m.test(r.stdout), output };
  } finally {
    await home.cleanup();
  }
}
