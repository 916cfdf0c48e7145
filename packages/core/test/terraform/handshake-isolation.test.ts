// The provider run for its handshake is isolated as the README says: no
// network where the machine allows a network namespace (the log says so where
// it does not), never run through a shell (a file the kernel refuses is not
// read by /bin/sh through execvp's fallback), and held to subprocess-timeout.
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { InputError } from '../../src/errors.js';
import { NullLogger } from '../../src/log/logger.js';
import { publishTerraformRegistry } from '../../src/operations/index.js';
import { inspectBinary, type Platform } from '../../src/terraform/protocols/detect.js';
import { elfLoadProblem } from '../../src/terraform/protocols/exe.js';
import { handshakeOnce } from '../../src/terraform/protocols/handshake.js';
import { probeIsolation, type Isolation } from '../../src/terraform/protocols/isolate.js';
import { providerTarball, rsaKey, tmpDir } from '../fixtures.js';
import { buildStandin, describeWithGo, goHost, markerRuns } from './go-standins.js';

// Waits on processes and the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(60_000);

const describeGo = describeWithGo();
const isRoot = process.getuid?.() === 0;

/**
 * An ELF header for this machine with nothing loadable behind it, laid out so
 * that /bin/sh reads it as a script that touches `marker`: the padding ends the
 * first line ("\x7fELF...: not found", which a shell goes past) and starts a
 * comment over the rest of the header. What execvp's fallback would run.
 */
function elfHeaderThenShell(machine: number, marker: string): Buffer {
  const h = Buffer.alloc(64);
  h.writeUInt32BE(0x7f454c46, 0);
  h[4] = 2; // 64-bit
  h[5] = 1; // little-endian
  h[6] = 1;
  h[9] = 0x0a; // e_ident padding: a newline, then '#'
  h[10] = 0x23;
  h.writeUInt16LE(2, 16); // ET_EXEC
  h.writeUInt16LE(machine, 18);
  return Buffer.concat([h, Buffer.from(`\ntouch ${marker}\n`)]);
}
const MACHINE: Record<string, number> = { amd64: 0x3e, arm64: 0xb7 };

describeGo('the handshake runs isolated (stand-in providers built with Go)', () => {
  let dir: string;
  let host: Platform;
  let listener: net.Server;
  let connections = 0;
  let dialer: string;
  let dialMarker: string;
  let hang: string;

  beforeAll(async () => {
    dir = await tmpDir('relay-isolation-');
    host = await goHost();
    listener = net.createServer((c) => {
      connections++;
      c.destroy();
    });
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    const port = (listener.address() as net.AddressInfo).port;
    dialMarker = path.join(dir, 'dial.marker');
    dialer = await buildStandin({ cmd: 'plain', dial: `127.0.0.1:${port}`, marker: dialMarker }, dir);
    hang = await buildStandin({ cmd: 'plain', mode: 'hang' }, dir);
  }, 600_000);
  afterAll(async () => {
    await new Promise((r) => listener.close(r));
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('a provider that connects to a loopback listener during its handshake reaches nothing (or the log says why it could)', async () => {
    const iso = await probeIsolation(10_000);
    const log = new NullLogger();
    const exe = path.join(dir, 'run-dialer', 'terraform-provider-demo_v1.0.0');
    await fs.mkdir(path.dirname(exe));
    await fs.copyFile(dialer, exe);
    const ev = await inspectBinary(
      { ...host, exePath: exe, source: `terraform-provider-demo-v1.0.0-${host.os}-${host.arch}-bin.tar.gz` },
      { mode: 'handshake', log, host },
    );
    expect(ev.handshake?.served).toEqual([5]);
    const runs = (await markerRuns(dialMarker)).map((r) => r.what);
    if (iso.kind === 'namespace') {
      // The stand-in tried, once per offer, and got nowhere; the listener saw nothing.
      expect(runs.filter((w) => w !== 'run')).toEqual(['nodial', 'nodial']);
      expect(connections).toBe(0);
      expect(log.lines.filter((l) => l.startsWith('warning:'))).toEqual([]);
    } else {
      // No namespace on this machine: the run says so, and why, rather than claiming isolation.
      expect(log.lines).toContainEqual(expect.stringMatching(/^warning: .*runs for its handshake with the network reachable: .+/));
    }
  }, 60_000);

  test.each<[string, () => Promise<Isolation>]>([
    ['as this machine allows', () => probeIsolation(10_000)],
    isRoot
      ? ['as nobody, without a namespace (root)', async () => ({ kind: 'shared-network-as-nobody', weaker: 'forced by the test' })]
      : ['as this user, without a namespace', async () => ({ kind: 'shared-network', weaker: 'forced by the test' })],
  ])(
    'a file with this host’s ELF header that the kernel refuses is never read by a shell (%s)',
    async (_how, isolation) => {
      const marker = path.join(os.tmpdir(), `relay-sh-fallback-${process.pid}-${Math.random().toString(36).slice(2)}`);
      const exe = path.join(dir, `bad-${Math.random().toString(36).slice(2)}`);
      await fs.writeFile(exe, elfHeaderThenShell(MACHINE[host.arch] ?? 0x3e, marker), { mode: 0o755 });
      const work = await tmpDir();
      // What a shell makes of it, run on purpose (the point: the handshake must never do this).
      const control = `${marker}-control`;
      await fs.writeFile(`${exe}-control`, elfHeaderThenShell(MACHINE[host.arch] ?? 0x3e, control));
      execFileSync('/bin/sh', [`${exe}-control`], { stdio: 'ignore' });
      expect(existsSync(control)).toBe(true);
      await fs.rm(control);
      const a = await handshakeOnce(exe, work, 5, { isolation: await isolation(), timeoutMs: 10_000 });
      expect('failed' in a && a.failed).toMatch(/exited \(code \d+\) before printing a handshake line/);
      // Give a shell that did start time to get to its second line.
      await new Promise((r) => setTimeout(r, 300));
      expect(existsSync(marker)).toBe(false);
      await fs.rm(work, { recursive: true, force: true });
    },
    30_000,
  );

  test('publishing refuses a host executable the kernel cannot load, in one line, and runs nothing', async () => {
    const marker = path.join(os.tmpdir(), `relay-sh-fallback-${process.pid}-${Math.random().toString(36).slice(2)}`);
    const work = await tmpDir();
    const bad = path.join(work, 'bad');
    await fs.writeFile(bad, elfHeaderThenShell(MACHINE[host.arch] ?? 0x3e, marker));
    expect(await elfLoadProblem(bad)).toBe('its program headers are 0 bytes each, not 56');
    // A real executable cut in half: its segments lie past its end.
    const half = path.join(work, 'half');
    const whole = await fs.readFile(dialer);
    await fs.writeFile(half, whole.subarray(0, whole.length >> 1));
    expect(await elfLoadProblem(half)).toMatch(/^its segment \d+ \(bytes \d+ to \d+\) lies past its end/);
    expect(await elfLoadProblem(dialer)).toBeUndefined();
    for (const content of [bad, half]) {
      const exe = path.join(work, `run-${path.basename(content)}`, 'terraform-provider-demo_v1.0.0');
      await fs.mkdir(path.dirname(exe));
      await fs.copyFile(content, exe);
      const err = await inspectBinary(
        { ...host, exePath: exe, source: 'the.tar.gz' },
        { mode: 'handshake', log: new NullLogger(), host },
      ).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toMatch(
        new RegExp(
          `^tarball 'the\\.tar\\.gz': its provider executable for ${host.os}_${host.arch} cannot be run \\(.+\\); Terraform could not start it either$`,
        ),
      );
    }
    expect(existsSync(marker)).toBe(false);
    await fs.rm(work, { recursive: true, force: true });
  }, 30_000);

  test('subprocess-timeout is the handshake’s time limit (not a 10 s of its own)', async () => {
    const work = await tmpDir();
    const key = await rsaKey();
    const t = await providerTarball(work, 'demo', '1.0.0', host.os, host.arch, await fs.readFile(hang));
    const store = path.join(work, 'reg');
    const log = new NullLogger();
    const t0 = Date.now();
    await publishTerraformRegistry.run(
      {
        namespace: 'acme',
        name: 'demo',
        version: '1.0.0',
        tarballs: [t],
        store: `file://${store}`,
        'registry-url': 'https://registry.example.com/',
        'signing-key': key,
        protocols: [],
        'detect-protocols': 'handshake',
        'max-binary-size': 1024,
        immutable: true,
        'dry-run': true,
        'subprocess-timeout': 1.5,
      } as unknown as Parameters<typeof publishTerraformRegistry.run>[0],
      { log, env: {}, cwd: work },
    );
    expect(Date.now() - t0).toBeLessThan(9000);
    expect(log.lines).toContainEqual(
      expect.stringContaining('offered 5: no handshake line within 1.5 s (raise subprocess-timeout to wait longer)'),
    );
    await fs.rm(work, { recursive: true, force: true });
  }, 60_000);
});
