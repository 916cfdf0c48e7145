import { badInput } from '../errors.js';

/** Strict SemVer without a `v` and without build metadata: exactly what Terraform requests back. */
const VERSION =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?$/;
/** Provider type and namespace as terraform-registry-address accepts them (lowercase, no dots, no `--`). */
const NAME = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;
const OS = ['linux', 'darwin', 'windows', 'freebsd', 'openbsd', 'netbsd', 'solaris'];
const ARCH = ['amd64', '386', 'arm', 'arm64', 'ppc64le', 's390x', 'riscv64', 'mips', 'mipsle', 'mips64', 'mips64le', 'loong64'];

export function isVersion(v: string): boolean {
  return VERSION.test(v);
}

export function checkVersion(v: string, input = 'version'): string {
  if (/^v\d/.test(v)) badInput(input, 'a version without a "v" prefix (Terraform rejects "v1.2.3")', v);
  if (!VERSION.test(v)) badInput(input, 'a version MAJOR.MINOR.PATCH[-prerelease] without build metadata', v);
  return v;
}

export function checkName(v: string, input: string): string {
  if (!NAME.test(v) || v.includes('--')) badInput(input, 'lowercase letters, digits and single dashes', v);
  return v;
}

/** Version from a `terraform-provider-<name>-v<version>` tag in GITHUB_REF. */
export function versionFromRef(ref: string | undefined, name: string): string | undefined {
  if (!ref) return undefined;
  const tag = ref.replace(/^refs\/tags\//, '');
  const prefix = `terraform-provider-${name}-v`;
  return tag.startsWith(prefix) ? tag.slice(prefix.length) : undefined;
}

export interface Platform {
  os: string;
  arch: string;
}

export interface TarballName extends Platform {
  version: string;
  format: 'tar.gz' | 'zip';
}

/**
 * Parses a release archive's file name. Two conventions:
 *   Teleport:   terraform-provider-<name>-v<version>-<os>-<arch>-bin.tar.gz
 *   GoReleaser: terraform-provider-<name>_<version>_<os>_<arch>.(tar.gz|zip)
 */
export function parseTarballName(file: string, name: string): TarballName | undefined {
  const base = file.split(/[\\/]/).pop() ?? file;
  const esc = name.replace(/[-]/g, '\\-');
  const teleport = new RegExp(`^terraform-provider-${esc}-v(.+)-([a-z0-9]+)-([a-z0-9]+)-bin\\.tar\\.gz$`).exec(base);
  const goreleaser = new RegExp(`^terraform-provider-${esc}_([^_]+)_([a-z0-9]+)_([a-z0-9]+)\\.(tar\\.gz|tgz|zip)$`).exec(base);
  const m = teleport ?? goreleaser;
  if (!m) return undefined;
  const [, version, os, arch] = m as unknown as [string, string, string, string, string?];
  if (!OS.includes(os) || !ARCH.includes(arch)) return undefined;
  return { version, os, arch, format: goreleaser?.[4] === 'zip' ? 'zip' : 'tar.gz' };
}

export const platformKey = (p: Platform): string => `${p.os}_${p.arch}`;

/** SemVer precedence (for sorting `versions`; the client sorts again anyway). */
export function compareVersions(a: string, b: string): number {
  const pa = VERSION.exec(a);
  const pb = VERSION.exec(b);
  if (!pa || !pb) return a < b ? -1 : a > b ? 1 : 0;
  for (let i = 1; i <= 3; i++) {
    const d = Number(pa[i]) - Number(pb[i]);
    if (d !== 0) return d;
  }
  const ra = pa[4];
  const rb = pb[4];
  if (ra === rb) return 0;
  if (ra === undefined) return 1;
  if (rb === undefined) return -1;
  const xa = ra.split('.');
  const xb = rb.split('.');
  for (let i = 0; i < Math.max(xa.length, xb.length); i++) {
    const x = xa[i];
    const y = xb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (x === y) continue;
    const nx = /^\d+$/.test(x);
    const ny = /^\d+$/.test(y);
    if (nx && ny) return Number(x) - Number(y);
    if (nx) return -1;
    if (ny) return 1;
    return x < y ? -1 : 1;
  }
  return 0;
}
