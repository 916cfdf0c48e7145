import { InputError } from '../../errors.js';
/**
 * Just enough of ELF, Mach-O and PE to say which platform an executable is
 * for (from its first bytes) and to read memory addresses out of it (for the
 * pointer form of Go's build information, Go < 1.18). Never executes, never
 * maps; every read is bounds-checked against the file.
 */
import * as fs from 'node:fs/promises';

export type ExeFormat = 'elf' | 'macho' | 'pe';

/** What the header says about an executable. `os` is what the format implies. */
export interface ExeKind {
  format: ExeFormat;
  /** Go's GOARCH names, when the machine is one Go builds for. */
  arch?: string;
  /** linux/freebsd/... share ELF: `elf` means "one of them". */
  osFamily: 'elf' | 'darwin' | 'windows';
  bigEndian: boolean;
  ptrSize: 4 | 8;
  /** A Mach-O universal ("fat") file: several architectures, so no one `arch`. */
  universal?: boolean;
}

/** How many leading bytes `identifyExecutable` needs at most (the PE header sits behind the DOS stub). */
export const EXE_HEAD_BYTES = 4096;

const ELF_MACHINE: Record<number, string> = {
  0x03: '386',
  0x08: 'mips',
  0x14: 'ppc',
  0x15: 'ppc64',
  0x16: 's390x',
  0x28: 'arm',
  0x3e: 'amd64',
  0xb7: 'arm64',
  0xf3: 'riscv64',
  0x102: 'loong64',
};
const MACHO_CPU: Record<number, string> = { 7: '386', 0x01000007: 'amd64', 12: 'arm', 0x0100000c: 'arm64', 0x01000012: 'ppc64' };
const PE_MACHINE: Record<number, string> = { 0x14c: '386', 0x8664: 'amd64', 0xaa64: 'arm64', 0x1c4: 'arm' };

/** The format, machine and byte order from an executable's first bytes; undefined for anything else (a script, text). */
export function identifyExecutable(head: Buffer): ExeKind | undefined {
  if (head.length >= 20 && head.readUInt32BE(0) === 0x7f454c46) {
    const cls = head[4];
    const data = head[5];
    if ((cls !== 1 && cls !== 2) || (data !== 1 && data !== 2)) return undefined;
    const bigEndian = data === 2;
    const machine = bigEndian ? head.readUInt16BE(18) : head.readUInt16LE(18);
    let arch = ELF_MACHINE[machine];
    if (arch === 'mips') arch = cls === 2 ? (bigEndian ? 'mips64' : 'mips64le') : bigEndian ? 'mips' : 'mipsle';
    if (arch === 'ppc64' && !bigEndian) arch = 'ppc64le';
    return { format: 'elf', arch, osFamily: 'elf', bigEndian, ptrSize: cls === 2 ? 8 : 4 };
  }
  if (head.length >= 8 && head.readUInt32BE(0) === 0xcafebabe && head.readUInt32BE(4) > 0 && head.readUInt32BE(4) < 32) {
    return { format: 'macho', osFamily: 'darwin', bigEndian: true, ptrSize: 8, universal: true };
  }
  if (head.length >= 8) {
    const le = head.readUInt32LE(0);
    const be = head.readUInt32BE(0);
    for (const [magic, bigEndian] of [
      [le, false],
      [be, true],
    ] as const) {
      if (magic === 0xfeedface || magic === 0xfeedfacf) {
        const cpu = bigEndian ? head.readUInt32BE(4) : head.readUInt32LE(4);
        return { format: 'macho', arch: MACHO_CPU[cpu], osFamily: 'darwin', bigEndian, ptrSize: magic === 0xfeedfacf ? 8 : 4 };
      }
    }
  }
  if (head.length >= 0x40 && head.toString('latin1', 0, 2) === 'MZ') {
    const pe = head.readUInt32LE(0x3c);
    if (pe + 24 + 2 > head.length || head.readUInt32BE(pe) !== 0x50450000) return undefined;
    const machine = head.readUInt16LE(pe + 4);
    const optMagic = head.readUInt16LE(pe + 24);
    return { format: 'pe', arch: PE_MACHINE[machine], osFamily: 'windows', bigEndian: false, ptrSize: optMagic === 0x20b ? 8 : 4 };
  }
  return undefined;
}

/** A file range loaded at a virtual address. */
interface Segment {
  vaddr: number;
  offset: number;
  size: number;
}

/** An executable opened for reads by virtual address, as Go's debug/buildinfo reads one. */
export interface ExeImage {
  kind: ExeKind;
  /** Where the build information is looked for (Go: the `.go.buildinfo` section, else the data segment). */
  dataStart?: number;
  /** Up to `size` bytes at virtual address `addr`, within one segment; undefined when unmapped. */
  read(addr: number, size: number): Promise<Buffer | undefined>;
}

class Reader {
  constructor(
    readonly buf: Buffer,
    readonly be: boolean,
  ) {}
  u16 = (o: number): number => (this.be ? this.buf.readUInt16BE(o) : this.buf.readUInt16LE(o));
  u32 = (o: number): number => (this.be ? this.buf.readUInt32BE(o) : this.buf.readUInt32LE(o));
  u64 = (o: number): number => Number(this.be ? this.buf.readBigUInt64BE(o) : this.buf.readBigUInt64LE(o));
  word = (o: number, ptr: 4 | 8): number => (ptr === 8 ? this.u64(o) : this.u32(o));
}

/** Reads `len` bytes at `pos`, refusing reads beyond the file (a truncated or hostile header). */
async function readAt(fh: fs.FileHandle, size: number, pos: number, len: number): Promise<Buffer | undefined> {
  if (pos < 0 || len < 0 || pos + len > size || len > 16 * 1024 * 1024) return undefined;
  const b = Buffer.alloc(len);
  const { bytesRead } = await fh.read(b, 0, len, pos);
  return bytesRead === len ? b : undefined;
}

/**
 * Opens an executable for reads by virtual address. Returns undefined for a
 * file that is not ELF, Mach-O or PE, or whose headers do not hold together.
 * The caller closes the handle.
 */
export async function openExeImage(fh: fs.FileHandle): Promise<ExeImage | undefined> {
  const { size } = await fh.stat();
  const head = await readAt(fh, size, 0, Math.min(size, EXE_HEAD_BYTES));
  const kind = head && identifyExecutable(head);
  if (!head || !kind) return undefined;
  const segs: Segment[] = [];
  let dataStart: number | undefined;
  const r = (b: Buffer): Reader => new Reader(b, kind.bigEndian);

  if (kind.format === 'elf') {
    const e64 = kind.ptrSize === 8;
    const h = r(head);
    const phoff = e64 ? h.u64(32) : h.u32(28);
    const shoff = e64 ? h.u64(40) : h.u32(32);
    const phentsize = h.u16(e64 ? 54 : 42);
    const phnum = h.u16(e64 ? 56 : 44);
    const shentsize = h.u16(e64 ? 58 : 46);
    const shnum = h.u16(e64 ? 60 : 48);
    const shstrndx = h.u16(e64 ? 62 : 50);
    const ph = phnum > 0 ? await readAt(fh, size, phoff, phentsize * phnum) : undefined;
    let firstData: number | undefined;
    for (let i = 0; ph && i < phnum; i++) {
      const p = r(ph);
      const o = i * phentsize;
      const type = p.u32(o);
      const flags = e64 ? p.u32(o + 4) : p.u32(o + 24);
      const seg = e64
        ? { offset: p.u64(o + 8), vaddr: p.u64(o + 16), size: p.u64(o + 32) }
        : { offset: p.u32(o + 4), vaddr: p.u32(o + 8), size: p.u32(o + 16) };
      if (type === 1 /* PT_LOAD */) {
        segs.push(seg);
        if (firstData === undefined && (flags & 3) === 2 /* PF_W without PF_X */) firstData = seg.vaddr;
      }
    }
    // The `.go.buildinfo` section, when the section headers are there (they survive `-s -w`).
    const sh = shnum > 0 && shnum < 4096 ? await readAt(fh, size, shoff, shentsize * shnum) : undefined;
    if (sh && shstrndx < shnum) {
      const s = r(sh);
      const strOff = e64 ? s.u64(shstrndx * shentsize + 24) : s.u32(shstrndx * shentsize + 16);
      const strSize = e64 ? s.u64(shstrndx * shentsize + 32) : s.u32(shstrndx * shentsize + 20);
      const names = await readAt(fh, size, strOff, Math.min(strSize, 64 * 1024));
      for (let i = 0; names && i < shnum; i++) {
        const o = i * shentsize;
        const nameAt = s.u32(o);
        const end = names.indexOf(0, nameAt);
        if (end > nameAt && names.toString('latin1', nameAt, end) === '.go.buildinfo') {
          dataStart = e64 ? s.u64(o + 16) : s.u32(o + 12);
          break;
        }
      }
    }
    dataStart ??= firstData;
  } else if (kind.format === 'macho') {
    const h = r(head);
    const m64 = kind.ptrSize === 8;
    const ncmds = h.u32(16);
    const sizeofcmds = h.u32(20);
    const cmds = await readAt(fh, size, m64 ? 32 : 28, sizeofcmds);
    let rwSegment: number | undefined;
    for (let i = 0, o = 0; cmds && i < ncmds && o + 8 <= cmds.length; i++) {
      const c = r(cmds);
      const cmd = c.u32(o);
      const cmdsize = c.u32(o + 4);
      if (cmdsize < 8 || o + cmdsize > cmds.length) break;
      if (cmd === 0x19 /* LC_SEGMENT_64 */ || cmd === 0x1 /* LC_SEGMENT */) {
        const is64 = cmd === 0x19;
        const segname = cmds.toString('latin1', o + 8, o + 24).replace(/\0.*$/s, '');
        const vaddr = is64 ? c.u64(o + 24) : c.u32(o + 24);
        const offset = is64 ? c.u64(o + 40) : c.u32(o + 32);
        const filesz = is64 ? c.u64(o + 48) : c.u32(o + 36);
        const maxprot = c.u32(o + (is64 ? 56 : 40));
        const initprot = c.u32(o + (is64 ? 60 : 44));
        const nsects = c.u32(o + (is64 ? 64 : 48));
        if (segname !== '__PAGEZERO') segs.push({ vaddr, offset, size: filesz });
        if (rwSegment === undefined && vaddr !== 0 && filesz !== 0 && maxprot === 3 && initprot === 3) rwSegment = vaddr;
        const sectSize = is64 ? 80 : 68;
        for (let s = 0, so = o + (is64 ? 72 : 56); s < nsects && so + sectSize <= o + cmdsize; s++, so += sectSize) {
          if (cmds.toString('latin1', so, so + 16).replace(/\0.*$/s, '') === '__go_buildinfo')
            dataStart = is64 ? c.u64(so + 32) : c.u32(so + 32);
        }
      }
      o += cmdsize;
    }
    dataStart ??= rwSegment;
  } else {
    const h = r(head);
    const pe = h.u32(0x3c);
    const nsect = h.u16(pe + 6);
    const optSize = h.u16(pe + 20);
    const opt = pe + 24;
    const imageBase = kind.ptrSize === 8 ? h.u64(opt + 24) : h.u32(opt + 28);
    const table = await readAt(fh, size, opt + optSize, nsect * 40);
    for (let i = 0; table && i < nsect; i++) {
      const t = r(table);
      const o = i * 40;
      const vaddr = imageBase + t.u32(o + 12);
      const rawSize = t.u32(o + 16);
      const rawPtr = t.u32(o + 20);
      const chars = t.u32(o + 36);
      segs.push({ vaddr, offset: rawPtr, size: rawSize });
      // initialised data, readable, writable (alignment bits aside): Go's data section
      if (dataStart === undefined && t.u32(o + 12) !== 0 && rawSize !== 0 && (chars & ~0x00f00000) >>> 0 === 0xc0000040) dataStart = vaddr;
    }
  }

  return {
    kind,
    dataStart,
    async read(addr: number, want: number): Promise<Buffer | undefined> {
      const seg = segs.find((s) => s.size > 0 && s.vaddr <= addr && addr < s.vaddr + s.size);
      if (!seg) return undefined;
      const n = Math.min(want, seg.vaddr + seg.size - addr);
      return readAt(fh, size, seg.offset + (addr - seg.vaddr), n);
    },
  };
}

/** Whether a header fits a platform: ELF for linux and the BSDs, Mach-O for darwin, PE for windows, and the machine when known. */
export function headerFits(exe: ExeKind, p: { os: string; arch: string }): boolean {
  const family = p.os === 'darwin' ? 'darwin' : p.os === 'windows' ? 'windows' : 'elf';
  return exe.osFamily === family && (exe.arch === undefined || exe.arch === p.arch);
}

/**
 * Refuses an executable whose header names another platform than its
 * archive's name, naming both. Content that is no executable at all (a script)
 * is left to the platform it claims.
 */
export function checkExecutablePlatform(head: Buffer, p: { os: string; arch: string }, source: string): void {
  const exe = identifyExecutable(head);
  if (exe && !headerFits(exe, p)) {
    const format = exe.format === 'macho' ? 'Mach-O' : exe.format.toUpperCase();
    throw new InputError(
      `${source} is named for ${p.os}_${p.arch}, but its provider executable is ${format} for ${exe.arch ?? 'another machine'}`,
    );
  }
}

/**
 * Why the kernel would not load an ELF executable, or undefined when its
 * structure holds: the checks Linux's binfmt_elf makes before it commits to
 * the file (type, program header size and count, the table and every loaded
 * segment inside the file, a sane interpreter path). A file failing them gets
 * ENOEXEC or a crash at start-up; Terraform could not run it either. Only
 * what every loadable ELF satisfies is checked, so no real executable fails.
 */
export async function elfLoadProblem(file: string): Promise<string | undefined> {
  const fh = await fs.open(file, 'r');
  try {
    const { size } = await fh.stat();
    const head = await readAt(fh, size, 0, Math.min(size, 64));
    const kind = head && identifyExecutable(head);
    if (!head || kind?.format !== 'elf') return 'it has no complete ELF header';
    const e64 = kind.ptrSize === 8;
    if (head.length < (e64 ? 64 : 52)) return `its ELF header is cut short (${head.length} bytes)`;
    const h = new Reader(head, kind.bigEndian);
    const type = h.u16(16);
    if (type !== 2 && type !== 3) return `its ELF type is ${type}, not an executable (2) or a position-independent one (3)`;
    const phoff = e64 ? h.u64(32) : h.u32(28);
    const phentsize = h.u16(e64 ? 54 : 42);
    const phnum = h.u16(e64 ? 56 : 44);
    const want = e64 ? 56 : 32;
    if (phentsize !== want) return `its program headers are ${phentsize} bytes each, not ${want}`;
    if (phnum === 0 || phnum * phentsize > 65536) return `it declares ${phnum} program headers`;
    const ph = await readAt(fh, size, phoff, phnum * phentsize);
    if (!ph) return `its program header table (bytes ${phoff} to ${phoff + phnum * phentsize}) lies past its end (${size} bytes)`;
    const p = new Reader(ph, kind.bigEndian);
    let loads = 0;
    for (let i = 0; i < phnum; i++) {
      const o = i * phentsize;
      const ptype = p.u32(o);
      const offset = e64 ? p.u64(o + 8) : p.u32(o + 4);
      const filesz = e64 ? p.u64(o + 32) : p.u32(o + 16);
      if (ptype !== 1 /* PT_LOAD */ && ptype !== 3 /* PT_INTERP */) continue;
      if (offset + filesz > size) return `its segment ${i} (bytes ${offset} to ${offset + filesz}) lies past its end (${size} bytes)`;
      if (ptype === 1) loads++;
      else if (filesz < 2 || filesz > 4096) return `its interpreter path is ${filesz} bytes long`;
    }
    if (loads === 0) return 'it has no loadable segment';
    return undefined;
  } finally {
    await fh.close();
  }
}
