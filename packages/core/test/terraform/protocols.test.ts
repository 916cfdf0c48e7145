import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { createReadStream, existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { CancelledError, InputError } from '../../src/errors.js';
import { NullLogger } from '../../src/log/logger.js';
import {
  BUILDINFO_MAGIC,
  BuildInfoScanner,
  decodeBuildInfoAt,
  formatBuildInfo,
  parseModInfo,
  readBuildInfoFile,
  scanStream,
} from '../../src/terraform/protocols/buildinfo.js';
import {
  capabilitiesOf,
  decideProtocols,
  hostPlatform,
  inspectBinary,
  pluginLibraries,
  type DetectMode,
  type Platform,
  type ProviderBinary,
} from '../../src/terraform/protocols/detect.js';
import { identifyExecutable } from '../../src/terraform/protocols/exe.js';
import { handshakeOnce, parseHandshakeLine, runHandshake, TF_MAGIC_COOKIE_VALUE } from '../../src/terraform/protocols/handshake.js';
import { captured, secret } from '../../../../test/support/leaks.js';
import { tmpDir } from '../fixtures.js';
import { alive, buildStandin, describeWithGo, goHost, goVersionM, markerRuns } from './go-standins.js';

// Waits on processes and the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(60_000);

const SDK = 'github.com/hashicorp/terraform-plugin-sdk/v2';
const FW = 'github.com/hashicorp/terraform-plugin-framework';
const MUX = 'github.com/hashicorp/terraform-plugin-mux';
const GO = 'github.com/hashicorp/terraform-plugin-go';

/** The module list as the linker writes it: 16 sentinel bytes, the text, 16 more. */
function framed(text: string): Buffer {
  const sentinel = Buffer.from('3077af0c9274080241e1c107e6d618e6', 'hex');
  return Buffer.concat([sentinel, Buffer.from(text), Buffer.from('f932433186182072008242104116d8f2', 'hex')]);
}
const MODINFO = [
  'path\texample.com/terraform-provider-demo',
  'mod\texample.com/terraform-provider-demo\t(devel)\t',
  `dep\t${SDK}\tv2.10.1\th1:abc=`,
  '=>\tgithub.com/acme/terraform-plugin-sdk/v2\tv2.10.1-acme.1\th1:def=',
  `dep\t${GO}\tv0.5.0\th1:ghi=`,
  'build\t-compiler=gc',
  'build\t-ldflags="-s -w"',
  'build\t"we=ird key"=x',
  'build\tGOOS=linux',
  'build\tGOARCH=amd64',
  '',
].join('\n');

function uvarint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

/** A Go >= 1.18 header with inline strings. */
function inlineHeader(goVersion: string, modinfo: string): Buffer {
  const h = Buffer.alloc(32);
  BUILDINFO_MAGIC.copy(h);
  h[14] = 8;
  h[15] = 2;
  const mod = framed(modinfo);
  return Buffer.concat([h, uvarint(goVersion.length), Buffer.from(goVersion), uvarint(mod.length), mod]);
}

/** Deterministic noise, so a test file is the same every run. */
function noise(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/**
 * A minimal ELF whose build information is in the pre-1.18 pointer form:
 * the header holds addresses of two Go string headers, which hold addresses
 * of the bytes. One PT_LOAD maps the whole file at 0x400000.
 */
function pointerElf(opts: { ptr: 4 | 8; bigEndian: boolean; goVersion: string; modinfo: string }): Buffer {
  const { ptr, bigEndian: be } = opts;
  const b = Buffer.alloc(0x3000);
  const base = 0x400000;
  const u16 = (o: number, v: number): number => (be ? b.writeUInt16BE(v, o) : b.writeUInt16LE(v, o));
  const u32 = (o: number, v: number): number => (be ? b.writeUInt32BE(v, o) : b.writeUInt32LE(v, o));
  const u64 = (o: number, v: number): number => (be ? b.writeBigUInt64BE(BigInt(v), o) : b.writeBigUInt64LE(BigInt(v), o));
  const word = (o: number, v: number): number => (ptr === 8 ? u64(o, v) : u32(o, v));
  b.write('\x7fELF', 0, 'latin1');
  b[4] = ptr === 8 ? 2 : 1;
  b[5] = be ? 2 : 1;
  b[6] = 1;
  u16(16, 2);
  u16(18, ptr === 8 ? 0x3e : 0x08); // amd64, or mips for the 32-bit big-endian one
  if (ptr === 8) {
    u64(32, 64);
    u16(54, 56);
    u16(56, 1);
    u64(64 + 8, 0);
    u32(64, 1);
    u32(64 + 4, 6);
    u64(64 + 16, base);
    u64(64 + 32, b.length);
    u64(64 + 40, b.length);
  } else {
    u32(28, 52);
    u16(42, 32);
    u16(44, 1);
    u32(52, 1);
    u32(52 + 4, 0);
    u32(52 + 8, base);
    u32(52 + 16, b.length);
    u32(52 + 20, b.length);
    u32(52 + 24, 6);
  }
  BUILDINFO_MAGIC.copy(b, 0x1000);
  b[0x1000 + 14] = ptr;
  b[0x1000 + 15] = be ? 1 : 0;
  word(0x1010, base + 0x1100);
  word(0x1010 + ptr, base + 0x1120);
  const mod = framed(opts.modinfo);
  word(0x1100, base + 0x1200);
  word(0x1100 + ptr, opts.goVersion.length);
  word(0x1120, base + 0x1300);
  word(0x1120 + ptr, mod.length);
  b.write(opts.goVersion, 0x1200, 'latin1');
  mod.copy(b, 0x1300);
  return b;
}

async function* chunks(b: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

/** The executable as unpacking leaves it: on disk, not executable (detection copies the host's to run it). */
async function unpacked(dir: string, exe: string | Buffer, p: Platform, source?: string): Promise<ProviderBinary> {
  const exePath = path.join(
    dir,
    `${p.os}_${p.arch}_${Math.random().toString(36).slice(2)}`,
    `terraform-provider-demo_v1.0.0${p.os === 'windows' ? '.exe' : ''}`,
  );
  await fs.mkdir(path.dirname(exePath), { recursive: true });
  await fs.writeFile(exePath, typeof exe === 'string' ? await fs.readFile(exe) : exe, { mode: 0o600 });
  return { ...p, exePath, source: source ?? `terraform-provider-demo-v1.0.0-${p.os}-${p.arch}-bin.tar.gz` };
}

describe('Go build information', () => {
  test('module list: deps by their required path, replacements kept apart, quoted settings', () => {
    const info = parseModInfo('go1.21.0', MODINFO);
    expect(info.path).toBe('example.com/terraform-provider-demo');
    expect(info.deps.map((d) => [d.path, d.version])).toEqual([
      [SDK, 'v2.10.1'],
      [GO, 'v0.5.0'],
    ]);
    expect(info.deps[0]!.replace).toEqual({ path: 'github.com/acme/terraform-plugin-sdk/v2', version: 'v2.10.1-acme.1', sum: 'h1:def=' });
    expect(info.settings).toEqual({ '-compiler': 'gc', '-ldflags': '-s -w', 'we=ird key': 'x', GOOS: 'linux', GOARCH: 'amd64' });
    expect(pluginLibraries(info)).toEqual([
      { name: 'terraform-plugin-sdk/v2', version: 'v2.10.1', replacedBy: 'github.com/acme/terraform-plugin-sdk/v2 v2.10.1-acme.1' },
      { name: 'terraform-plugin-go', version: 'v0.5.0' },
    ]);
    expect(formatBuildInfo(info)).toContain(`\tdep\t${SDK}\tv2.10.1\th1:abc=\n\t=>\tgithub.com/acme/terraform-plugin-sdk/v2`);
  });

  test('a fork reached through replace counts as the module it replaces; the fork path alone does not', () => {
    const forkOnly = parseModInfo('go1.21.0', `dep\tgithub.com/acme/terraform-plugin-framework\tv1.0.0\t\n`);
    expect(pluginLibraries(forkOnly)).toEqual([]);
  });

  test.each([
    [[SDK], [5], [5]],
    [['github.com/hashicorp/terraform-plugin-sdk'], [5], [5]],
    [[FW], [6], [6]],
    [[SDK, FW, MUX], [5, 6], undefined],
    [[FW, MUX], [5, 6], undefined],
    [[SDK, FW], [5, 6], undefined],
    [[GO], [5, 6], undefined],
    [[SDK, GO], [5], [5]],
    [[FW, GO], [6], [6]],
  ])('capabilities of %j: possible %j, likely %j', (mods, possible, likely) => {
    const info = parseModInfo('go1.21.0', mods.map((m) => `dep\t${m}\tv1.0.0\t`).join('\n'));
    const caps = capabilitiesOf(pluginLibraries(info));
    expect(caps?.possible).toEqual(possible);
    expect(caps?.likely).toEqual(likely);
  });

  test('no plugin library: nothing to say', () => {
    expect(capabilitiesOf(pluginLibraries(parseModInfo('go1.21.0', 'dep\tgolang.org/x/sys\tv0.1.0\t\n')))).toBeUndefined();
  });

  test('the scanner finds an aligned header across any chunking, skipping unaligned and malformed magic', async () => {
    const file = noise(0x10000);
    inlineHeader('go1.21.0', MODINFO).copy(file, 0x1003); // unaligned: ignored, as debug/buildinfo ignores it
    BUILDINFO_MAGIC.copy(file, 0x2000); // aligned, but pointer size 0x..: not a header
    file[0x2000 + 14] = 3;
    inlineHeader('go1.22.1', MODINFO).copy(file, 0x8000);
    for (const size of [1, 13, 14, 15, 1000, 0x8005, file.length]) {
      const s = await scanStream(Readable.from(chunks(file, size)));
      expect(s.found).toEqual({ form: 'inline', goVersion: 'go1.22.1', modinfo: MODINFO });
      expect(s.head).toEqual(file.subarray(0, 4096));
    }
  });

  test('a truncated header at the end of the file is not build information', async () => {
    const file = Buffer.concat([noise(0x1000), inlineHeader('go1.21.0', MODINFO).subarray(0, 60)]);
    expect((await scanStream(Readable.from(chunks(file, 512)))).found).toBeUndefined();
    expect(decodeBuildInfoAt(inlineHeader('go1.21.0', MODINFO).subarray(0, 40), 0)).toBe('more');
  });

  test('a 100 MiB executable is scanned with a bounded buffer (never held whole)', async () => {
    const zero = Buffer.alloc(64 * 1024);
    const tail = Buffer.alloc(64 * 1024);
    inlineHeader('go1.21.0', MODINFO).copy(tail, 0x4000);
    const scanner = new BuildInfoScanner();
    let most = 0;
    async function* big(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 1600; i++) {
        yield zero;
        most = Math.max(most, scanner.bufferedBytes);
      }
      yield tail;
    }
    await scanStream(Readable.from(big()), scanner);
    expect(scanner.found).toMatchObject({ form: 'inline', goVersion: 'go1.21.0' });
    expect(most).toBeLessThan(64);
  });

  test.each([
    [8, false],
    [4, true],
  ] as const)('the pointer form of Go < 1.18 (ptr %i, big-endian %s), read by address from an ELF', async (ptr, bigEndian) => {
    const dir = await tmpDir();
    // Go < 1.18 wrote no build settings: only path, mod and dep lines
    const modinfo = MODINFO.split('\n')
      .filter((l) => !l.startsWith('build'))
      .join('\n');
    const elf = pointerElf({ ptr, bigEndian, goVersion: 'go1.16.15', modinfo });
    expect(identifyExecutable(elf)).toMatchObject({ format: 'elf', arch: ptr === 8 ? 'amd64' : 'mips', bigEndian, ptrSize: ptr });
    const s = await scanStream(Readable.from(chunks(elf, 100)));
    expect(s.found).toEqual({ form: 'pointer', offset: 0x1000 });
    const file = path.join(dir, 'old');
    await fs.writeFile(file, elf);
    const info = await readBuildInfoFile(file);
    expect(info?.goVersion).toBe('go1.16.15');
    expect(info?.deps.map((d) => d.path)).toEqual([SDK, GO]);
    // and through detection, from a zip, for a platform that never runs here
    const ev = await inspectBinary(await unpacked(dir, elf, { os: 'linux', arch: ptr === 8 ? 'amd64' : 'mips' }), {
      mode: 'handshake',
      log: new NullLogger(),
      host: null,
    });
    expect(ev.caps).toMatchObject({ possible: [5], likely: [5] });
  });

  test('a scan that stops at the build information closes the zip it read', async () => {
    const dir = await tmpDir();
    const exe = Buffer.concat([inlineHeader('go1.21.0', MODINFO), noise(1 << 20)]);
    const bin = await unpacked(dir, exe, { os: 'linux', arch: 'amd64' });
    const fds = async (): Promise<number> => (await fs.readdir('/proc/self/fd').catch(() => [])).length;
    const before = await fds();
    for (let i = 0; i < 5; i++) {
      const ev = await inspectBinary(bin, { mode: 'static', log: new NullLogger(), host: null });
      expect(ev.buildInfo?.goVersion).toBe('go1.21.0');
    }
    await new Promise((r) => setTimeout(r, 100));
    expect(await fds()).toBeLessThanOrEqual(before);
  });

  test('an executable whose header names another machine than its archive is refused, even without build settings', async () => {
    const dir = await tmpDir();
    const elf = pointerElf({ ptr: 8, bigEndian: false, goVersion: 'go1.16.15', modinfo: `dep\t${SDK}\tv2.10.1\t\n` });
    await expect(
      inspectBinary(await unpacked(dir, elf, { os: 'linux', arch: 'arm64' }), { mode: 'static', log: new NullLogger(), host: null }),
    ).rejects.toThrow(
      "tarball 'terraform-provider-demo-v1.0.0-linux-arm64-bin.tar.gz' is named for linux_arm64, but its provider executable is ELF for amd64",
    );
    const fat = Buffer.from('cafebabe00000002', 'hex');
    expect(identifyExecutable(fat)).toMatchObject({ format: 'macho', osFamily: 'darwin', universal: true });
    expect(identifyExecutable(fat)?.arch).toBeUndefined();
  });

  test('not an executable: no build information, no header', async () => {
    const dir = await tmpDir();
    const file = path.join(dir, 'script');
    await fs.writeFile(file, '#!/bin/sh\necho hi\n');
    expect(await readBuildInfoFile(file)).toBeUndefined();
    expect(identifyExecutable(Buffer.from('#!/bin/sh\n'))).toBeUndefined();
  });
});

describe('handshake line and host', () => {
  test('go-plugin lines, with and without the certificate field', () => {
    expect(parseHandshakeLine('1|6|unix|/tmp/plugin123|grpc|')).toEqual({
      core: 1,
      app: 6,
      network: 'unix',
      address: '/tmp/plugin123',
      protocol: 'grpc',
    });
    expect(parseHandshakeLine('1|5|tcp|127.0.0.1:10000|grpc\n')?.app).toBe(5);
    expect(parseHandshakeLine('1|5|tcp|127.0.0.1:10000|grpc|MIIBcert')?.app).toBe(5);
    expect(parseHandshakeLine('hello')).toBeUndefined();
    expect(parseHandshakeLine('1|5|udp|x|grpc')).toBeUndefined();
  });
  test('host platform in Go names', () => {
    expect(hostPlatform('linux', 'x64')).toEqual({ os: 'linux', arch: 'amd64' });
    expect(hostPlatform('darwin', 'arm64')).toEqual({ os: 'darwin', arch: 'arm64' });
    expect(hostPlatform('win32', 'ia32')).toEqual({ os: 'windows', arch: '386' });
    expect(hostPlatform('linux', 'ppc64', 'LE')).toEqual({ os: 'linux', arch: 'ppc64le' });
    expect(hostPlatform('haiku', 'x64')).toBeUndefined();
  });
});

const describeGo = describeWithGo();

describeGo('stand-in providers built with Debian Go (offline, modules through replace)', () => {
  let dir: string;
  let host: Platform;
  const bin: Record<string, string> = {};
  const marker: Record<string, string> = {};
  const SECRET = secret('do-not-leak-' + Math.random().toString(36).slice(2));
  const logs: NullLogger[] = [];

  beforeAll(async () => {
    dir = await tmpDir('relay-protocols-');
    host = await goHost();
    expect(hostPlatform()).toEqual(host);
    const build = async (key: string, s: Parameters<typeof buildStandin>[0]): Promise<void> => {
      marker[key] = path.join(dir, `${key}.marker`);
      bin[key] = await buildStandin({ ...s, marker: marker[key] }, dir);
    };
    // one at a time: two cores are shared
    await build('plain', { cmd: 'plain' });
    await build('plain56', { cmd: 'plain', alsoSix: true });
    await build('framework', { cmd: 'framework' });
    await build('sdk', { cmd: 'sdk' });
    await build('mux', { cmd: 'mux' });
    await build('hang', { cmd: 'plain', mode: 'hang' });
    await build('fork', { cmd: 'framework', mode: 'fork' });
    await build('exit', { cmd: 'plain', mode: 'exit' });
    await build('garbage', { cmd: 'plain', mode: 'garbage' });
    await build('darwin', { cmd: 'framework', goos: 'darwin', goarch: 'arm64' });
    await build('windows', { cmd: 'framework', goos: 'windows', goarch: 'amd64' });
    await build('muxDarwin', { cmd: 'mux', goos: 'darwin', goarch: 'arm64' });
    process.env.AWS_SECRET_ACCESS_KEY = SECRET;
    process.env.GITHUB_TOKEN = SECRET;
  }, 600_000);
  afterAll(async () => {
    delete process.env.AWS_SECRET_ACCESS_KEY;
    delete process.env.GITHUB_TOKEN;
    captured(...logs.flatMap((l) => l.lines));
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('build information read by streaming and by address equals `go version -m`, for ELF, Mach-O and PE', async () => {
    for (const key of ['framework', 'sdk', 'mux', 'darwin', 'windows']) {
      const reference = await goVersionM(bin[key]!);
      const deps = [...reference.matchAll(/^\tdep\t(\S+)\t(\S+)/gm)].map((m) => [m[1], m[2]]);
      const replaced = [...reference.matchAll(/^\t=>\t(\S+)/gm)].map((m) => m[1]);
      expect(deps.length).toBeGreaterThan(1);
      const streamed = await scanStream(createReadStream(bin[key]!, { highWaterMark: 4093 }));
      expect(streamed.found?.form).toBe('inline');
      const fromStream = streamed.found?.form === 'inline' ? parseModInfo(streamed.found.goVersion, streamed.found.modinfo) : undefined;
      const byAddress = await readBuildInfoFile(bin[key]!);
      for (const info of [fromStream!, byAddress!]) {
        expect(info.goVersion).toBe(reference.split('\n')[0]!.split(': ')[1]);
        expect(info.deps.map((d) => [d.path, d.version])).toEqual(deps);
        expect(info.deps.map((d) => d.replace?.path)).toEqual(replaced);
      }
    }
    const darwin = await readBuildInfoFile(bin.darwin!);
    expect(darwin?.settings).toMatchObject({ GOOS: 'darwin', GOARCH: 'arm64' });
    expect(identifyExecutable((await fs.readFile(bin.darwin!)).subarray(0, 4096))).toMatchObject({ format: 'macho', arch: 'arm64' });
    expect(identifyExecutable((await fs.readFile(bin.windows!)).subarray(0, 4096))).toMatchObject({ format: 'pe', arch: 'amd64' });
  });

  test('the handshake offers 5, then 6, and reads what each start serves', async () => {
    const cases: [string, number[], number[]][] = [
      ['plain', [5], [5, 5]],
      ['plain56', [5, 6], [5, 6]],
      ['framework', [6], [6, 6]],
      ['sdk', [5], [5, 5]],
      ['mux', [6], [6, 6]],
    ];
    for (const [key, served, answered] of cases) {
      const work = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-hs-'));
      const r = await runHandshake(bin[key]!, work);
      expect([key, r.served]).toEqual([key, served]);
      expect(r.answers.map((a) => ('line' in a ? a.line.app : a.failed))).toEqual(answered);
      await fs.rm(work, { recursive: true, force: true });
    }
  });

  test('the provider gets only the handshake environment, no credentials, dead proxies, a throwaway directory; it is gone after', async () => {
    await fs.rm(marker.framework!, { force: true });
    const ev = await inspectBinary(await unpacked(dir, bin.framework!, host), { mode: 'handshake', log: new NullLogger(), host });
    expect(ev.handshake?.served).toEqual([6]);
    const runs = await markerRuns(marker.framework!);
    expect(runs.map((r) => r.what)).toEqual(['run', 'run']);
    for (const [i, r] of runs.entries()) {
      const env = Object.fromEntries(r.env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
      expect(Object.keys(env).sort()).toEqual(
        [
          'ALL_PROXY',
          'CHECKPOINT_DISABLE',
          'HOME',
          'HTTPS_PROXY',
          'HTTP_PROXY',
          'PLUGIN_MAX_PORT',
          'PLUGIN_MIN_PORT',
          'PLUGIN_PROTOCOL_VERSIONS',
          'PLUGIN_UNIX_SOCKET_DIR',
          'TF_PLUGIN_MAGIC_COOKIE',
          'TMPDIR',
          'all_proxy',
          'http_proxy',
          'https_proxy',
        ].sort(),
      );
      expect(r.env.join('\n')).not.toContain(SECRET);
      expect(env.TF_PLUGIN_MAGIC_COOKIE).toBe(TF_MAGIC_COOKIE_VALUE);
      expect(env.PLUGIN_PROTOCOL_VERSIONS).toBe(String([5, 6][i]));
      expect(env.HTTPS_PROXY).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const port = Number(env.HTTPS_PROXY!.split(':').at(-1));
      await expect(
        new Promise((resolve, reject) => net.connect(port, '127.0.0.1').once('connect', resolve).once('error', reject)),
      ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      expect(r.cwd.startsWith(path.join(os.tmpdir(), 'relay-provider-'))).toBe(true);
      expect(env.TMPDIR).toBe(path.join(path.dirname(r.cwd), 'tmp'));
      expect(existsSync(r.cwd)).toBe(false);
      expect(alive(r.pid)).toBe(false);
    }
  });

  test('a provider that never answers is killed at the time limit, and only one version is offered', async () => {
    const work = await tmpDir();
    const t0 = Date.now();
    const r = await runHandshake(bin.hang!, work, { timeoutMs: 1500 });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.served).toEqual([]);
    expect(r.answers).toEqual([{ offered: 5, failed: 'no handshake line within 1.5 s (raise subprocess-timeout to wait longer)' }]);
    const [run] = await markerRuns(marker.hang!);
    expect(alive(run!.pid)).toBe(false);
  });

  test('whatever the provider started in its process group is killed with it', async () => {
    const work = await tmpDir();
    const r = await handshakeOnce(bin.fork!, work, 6);
    expect('line' in r && r.line.app).toBe(6);
    const runs = await markerRuns(marker.fork!);
    const child = runs.find((x) => x.what === 'child');
    expect(child).toBeDefined();
    await new Promise((res) => setTimeout(res, 100));
    expect(alive(child!.pid)).toBe(false);
    expect(alive(runs.find((x) => x.what === 'run')!.pid)).toBe(false);
  });

  test('a provider that exits or prints garbage decides nothing, and says why', async () => {
    const work = await tmpDir();
    const exit = await handshakeOnce(bin.exit!, work, 5);
    expect(exit).toEqual({ offered: 5, failed: 'it exited (code 3) before printing a handshake line (stderr: stand-in told to fail)' });
    const garbage = await handshakeOnce(bin.garbage!, work, 5);
    expect(garbage).toEqual({
      offered: 5,
      failed: 'its first line is not a go-plugin handshake: "hello from a provider that is not one"',
    });
  });

  test('cancellation kills the provider at once', async () => {
    const work = await tmpDir();
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    await expect(handshakeOnce(bin.hang!, work, 5, { signal: ac.signal, timeoutMs: 10_000 })).rejects.toBeInstanceOf(CancelledError);
    const runs = await markerRuns(marker.hang!);
    for (const r of runs) expect(alive(r.pid)).toBe(false);
  });

  async function decide(
    exes: [string, Platform][],
    mode: DetectMode,
    input: string[] = [],
    extra: Partial<ProviderBinary> = {},
  ): Promise<{ d: Awaited<ReturnType<typeof decideProtocols>>; log: NullLogger }> {
    const bins = await Promise.all(exes.map(async ([k, p]) => ({ ...(await unpacked(dir, bin[k]!, p)), ...extra })));
    const log = new NullLogger();
    logs.push(log);
    return { d: await decideProtocols(bins, input, { mode, log, host }), log };
  }
  const other = (): Platform => ({ os: 'linux', arch: host.arch === 'arm64' ? 'amd64' : 'arm64' });

  test('no input, no manifest: a framework provider is 6.0 by its handshake, and the build information agrees', async () => {
    const { d, log } = await decide(
      [
        ['framework', host],
        ['darwin', { os: 'darwin', arch: 'arm64' }],
        ['windows', { os: 'windows', arch: 'amd64' }],
      ],
      'handshake',
    );
    expect(d.protocols).toEqual(['6.0']);
    expect(d.decidedBy).toBe('handshake');
    expect(d.note.startsWith(`6.0 from the go-plugin handshake of the ${host.os}_${host.arch} executable (offered 5: answered 6;`)).toBe(
      true,
    );
    expect(d.note).toContain(
      'agrees: Go build information (terraform-plugin-framework v1.4.2 (replaced by ./fakes/terraform-plugin-framework)',
    );
    expect(log.lines).toContain(`protocols ${d.note}`);
    expect(log.lines.join('\n')).toContain('darwin_arm64: built with go1.');
  });

  test('static: decided by build information on every platform; the executable never runs', async () => {
    await fs.rm(marker.framework!, { force: true });
    const { d } = await decide(
      [
        ['framework', host],
        ['darwin', { os: 'darwin', arch: 'arm64' }],
      ],
      'static',
    );
    expect(d.protocols).toEqual(['6.0']);
    expect(d.decidedBy).toBe('build-info');
    expect(d.note).toContain('the same on 2 executables; no handshake to decide (detect-protocols is static)');
    expect(existsSync(marker.framework!)).toBe(false);
  });

  test('an SDKv2 provider is 5.0; a muxed one is 6.0 by handshake, and 5.0 with a warning when only its build information speaks', async () => {
    expect((await decide([['sdk', host]], 'static')).d.protocols).toEqual(['5.0']);
    expect((await decide([['mux', host]], 'handshake')).d).toMatchObject({ protocols: ['6.0'], decidedBy: 'handshake' });
    const { d, log } = await decide([['mux', host]], 'static');
    expect(d).toMatchObject({ protocols: ['5.0'], decidedBy: 'default' });
    expect(log.lines.join('\n')).toContain(
      'warning: the Go build information (terraform-plugin-sdk/v2 v2.31.0 (replaced by ./fakes/terraform-plugin-sdk), terraform-plugin-framework v1.4.2',
    );
  });

  test('off: nothing is read or run', async () => {
    await fs.rm(marker.framework!, { force: true });
    const { d } = await decide([['framework', host]], 'off');
    expect(d).toMatchObject({ protocols: ['5.0'], decidedBy: 'default', evidence: [] });
    expect(existsSync(marker.framework!)).toBe(false);
  });

  test('the input disagreeing with the handshake is refused in one line naming both', async () => {
    const err = await decide([['framework', host]], 'handshake', ['5.0']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(
      /^input 'protocols' says 5\.0, but the provider serves protocol 6, by the go-plugin handshake of the \w+ executable \(offered 5: answered 6; offered 6: answered 6\); make them agree/,
    );
    expect((err as Error).message).not.toContain('\n');
  });

  test('the manifest disagreeing with the build information is refused, naming the manifest', async () => {
    const err = await decide([['darwin', { os: 'darwin', arch: 'arm64' }]], 'handshake', [], { manifestProtocols: ['5.0'] }).catch(
      (e: unknown) => e,
    );
    expect((err as Error).message).toBe(
      'terraform-registry-manifest.json in terraform-provider-demo-v1.0.0-darwin-arm64-bin.tar.gz says 5.0, but the provider can serve only protocol 6, ' +
        'by its Go build information (terraform-plugin-framework v1.4.2 (replaced by ./fakes/terraform-plugin-framework): ' +
        'terraform-plugin-framework serves protocol 6 (5 only through terraform-plugin-mux, which is absent)) in terraform-provider-demo-v1.0.0-darwin-arm64-bin.tar.gz; ' +
        'make them agree (detect-protocols: off skips this check)',
    );
  });

  test('agreement is reported, and a mux provider may declare either', async () => {
    const { d } = await decide([['framework', host]], 'handshake', ['6']);
    expect(d).toMatchObject({ protocols: ['6.0'], decidedBy: 'input' });
    expect(d.note).toMatch(/^6\.0 from input 'protocols'; agrees with the go-plugin handshake/);
    expect((await decide([['muxDarwin', { os: 'darwin', arch: 'arm64' }]], 'handshake', ['5.0'])).d.protocols).toEqual(['5.0']);
  });

  test('a binary for another platform is never run, even when it could run here', async () => {
    await fs.rm(marker.plain!, { force: true });
    await fs.rm(marker.darwin!, { force: true });
    // the host's own executable, but for GOARCH not this host's: refused as mislabelled, and not run
    const err = await decide([['plain', other()]], 'handshake').catch((e: unknown) => e);
    expect((err as Error).message).toBe(
      `tarball 'terraform-provider-demo-v1.0.0-${other().os}-${other().arch}-bin.tar.gz' is named for ${other().os}_${other().arch}, but its provider executable was built for ${host.os}_${host.arch} (Go build information)`,
    );
    const { d, log } = await decide([['darwin', { os: 'darwin', arch: 'arm64' }]], 'handshake');
    expect(d.decidedBy).toBe('build-info');
    expect(log.lines.join('\n')).toContain('handshake not run: no executable for this host');
    expect(existsSync(marker.plain!)).toBe(false);
    expect(existsSync(marker.darwin!)).toBe(false);
  });

  test('a Mach-O in an archive named for this host is refused, not run', async () => {
    await fs.rm(marker.darwin!, { force: true });
    const err = await decide([['darwin', host]], 'handshake').catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/is named for linux_\w+, but its provider executable was built for darwin_arm64/);
    expect(existsSync(marker.darwin!)).toBe(false);
  });

  test('platforms built with different plugin libraries are refused, naming both', async () => {
    const err = await decide(
      [
        ['sdk', host],
        ['darwin', { os: 'darwin', arch: 'arm64' }],
      ],
      'static',
    ).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(
      /^the provider executables disagree on their plugin libraries: darwin_arm64 \(.*\) has terraform-plugin-framework v1\.4\.2.*, linux_\w+ \(.*\) has terraform-plugin-sdk\/v2 v2\.31\.0/,
    );
  });

  test('a handshake stand-in without plugin libraries is decided by its handshake alone; a failing one leaves the default', async () => {
    const a = await decide([['plain56', host]], 'handshake');
    expect(a.d).toMatchObject({ protocols: ['5.0', '6.0'], decidedBy: 'handshake' });
    const b = await decide([['exit', host]], 'handshake');
    expect(b.d).toMatchObject({ protocols: ['5.0'], decidedBy: 'default' });
    expect(b.log.lines.join('\n')).toContain(`warning: ${host.os}_${host.arch}: the go-plugin handshake failed, so it decides nothing`);
  });
});
