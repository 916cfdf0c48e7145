// Builds stand-in provider executables with Debian's Go, offline: the module
// tree in ./standins reaches fake hashicorp modules through replace
// directives, so the binaries carry real-looking build information
// (terraform-plugin-framework, terraform-plugin-sdk/v2, terraform-plugin-mux)
// and answer go-plugin's handshake like a provider does.
import { describe, test } from '@jest/globals';
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SOURCE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'standins');

const goVersion = spawnSync('go', ['version'], { encoding: 'utf8' });
/** Why the Go tests cannot run, or undefined when Go is there. */
export const goMissing: string | undefined =
  goVersion.status === 0
    ? undefined
    : 'Go is not installed: the protocol detection tests build stand-in providers with it (apt-get install -y golang-go; scripts/test.sh does)';

/**
 * Without Go, under CI=true: a failing test that says so; elsewhere a skip
 * that says so. Returns the describe to use for the tests that need Go.
 */
export function describeWithGo(): typeof describe {
  if (!goMissing) return describe;
  if (process.env.CI === 'true') {
    test('Go toolchain is installed', () => {
      throw new Error(goMissing);
    });
  } else {
    console.warn(`SKIPPED: ${goMissing}`);
  }
  return describe.skip as typeof describe;
}

export interface Standin {
  /** cmd/<name> in the stand-in tree: plain (handshake only), framework, sdk, mux. */
  cmd: 'plain' | 'framework' | 'sdk' | 'mux';
  goos?: string;
  goarch?: string;
  /** A file the executable appends to whenever it runs. */
  marker?: string;
  /** "", hang, fork, exit, garbage (see fakes/go-plugin/plugin.go). */
  mode?: string;
  /** The plain stand-in also serves protocol 6. */
  alsoSix?: boolean;
  /** host:port the stand-in connects to before its handshake line (marker: `dialed` or `nodial`). */
  dial?: string;
}

let tree: Promise<string> | undefined;
const cache = path.join(os.tmpdir(), 'relay-go-cache');

/** Go's name for this machine. */
export async function goHost(): Promise<{ os: string; arch: string }> {
  const { stdout } = await run('go', ['env', 'GOHOSTOS', 'GOHOSTARCH']);
  const [o, a] = stdout.trim().split('\n');
  return { os: o!, arch: a! };
}

/** Builds one stand-in into outDir and returns its path. Stripped (-s -w) as release builds are. */
export async function buildStandin(s: Standin, outDir: string): Promise<string> {
  tree ??= (async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-standins-'));
    await fs.cp(SOURCE, dir, { recursive: true });
    return dir;
  })();
  const src = await tree;
  const host = await goHost();
  const goos = s.goos ?? host.os;
  const goarch = s.goarch ?? host.arch;
  const out = path.join(
    outDir,
    `${s.cmd}-${goos}-${goarch}-${s.mode || 'serve'}${s.alsoSix ? '-56' : ''}-${Date.now()}${goos === 'windows' ? '.exe' : ''}`,
  );
  const ldflags = ['-s', '-w'];
  if (s.marker) ldflags.push(`-X github.com/hashicorp/go-plugin.Marker=${s.marker}`);
  if (s.mode) ldflags.push(`-X github.com/hashicorp/go-plugin.Mode=${s.mode}`);
  if (s.alsoSix) ldflags.push('-X main.alsoSix=yes');
  if (s.dial) ldflags.push(`-X github.com/hashicorp/go-plugin.Dial=${s.dial}`);
  await run('go', ['build', '-trimpath', '-ldflags', ldflags.join(' '), '-o', out, `./cmd/${s.cmd}`], {
    cwd: src,
    env: {
      ...process.env,
      GOOS: goos,
      GOARCH: goarch,
      CGO_ENABLED: '0',
      GOFLAGS: '-mod=mod',
      GOPROXY: 'off',
      GOTOOLCHAIN: 'local',
      GOCACHE: cache,
      GOPATH: path.join(cache, 'gopath'),
    },
  });
  return out;
}

/** `go version -m`'s module lines for a binary: the reference our reader must match. */
export async function goVersionM(file: string): Promise<string> {
  const { stdout } = await run('go', ['version', '-m', file]);
  return stdout;
}

/** Whether a process still runs (a zombie waiting for a reaper does not: it was killed). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The marker lines a stand-in wrote (one per start), parsed. */
export async function markerRuns(marker: string): Promise<{ what: string; pid: number; cwd: string; env: string[] }[]> {
  const text = await fs.readFile(marker, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const m = /^(\w+) pid=(\d+) cwd=(.*) env=(.*)$/.exec(l)!;
      return { what: m[1]!, pid: Number(m[2]), cwd: m[3]!, env: m[4] ? m[4].split(';') : [] };
    });
}
