/**
 * Go build information, as `go version -m` prints it, read from a provider
 * executable without running it. The linker leaves a 32-byte header, 16-byte
 * aligned in the data segment: `\xff Go buildinf:`, the pointer size, and
 * flags (bit 0 big-endian, bit 1 "strings inline"). Go >= 1.18 follows it with
 * two varint-length strings, the Go version and the module list; older Go with
 * two pointers to string headers, which need the executable's address map
 * (exe.ts). The module list is text framed by 16 sentinel bytes on each side:
 *
 *   path  <main package>
 *   mod   <path> <version> <sum>
 *   dep   <path> <version> <sum>
 *   =>    <path> <version> <sum>     (replaces the line above)
 *   build <key>=<value>
 */
import * as fs from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { EXE_HEAD_BYTES, openExeImage } from './exe.js';

export const BUILDINFO_MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
const HEADER = 32;
const ALIGN = 16;
/** Largest module list accepted: big providers list a few hundred modules in ~40 KB. */
export const MAX_MODINFO_BYTES = 1024 * 1024;
const MAX_GO_VERSION_BYTES = 256;

export interface GoModule {
  path: string;
  version: string;
  sum?: string;
  /** A `replace` directive's target: another module path and version, or a local directory. */
  replace?: { path: string; version: string; sum?: string };
}

export interface GoBuildInfo {
  goVersion: string;
  /** The main package's import path. */
  path?: string;
  main?: GoModule;
  deps: GoModule[];
  /** `build` lines: GOOS, GOARCH, CGO_ENABLED, -ldflags, vcs.revision, ... */
  settings: Record<string, string>;
}

/** What a scan found at the magic: the decoded strings, or the pointer form's file offset (needs random access). */
export type RawBuildInfo = { form: 'inline'; goVersion: string; modinfo: string } | { form: 'pointer'; offset: number };

function uvarint(b: Buffer, at: number): { value: number; next: number } | 'more' | 'bad' {
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (at + i >= b.length) return 'more';
    const byte = b[at + i]!;
    value += (byte & 0x7f) * mul;
    if (byte < 0x80) return value > Number.MAX_SAFE_INTEGER ? 'bad' : { value, next: at + i + 1 };
    mul *= 128;
  }
  return 'bad';
}

/** Strips the 16 sentinel bytes framing the module list; "" when it is absent (GOPATH builds), as debug/buildinfo does. */
function unframe(mod: Buffer): string {
  return mod.length >= 33 && mod[mod.length - 17] === 0x0a ? mod.toString('utf8', 16, mod.length - 16) : '';
}

const plausibleGoVersion = (v: string): boolean => /^(go\d|devel )[\x20-\x7e]*$/.test(v);

/**
 * Decodes a header at the start of `b`: 'more' when `b` stops too early,
 * 'bad' when this is not a build information header after all.
 */
export function decodeBuildInfoAt(b: Buffer, offset: number): RawBuildInfo | 'more' | 'bad' {
  if (b.length < HEADER) return 'more';
  if (!b.subarray(0, BUILDINFO_MAGIC.length).equals(BUILDINFO_MAGIC)) return 'bad';
  const ptrSize = b[14];
  const flags = b[15]!;
  if (ptrSize !== 4 && ptrSize !== 8) return 'bad';
  if ((flags & 2) === 0) return flags <= 1 ? { form: 'pointer', offset } : 'bad';
  const v = uvarint(b, HEADER);
  if (typeof v === 'string') return v;
  if (v.value === 0 || v.value > MAX_GO_VERSION_BYTES) return 'bad';
  if (b.length < v.next + v.value) return 'more';
  const goVersion = b.toString('latin1', v.next, v.next + v.value);
  if (!plausibleGoVersion(goVersion)) return 'bad';
  const m = uvarint(b, v.next + v.value);
  if (typeof m === 'string') return m;
  if (m.value > MAX_MODINFO_BYTES) return 'bad';
  if (b.length < m.next + m.value) return 'more';
  return { form: 'inline', goVersion, modinfo: unframe(b.subarray(m.next, m.next + m.value)) };
}

/**
 * Finds build information in an executable fed to it chunk by chunk, so a
 * 100 MB binary is never held whole: it keeps the last few bytes between
 * chunks and, once a header is seen, at most one module list. Like
 * debug/buildinfo it accepts the magic only at 16-byte aligned positions
 * (file offsets keep the alignment of addresses in ELF, Mach-O and PE).
 */
export class BuildInfoScanner {
  /** The first bytes of the file, for identifyExecutable. */
  head: Buffer = Buffer.alloc(0);
  found?: RawBuildInfo;
  private pending: Buffer = Buffer.alloc(0);
  /** File offset of pending[0]. */
  private base = 0;

  push(chunk: Buffer): void {
    if (this.head.length < EXE_HEAD_BYTES) {
      this.head = Buffer.concat([this.head, chunk.subarray(0, EXE_HEAD_BYTES - this.head.length)]);
    }
    if (this.found) return;
    if (this.pending.length > 0 && this.pending.length < BUILDINFO_MAGIC.length && !this.straddles(chunk)) {
      // Only the last few bytes are held and no magic starts in them: search the chunk itself, without
      // copying it (a copy per chunk is a second copy of the executable for the collector to clear).
      this.base += this.pending.length;
      this.pending = chunk;
    } else this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let from = 0;
    for (;;) {
      const i = this.pending.indexOf(BUILDINFO_MAGIC, from);
      if (i < 0) {
        const keep = Math.max(0, this.pending.length - (BUILDINFO_MAGIC.length - 1));
        this.base += keep;
        this.pending = Buffer.from(this.pending.subarray(keep));
        return;
      }
      if ((this.base + i) % ALIGN !== 0) {
        from = i + 1;
        continue;
      }
      const r = decodeBuildInfoAt(this.pending.subarray(i), this.base + i);
      if (r === 'bad') {
        from = i + 1;
        continue;
      }
      if (r === 'more') {
        // Keep the candidate (bounded by MAX_MODINFO_BYTES through decodeBuildInfoAt) and wait for more bytes.
        this.base += i;
        this.pending = this.pending.subarray(i);
        return;
      }
      this.found = r;
      this.pending = Buffer.alloc(0);
      return;
    }
  }

  /** Whether an aligned magic (or, when the chunk is short, a beginning of one) starts in the held tail. */
  private straddles(chunk: Buffer): boolean {
    const joint = Buffer.concat([this.pending, chunk.subarray(0, BUILDINFO_MAGIC.length - 1)]);
    for (let i = (ALIGN - (this.base % ALIGN)) % ALIGN; i < this.pending.length; i += ALIGN) {
      const seen = joint.subarray(i, i + BUILDINFO_MAGIC.length);
      if (seen.equals(BUILDINFO_MAGIC.subarray(0, seen.length))) return true;
    }
    return false;
  }

  /** Bytes held between chunks: a few while searching, one candidate's worth once a header is seen. */
  get bufferedBytes(): number {
    return this.pending.length;
  }

  get done(): boolean {
    return this.found !== undefined && this.head.length >= EXE_HEAD_BYTES;
  }
}

/** Scans a stream to its end or until the build information is found (the stream is then left unconsumed). */
export async function scanStream(stream: Readable, scanner = new BuildInfoScanner()): Promise<BuildInfoScanner> {
  for await (const chunk of stream) {
    scanner.push(chunk as Buffer);
    if (scanner.done) break;
  }
  return scanner;
}

/** Parses the module list text (runtime/debug.ParseBuildInfo's format). Unknown lines are ignored. */
export function parseModInfo(goVersion: string, text: string): GoBuildInfo {
  const info: GoBuildInfo = { goVersion, deps: [], settings: {} };
  let last: GoModule | undefined;
  const mod = (f: string[]): GoModule => ({ path: f[1] ?? '', version: f[2] ?? '', ...(f[3] ? { sum: f[3] } : {}) });
  for (const line of text.split('\n')) {
    const f = line.split('\t');
    switch (f[0]) {
      case 'path':
        info.path = f[1];
        break;
      case 'mod':
        info.main = last = mod(f);
        break;
      case 'dep':
        info.deps.push((last = mod(f)));
        break;
      case '=>':
        if (last && f[1]) last.replace = { path: f[1], version: f[2] ?? '', ...(f[3] ? { sum: f[3] } : {}) };
        last = undefined;
        break;
      case 'build': {
        const kv = line.slice('build\t'.length);
        const [key, value] = splitSetting(kv);
        if (key) info.settings[key] = value;
        break;
      }
    }
  }
  return info;
}

/** `key=value`, where Go quotes (strconv.Quote) a key or value holding spaces, quotes or `=`. */
function splitSetting(kv: string): [string, string] {
  const unquote = (s: string): string => {
    if (!s.startsWith('"')) return s;
    try {
      return JSON.parse(s) as string;
    } catch {
      return s;
    }
  };
  if (kv.startsWith('"')) {
    const m = /^("(?:[^"\\]|\\.)*")=(.*)$/s.exec(kv);
    return m ? [unquote(m[1]!), unquote(m[2]!)] : ['', ''];
  }
  const eq = kv.indexOf('=');
  return eq < 0 ? [kv, ''] : [kv.slice(0, eq), unquote(kv.slice(eq + 1))];
}

/**
 * Reads build information from an executable on disk by addresses, as Go's
 * debug/buildinfo does: 64 KiB from the data start, the aligned magic, then
 * inline strings or (Go < 1.18) pointers to string headers. Undefined when
 * the file is not a Go executable.
 */
export async function readBuildInfoFile(file: string): Promise<GoBuildInfo | undefined> {
  const fh = await fs.open(file, 'r');
  try {
    const exe = await openExeImage(fh);
    if (!exe || exe.dataStart === undefined) return undefined;
    let data = await exe.read(exe.dataStart, 64 * 1024);
    if (!data) return undefined;
    let start = exe.dataStart;
    for (let from = 0; ;) {
      const i = data.indexOf(BUILDINFO_MAGIC, from);
      if (i < 0 || data.length - i < HEADER) return undefined;
      if ((start + i) % ALIGN === 0) {
        start += i;
        data = data.subarray(i);
        break;
      }
      from = i + 1;
    }
    const flags = data[15]!;
    if (flags & 2) {
      // The strings may run past the 64 KiB window: read exactly what the lengths say.
      const window = await exe.read(start, HEADER + 20 + MAX_GO_VERSION_BYTES);
      const v = window && uvarint(window, HEADER);
      if (!v || typeof v === 'string') return undefined;
      const m = uvarint(window, v.next + v.value);
      if (typeof m === 'string' || m.value > MAX_MODINFO_BYTES) return undefined;
      const all = await exe.read(start, m.next + m.value);
      const r = all && decodeBuildInfoAt(all, 0);
      return r && typeof r === 'object' && r.form === 'inline' ? parseModInfo(r.goVersion, r.modinfo) : undefined;
    }
    const ptr = data[14] === 4 ? 4 : 8;
    const be = (flags & 1) === 1;
    const word = (b: Buffer, at: number): number =>
      ptr === 8 ? Number(be ? b.readBigUInt64BE(at) : b.readBigUInt64LE(at)) : be ? b.readUInt32BE(at) : b.readUInt32LE(at);
    const readString = async (addr: number, limit: number): Promise<Buffer | undefined> => {
      const hdr = await exe.read(addr, 2 * ptr);
      if (!hdr || hdr.length < 2 * ptr) return undefined;
      const len = word(hdr, ptr);
      if (len > limit) return undefined;
      const s = await exe.read(word(hdr, 0), len);
      return s && s.length === len ? s : undefined;
    };
    const vers = await readString(word(data, 16), MAX_GO_VERSION_BYTES);
    const mod = await readString(word(data, 16 + ptr), MAX_MODINFO_BYTES);
    const goVersion = vers?.toString('latin1') ?? '';
    if (!plausibleGoVersion(goVersion)) return undefined;
    return parseModInfo(goVersion, mod ? unframe(mod) : '');
  } finally {
    await fh.close();
  }
}

/** `go version -m` style text, for logs and tests. */
export function formatBuildInfo(info: GoBuildInfo): string {
  const mod = (kind: string, m: GoModule): string[] => [
    `\t${kind}\t${m.path}\t${m.version}${m.sum ? `\t${m.sum}` : ''}`,
    ...(m.replace ? [`\t=>\t${m.replace.path}\t${m.replace.version}${m.replace.sum ? `\t${m.replace.sum}` : ''}`] : []),
  ];
  return [
    info.goVersion,
    ...(info.path ? [`\tpath\t${info.path}`] : []),
    ...(info.main ? mod('mod', info.main) : []),
    ...info.deps.flatMap((d) => mod('dep', d)),
    ...Object.entries(info.settings).map(([k, v]) => `\tbuild\t${k}=${v}`),
  ].join('\n');
}
