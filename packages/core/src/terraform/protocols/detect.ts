/**
 * Which plugin protocol versions a provider release serves, read from the
 * provider itself rather than typed by hand:
 *
 * - the go-plugin handshake of the executable for this host, when there is
 *   one and `detect-protocols` is `handshake`: what it actually serves;
 * - the Go build information of every executable: which plugin libraries it
 *   was built with, hence what it can serve.
 *
 * When nothing is declared (no `protocols` input, no
 * terraform-registry-manifest.json) the evidence decides; when something is,
 * evidence that disagrees refuses the publish, naming both. All of it runs
 * before anything is written. The executables are only read: the zips are
 * made from them, and a provider that runs does so from a copy of its own.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { mapLimit } from '../../concurrency.js';
import { DEFAULTS } from '../../defaults.js';
import { InputError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import { normaliseProtocols, sameList } from '../documents.js';
import { BuildInfoScanner, parseModInfo, readBuildInfoFile, scanStream, type GoBuildInfo, type GoModule } from './buildinfo.js';
import { elfLoadProblem, headerFits, identifyExecutable, type ExeKind } from './exe.js';
import { describeAnswers, runHandshake, type HandshakeResult } from './handshake.js';
import { probeIsolation } from './isolate.js';

export const DETECT_MODES = ['handshake', 'static', 'off'] as const;
export type DetectMode = (typeof DETECT_MODES)[number];

/** What detection needs of an unpacked release archive (terraform/repack.ts's Unpacked has all of it). */
export interface ProviderBinary {
  os: string;
  arch: string;
  /** The provider executable as unpacked, on disk: read here, never run (the zip is made from it). */
  exePath: string;
  /** The release archive it came from, for messages. */
  source: string;
  manifestProtocols?: string[];
  /** The executable already read on its way out of the archive (unpack's capture): it is then not read again. */
  captured?: Captured;
}

/** What unpacking read of an executable for detection: its build information scan, and the host's copy to run. */
export interface Captured {
  scanner: BuildInfoScanner;
  /** A copy of the executable (mode 0700) for the handshake; it is removed once inspected. */
  file?: string;
}

export interface Platform {
  os: string;
  arch: string;
}

const GO_OS: Record<string, string> = {
  linux: 'linux',
  darwin: 'darwin',
  win32: 'windows',
  freebsd: 'freebsd',
  openbsd: 'openbsd',
  netbsd: 'netbsd',
  sunos: 'solaris',
  aix: 'aix',
};
const GO_ARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  ia32: '386',
  arm: 'arm',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
  mips: 'mips',
  mipsel: 'mipsle',
  ppc: 'ppc',
};

/** This process's platform in Go's GOOS/GOARCH names; undefined where Go has no name for it. */
export function hostPlatform(
  platform: string = process.platform,
  arch: string = process.arch,
  endianness = os.endianness(),
): Platform | undefined {
  const goOs = GO_OS[platform];
  const goArch = arch === 'ppc64' ? (endianness === 'LE' ? 'ppc64le' : 'ppc64') : GO_ARCH[arch];
  return goOs && goArch ? { os: goOs, arch: goArch } : undefined;
}

/** The plugin libraries that decide a provider's protocols, by module path (the path before any `replace`). */
const LIBRARIES: { module: string; name: string }[] = [
  { module: 'github.com/hashicorp/terraform-plugin-sdk/v2', name: 'terraform-plugin-sdk/v2' },
  { module: 'github.com/hashicorp/terraform-plugin-sdk', name: 'terraform-plugin-sdk' },
  { module: 'github.com/hashicorp/terraform-plugin-framework', name: 'terraform-plugin-framework' },
  { module: 'github.com/hashicorp/terraform-plugin-mux', name: 'terraform-plugin-mux' },
  { module: 'github.com/hashicorp/terraform-plugin-go', name: 'terraform-plugin-go' },
];

export interface Library {
  name: string;
  version: string;
  /** The module was replaced (a fork or a local directory): where it really came from. */
  replacedBy?: string;
}

/** What the libraries allow: `possible` is what it can serve, `likely` what such a provider serves unless told otherwise. */
export interface Capabilities {
  possible: number[];
  likely?: number[];
  because: string;
}

/** The plugin libraries in a build's module list. Modules arrive by their required path even when a `replace` points elsewhere. */
export function pluginLibraries(info: GoBuildInfo): Library[] {
  const out: Library[] = [];
  for (const lib of LIBRARIES) {
    const m: GoModule | undefined = info.deps.find((d) => d.path === lib.module);
    if (!m) continue;
    const v = m.replace?.version;
    const replacedBy = m.replace ? `${m.replace.path}${v && v !== '(devel)' ? ` ${v}` : ''}` : undefined;
    out.push({ name: lib.name, version: m.version, ...(replacedBy ? { replacedBy } : {}) });
  }
  return out;
}

/**
 * What a provider built with these libraries can serve:
 * - terraform-plugin-sdk (v1, v2): protocol 5; 6 only through terraform-plugin-mux's tf5to6server;
 * - terraform-plugin-framework: protocol 6; 5 only through terraform-plugin-mux's tf6to5server;
 * - terraform-plugin-mux: either (tf5muxserver, tf6muxserver, and the two translators);
 * - terraform-plugin-go alone: either (tf5server, tf6server).
 * Undefined when none is present: nothing to say.
 */
export function capabilitiesOf(libs: Library[]): Capabilities | undefined {
  const has = (n: string): boolean => libs.some((l) => l.name === n);
  const sdk = has('terraform-plugin-sdk/v2') || has('terraform-plugin-sdk');
  const fw = has('terraform-plugin-framework');
  const sdkName = has('terraform-plugin-sdk/v2') ? 'terraform-plugin-sdk/v2' : 'terraform-plugin-sdk';
  if (has('terraform-plugin-mux'))
    return { possible: [5, 6], because: 'terraform-plugin-mux serves protocol 5 or 6 (tf5muxserver or tf6muxserver)' };
  if (sdk && fw) return { possible: [5, 6], because: `${sdkName} and terraform-plugin-framework together, without terraform-plugin-mux` };
  if (fw)
    return {
      possible: [6],
      likely: [6],
      because: 'terraform-plugin-framework serves protocol 6 (5 only through terraform-plugin-mux, which is absent)',
    };
  if (sdk)
    return { possible: [5], likely: [5], because: `${sdkName} serves protocol 5 (6 only through terraform-plugin-mux, which is absent)` };
  if (has('terraform-plugin-go'))
    return { possible: [5, 6], because: 'terraform-plugin-go alone serves protocol 5 or 6 (tf5server or tf6server)' };
  return undefined;
}

/** What was learned from one executable. */
export interface BinaryEvidence {
  platform: string;
  source: string;
  exe?: ExeKind;
  buildInfo?: GoBuildInfo;
  libraries: Library[];
  caps?: Capabilities;
  handshake?: HandshakeResult;
  /** Why the handshake was not run, when this is the host's platform or the mode is static. */
  notRun?: string;
}

/** The libraries that matter, for messages: terraform-plugin-go only when nothing above it is there. */
const libText = (libs: Library[]): string =>
  (libs.length > 1 ? libs.filter((l) => l.name !== 'terraform-plugin-go') : libs)
    .map((l) => `${l.name} ${l.version}${l.replacedBy ? ` (replaced by ${l.replacedBy})` : ''}`)
    .join(', ');
const majors = (ns: number[]): string => ns.join(' and ');

/** Does an executable's header fit the platform its archive is named for? */

/** A copy of the executable to run, scanned on the way when nothing scanned it yet. */
async function copyToRun(exePath: string, file: string, scanner?: BuildInfoScanner): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tee = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      scanner?.push(chunk);
      cb(null, chunk);
    },
  });
  await pipeline(createReadStream(exePath), tee, createWriteStream(file, { mode: 0o700 }));
}

export interface DetectOptions {
  mode: DetectMode;
  log: Logger;
  signal?: AbortSignal;
  /** The platform whose executables may run; defaults to this process's. `null`: none may. */
  host?: Platform | null;
  handshakeTimeoutMs?: number;
}

/**
 * Reads one unpacked executable: streams it through the build information
 * scanner (never whole in memory) unless unpacking did; only the host's is
 * copied to a throwaway directory, and run there for the handshake.
 */
export async function inspectBinary(bin: ProviderBinary, opts: DetectOptions): Promise<BinaryEvidence> {
  const platform = `${bin.os}_${bin.arch}`;
  const host = opts.host === undefined ? hostPlatform() : opts.host;
  const forHost = host !== null && host !== undefined && bin.os === host.os && bin.arch === host.arch;
  // Killing the provider's whole process group is what makes running it safe; Windows has no such groups.
  const mayRun = opts.mode === 'handshake' && forHost && process.platform !== 'win32';
  let dir: string | undefined;
  const captured = bin.captured;
  try {
    let file: string | undefined = captured?.file;
    const tmp = async (): Promise<string> => (dir ??= await fs.mkdtemp(path.join(os.tmpdir(), 'relay-provider-')));
    const scanner = captured?.scanner ?? new BuildInfoScanner();
    if (mayRun && !file) {
      file = path.join(await tmp(), 'bin', path.basename(bin.exePath));
      await copyToRun(bin.exePath, file, captured ? undefined : scanner);
    } else if (!captured) {
      await scanStream(createReadStream(bin.exePath), scanner);
    }
    let buildInfo: GoBuildInfo | undefined;
    if (scanner.found?.form === 'inline') buildInfo = parseModInfo(scanner.found.goVersion, scanner.found.modinfo);
    // Go < 1.18 stores pointers: they need reads by address in the executable (never run).
    else if (scanner.found?.form === 'pointer') buildInfo = await readBuildInfoFile(bin.exePath);
    const exe = identifyExecutable(scanner.head);
    const ev: BinaryEvidence = { platform, source: bin.source, exe, buildInfo, libraries: [] };

    // The archive's name says which platform it is for; the executable must agree before anything trusts either.
    const goos = buildInfo?.settings.GOOS;
    const goarch = buildInfo?.settings.GOARCH;
    // (a universal Mach-O holds several architectures; its first slice's GOARCH says nothing about the archive)
    if ((goos && goos !== bin.os) || (goarch && goarch !== bin.arch && !exe?.universal)) {
      throw new InputError(
        `tarball '${bin.source}' is named for ${platform}, but its provider executable was built for ${goos ?? bin.os}_${goarch ?? bin.arch} (Go build information)`,
      );
    }
    if (exe && !headerFits(exe, bin)) {
      throw new InputError(
        `tarball '${bin.source}' is named for ${platform}, but its provider executable is ${exe.format === 'macho' ? 'Mach-O' : exe.format.toUpperCase()} for ${exe.arch ?? 'another machine'}`,
      );
    }
    if (buildInfo) {
      ev.libraries = pluginLibraries(buildInfo);
      ev.caps = capabilitiesOf(ev.libraries);
    }

    if (opts.mode === 'static') ev.notRun = forHost ? 'detect-protocols is static' : undefined;
    else if (opts.mode === 'handshake' && forHost && !mayRun) ev.notRun = 'this host (Windows) cannot kill a process group';
    else if (mayRun && !exe) ev.notRun = 'it is not an executable this host can run (no ELF, Mach-O or PE header)';
    else if (mayRun && (exe?.arch !== bin.arch || exe.universal))
      ev.notRun = `its header does not name this host's machine (${bin.arch}) alone`;
    else if (mayRun && file) {
      // A file the kernel would refuse is refused here, in words; it is never run (nor read by a shell, isolate.ts).
      const broken = exe?.format === 'elf' ? await elfLoadProblem(file) : undefined;
      if (broken)
        throw new InputError(
          `tarball '${bin.source}': its provider executable for ${platform} cannot be run (${broken}); Terraform could not start it either`,
        );
      const isolation = await probeIsolation(opts.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs);
      if (isolation.weaker)
        opts.log.warn(`${platform}: the provider runs for its handshake with the network reachable: ${isolation.weaker}`);
      opts.log.progress(`running ${platform} provider for its go-plugin handshake`);
      ev.handshake = await runHandshake(file, path.join(await tmp(), 'run'), {
        timeoutMs: opts.handshakeTimeoutMs,
        signal: opts.signal,
        isolation,
      });
    }
    return ev;
  } finally {
    if (dir) await fs.rm(dir, { recursive: true, force: true });
    // The executable repacking wrote out is never left behind, run or not.
    if (captured?.file) await fs.rm(captured.file, { force: true });
  }
}

export interface ProtocolDecision {
  protocols: string[];
  /** Which evidence decided. */
  decidedBy: 'input' | 'manifest' | 'handshake' | 'build-info' | 'default';
  /** One line for the log and the report: what decided, and what else was seen. */
  note: string;
  evidence: BinaryEvidence[];
}

const DEFAULT_PROTOCOLS = ['5.0'];

/**
 * The release's protocols: the `protocols` input, else the manifest in the
 * archives, else what the provider says, else 5.0 (the SDKv2 default). Evidence
 * from the provider that contradicts the input or the manifest refuses,
 * naming both, before anything is written.
 */
export async function decideProtocols(bins: ProviderBinary[], input: string[], opts: DetectOptions): Promise<ProtocolDecision> {
  const { log } = opts;
  const declared = declaredProtocols(bins, input);
  if (opts.mode === 'off') {
    if (declared)
      return {
        protocols: declared.list,
        decidedBy: declared.by,
        note: `${declared.list.join(', ')} from ${declared.from} (detect-protocols: off)`,
        evidence: [],
      };
    const note = 'no protocols input and no terraform-registry-manifest.json in the tarballs: using protocol 5.0 (the SDKv2 default)';
    log.info(note);
    return { protocols: DEFAULT_PROTOCOLS, decidedBy: 'default', note, evidence: [] };
  }

  const host = opts.host === undefined ? hostPlatform() : opts.host;
  const isHost = (b: ProviderBinary): boolean => !!host && b.os === host.os && b.arch === host.arch;
  // The host's executable first: its handshake then overlaps the other scans.
  const ordered = [...bins].sort((a, b) => Number(isHost(b)) - Number(isHost(a)));
  const evidence = await mapLimit(ordered, DEFAULTS.buildInfoScanParallel, (b) => inspectBinary(b, { ...opts, host }), opts.signal);
  evidence.sort((a, b) => a.platform.localeCompare(b.platform));

  for (const ev of evidence) {
    if (!ev.buildInfo) log.info(`${ev.platform}: no Go build information (not a Go executable, or built without it)`);
    else if (ev.libraries.length === 0)
      log.info(`${ev.platform}: built with ${ev.buildInfo.goVersion}; no terraform-plugin-* module in its build information`);
    else
      log.info(
        `${ev.platform}: built with ${ev.buildInfo.goVersion} and ${libText(ev.libraries)}: can serve protocol ${majors(ev.caps!.possible)}`,
      );
    if (ev.handshake) log.info(`${ev.platform}: go-plugin handshake: ${describeAnswers(ev.handshake.answers)}`);
    if (ev.notRun) log.info(`${ev.platform}: handshake not run: ${ev.notRun}`);
  }
  if (opts.mode === 'handshake' && !evidence.some((e) => e.handshake || e.notRun))
    log.info(`handshake not run: no executable for this host (${host ? `${host.os}_${host.arch}` : 'a platform Go does not name'})`);

  // Every platform is the same provider: its libraries must agree.
  const withLibs = evidence.filter((e) => e.caps);
  for (const e of withLibs.slice(1)) {
    const a = withLibs[0]!;
    if (libText(a.libraries) !== libText(e.libraries)) {
      throw new InputError(
        `the provider executables disagree on their plugin libraries: ${a.platform} (${a.source}) has ${libText(a.libraries)}, ${e.platform} (${e.source}) has ${libText(e.libraries)}`,
      );
    }
  }
  const built = withLibs[0];
  const builtText = built && `Go build information (${libText(built.libraries)}: ${built.caps!.because})`;

  const hs = evidence.find((e) => e.handshake);
  // Conclusive only when every offer got a line: a run that failed halfway proves nothing.
  const shook = hs?.handshake && hs.handshake.answers.every((a) => 'line' in a) ? hs : undefined;
  const failed = hs && !shook ? hs : undefined;
  if (failed)
    log.warn(`${failed.platform}: the go-plugin handshake failed, so it decides nothing: ${describeAnswers(failed.handshake!.answers)}`);
  const hsText = shook && `the go-plugin handshake of the ${shook.platform} executable (${describeAnswers(shook.handshake!.answers)})`;
  if (shook && shook.handshake!.served.length === 0) {
    throw new InputError(
      `tarball '${shook.source}': the provider serves none of plugin protocols 5 and 6, which Terraform and OpenTofu speak: ${hsText}`,
    );
  }
  const served = shook?.handshake!.served;
  if (served && built && !served.every((v) => built.caps!.possible.includes(v))) {
    log.warn(`the handshake shows protocol ${majors(served)}, which its ${builtText} did not lead to expect; the handshake decides`);
  }

  if (declared) {
    const want = [...new Set(declared.list.map((p) => Number(p.split('.')[0])))].sort();
    const refuse = (what: string): never => {
      throw new InputError(
        `${declared.from} says ${declared.list.join(', ')}, but ${what}; make them agree (detect-protocols: off skips this check)`,
      );
    };
    if (served) {
      if (!sameList(want.map(String), served.map(String))) refuse(`the provider serves protocol ${majors(served)}, by ${hsText}`);
    } else if (built && !want.every((v) => built.caps!.possible.includes(v))) {
      refuse(`the provider can serve only protocol ${majors(built.caps!.possible)}, by its ${builtText} in ${built.source}`);
    }
    const agrees = served ? hsText : builtText;
    const note = `${declared.list.join(', ')} from ${declared.from}${agrees ? `; agrees with ${agrees}` : '; nothing read from the provider to check it against'}`;
    log.info(`protocols ${note}`);
    return { protocols: declared.list, decidedBy: declared.by, note, evidence };
  }

  let decision: Omit<ProtocolDecision, 'evidence'>;
  if (served) {
    const protocols = served.map((v) => `${v}.0`);
    const also = built
      ? `; ${built.caps!.likely && sameList(built.caps!.likely.map(String), served.map(String)) ? 'agrees: ' : 'also seen: '}${builtText}`
      : '';
    decision = { protocols, decidedBy: 'handshake', note: `${protocols.join(', ')} from ${hsText}${also}` };
  } else if (built?.caps!.likely) {
    const protocols = built.caps!.likely.map((v) => `${v}.0`);
    const why = failed
      ? 'the handshake failed'
      : (evidence.find((e) => e.notRun)?.notRun ?? (opts.mode === 'static' ? 'detect-protocols is static' : 'no executable for this host'));
    decision = {
      protocols,
      decidedBy: 'build-info',
      note: `${protocols.join(', ')} from the ${builtText}, the same on ${withLibs.length} executable${withLibs.length === 1 ? '' : 's'}; no handshake to decide (${why})`,
    };
  } else if (built) {
    log.warn(
      `the ${builtText} allows protocol 5 or 6 and nothing else decides: using 5.0 (the SDKv2 default); set the protocols input to be sure`,
    );
    decision = { protocols: DEFAULT_PROTOCOLS, decidedBy: 'default', note: `5.0, the SDKv2 default: the ${builtText} allows either` };
  } else {
    decision = {
      protocols: DEFAULT_PROTOCOLS,
      decidedBy: 'default',
      note: '5.0, the SDKv2 default: no protocols input, no terraform-registry-manifest.json, and nothing read from the provider',
    };
  }
  log.info(`protocols ${decision.note}`);
  return { ...decision, evidence };
}

/** The protocols the operator or the build declared: the input, else the archives' manifests (which must agree). */
function declaredProtocols(
  bins: ProviderBinary[],
  input: string[],
): { list: string[]; from: string; by: 'input' | 'manifest' } | undefined {
  const fromManifests = bins
    .filter((p) => p.manifestProtocols)
    .map((p) => ({ src: p.source, list: normaliseProtocols(p.manifestProtocols!, 'protocols') }));
  for (const m of fromManifests.slice(1)) {
    if (!sameList(m.list, fromManifests[0]!.list)) {
      throw new InputError(
        `tarballs disagree on protocol_versions: ${fromManifests[0]!.src} says ${fromManifests[0]!.list.join(',')}, ${m.src} says ${m.list.join(',')}`,
      );
    }
  }
  const manifest = fromManifests[0];
  if (input.length > 0) {
    const given = normaliseProtocols(input, 'protocols');
    if (manifest && !sameList(given, manifest.list)) {
      throw new InputError(
        `input 'protocols': ${given.join(',')} differs from terraform-registry-manifest.json in the tarballs (${manifest.list.join(',')}); give one or make them agree`,
      );
    }
    return { list: given, from: "input 'protocols'", by: 'input' };
  }
  if (manifest) return { list: manifest.list, from: `terraform-registry-manifest.json in ${manifest.src}`, by: 'manifest' };
  return undefined;
}
