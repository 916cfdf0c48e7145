/**
 * How a provider executable is started for its handshake: without network
 * where this machine lets us make a network namespace, and never through a
 * shell.
 *
 * Node's child_process (libuv) and util-linux's unshare both exec with
 * execvp semantics: when the kernel refuses a file (ENOEXEC), glibc runs
 * `/bin/sh <file>` instead, so a broken "executable" would be read as a shell
 * script. The file is therefore made execute-only (mode 0100) and run by a
 * user without capabilities: the kernel loads an ELF it may only execute, but
 * a shell may not read it, so the fallback ends in "Permission denied" and
 * nothing of the file is interpreted.
 *
 * - `namespace`: `unshare --user --net` (util-linux) with our user mapped to a
 *   non-root user of the new user namespace (so no capability survives the
 *   exec): no network interface but a loopback that is down.
 * - `shared-network`: no namespace could be made (no unshare, or user
 *   namespaces refused, as on Ubuntu 24.04's AppArmor default); the file runs
 *   as our own non-root user, execute-only. Isolation is weaker (the network
 *   is reachable) and the log says so.
 * - `shared-network-as-nobody`: the same when we are root, which reads any
 *   file: the provider runs as `nobody` (65534), from a copy it owns.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

export const NOBODY = 65534;

export type IsolationKind = 'namespace' | 'shared-network' | 'shared-network-as-nobody';

export interface Isolation {
  kind: IsolationKind;
  /** Why the provider runs with the network reachable; undefined in a namespace. */
  weaker?: string;
  /** util-linux's unshare, for `namespace`. */
  unshare?: string;
}

/** How to spawn one run: the command and its arguments (no shell), and the user to run as. */
export interface Launch {
  command: string;
  args: string[];
  uid?: number;
  gid?: number;
}

const isRoot = (): boolean => process.getuid?.() === 0;

/** unshare's flags for a user and network namespace in which we are not root (capabilities end at the exec). */
function unshareFlags(): string[] {
  return ['--user', ...(isRoot() ? [`--map-user=${NOBODY}`, `--map-group=${NOBODY}`] : ['--map-current-user']), '--net'];
}

/** Where util-linux installs unshare; never looked up on PATH (a PATH entry could be anything). */
const UNSHARE_PATHS = ['/usr/bin/unshare', '/bin/unshare'];

async function findUnshare(): Promise<string | undefined> {
  for (const p of UNSHARE_PATHS) {
    try {
      await fs.access(p, fs.constants.X_OK);
      return p;
    } catch {}
  }
  return undefined;
}

/** Runs a command to its end within `timeoutMs`; resolves to undefined on success, else why not. */
function tryRun(command: string, args: string[], timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], env: {}, timeout: timeoutMs, killSignal: 'SIGKILL' });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err = (err + c.toString('utf8')).slice(-500)));
    child.once('error', (e) => resolve(e.message));
    child.once('close', (code, sig) => {
      if (code === 0) resolve(undefined);
      else resolve(err.trim().split('\n').at(-1) || (sig ? `killed by ${sig}` : `exit code ${code}`));
    });
  });
}

let probed: Promise<Isolation> | undefined;

/**
 * What this machine allows, probed once per process: unshare making a user
 * and network namespace and exec'ing a program in it.
 */
export function probeIsolation(timeoutMs: number): Promise<Isolation> {
  probed ??= (async (): Promise<Isolation> => {
    const fallback = isRoot() ? 'shared-network-as-nobody' : 'shared-network';
    if (process.platform !== 'linux') return { kind: fallback, weaker: `network namespaces are Linux's (this is ${process.platform})` };
    const unshare = await findUnshare();
    if (!unshare) return { kind: fallback, weaker: `util-linux's unshare is not installed (looked for ${UNSHARE_PATHS.join(', ')})` };
    const why = await tryRun(unshare, [...unshareFlags(), '--', process.execPath, '--version'], timeoutMs);
    if (why) return { kind: fallback, weaker: `this machine refuses a user and network namespace (unshare: ${why})` };
    return { kind: 'namespace', unshare };
  })();
  return probed;
}

/** Forgets the probe (tests that force a kind). */
export function resetIsolationProbe(): void {
  probed = undefined;
}

/** Where a run happens: how to start the provider, the directory it runs in, and how to clean up after it. */
export interface Staged {
  launch: Launch;
  /** The throwaway directory the handshake's own directories go in. */
  dir: string;
  dispose(): Promise<void>;
}

/**
 * Makes `binary` execute-only (until dispose()) and says how to start it with
 * `dir` as its throwaway directory. For `shared-network-as-nobody` the executable is
 * copied into a directory of nobody's own (our directories are root's, 0700),
 * which dispose() removes.
 */
export async function stage(iso: Isolation, binary: string, dir: string): Promise<Staged> {
  if (iso.kind !== 'shared-network-as-nobody') {
    const { mode } = await fs.stat(binary);
    await fs.chmod(binary, 0o100);
    const launch =
      iso.kind === 'namespace' ? { command: iso.unshare!, args: [...unshareFlags(), '--', binary] } : { command: binary, args: [] };
    // Readable again once it has run: the caller may still read it (a scan, a test's next use).
    return { launch, dir, dispose: () => fs.chmod(binary, mode & 0o7777).catch(() => undefined) };
  }
  const own = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-handshake-'));
  try {
    const file = path.join(own, 'bin', path.basename(binary));
    await fs.mkdir(path.dirname(file));
    await fs.copyFile(binary, file);
    await fs.chmod(file, 0o100);
    await chownTree(own, NOBODY, NOBODY);
    return {
      launch: { command: file, args: [], uid: NOBODY, gid: NOBODY },
      dir: path.join(own, 'run'),
      dispose: () => fs.rm(own, { recursive: true, force: true }),
    };
  } catch (err) {
    await fs.rm(own, { recursive: true, force: true });
    throw err;
  }
}

async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await fs.chown(dir, uid, gid);
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await chownTree(p, uid, gid);
    else await fs.chown(p, uid, gid);
  }
}
