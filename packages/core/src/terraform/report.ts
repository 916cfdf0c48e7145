import type { OutputValue, Result } from '../context.js';
import type { Logger } from '../log/logger.js';
import { countsLine, planSection, type PlanRow } from '../report/plan.js';
import type { Report, ReportSection } from '../report/report.js';
import { AUDIT_PREFIX } from '../audit/write.js';
import * as L from './layout.js';
import { platformKey } from './names.js';
import type { Plan } from './plan.js';
import { zhHash } from './hashes.js';
import type { Release } from './release.js';

/** The plan's rows without the objects' bodies: objects, then the `versions` commit point, then the mirror index, then an audit repair. */
export function planRows(plan: Plan): PlanRow[] {
  return [...plan.objects, plan.versions, plan.mirrorIndex, ...(plan.audit ? [plan.audit] : [])].map(({ obj: _obj, ...row }) => row);
}

export function logPlan(rows: readonly PlanRow[], log: Logger): void {
  for (const r of rows) log.info(`${r.action.padEnd(8)} ${r.object}${r.action === 'put' ? '' : `  (${r.why})`}`);
}

/**
 * What `terraform providers lock -platform=...` records for every platform:
 * the h1 it computes from each platform's package, and a zh for every line of
 * the signed SHA256SUMS (the manifest's included: Terraform trusts the whole
 * signed list), sorted as the lock file lists them.
 */
export function lockHashes(packages: readonly { h1: string }[], sums: Buffer): string[] {
  const zh = sums
    .toString('utf8')
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0]!)
    .filter((h) => /^[0-9a-f]{64}$/.test(h))
    .map(zhHash);
  return [...new Set([...packages.map((p) => p.h1), ...zh])].sort();
}

/** The lock-file block for the version, as `terraform providers lock` writes it. */
export function lockBlock(provider: string, version: string, hashes: string[]): string {
  return [
    `provider "${provider}" {`,
    `  version     = "${version}"`,
    `  constraints = "${version}"`,
    '  hashes = [',
    ...hashes.map((h) => `    "${h}",`),
    '  ]',
    '}',
  ].join('\n');
}

export interface ResultOptions {
  /** Replaces the summary's first sentence (what was written). */
  summary?: string;
  /** Sections after the summary and protocols. */
  sections?: ReportSection[];
  outputs?: Record<string, OutputValue>;
}

/** The publish result: typed outputs, the plan with results, and the report people read. */
export function publishResult(rel: Release, rows: PlanRow[], dryRun: boolean, o: ResultOptions = {}): Result {
  const { coords, packages } = rel;
  const provider = `${rel.registryUrl.host}/${coords.namespace}/${coords.name}`;
  const hashes = lockHashes(packages, rel.sums);
  const lock = lockBlock(provider, coords.version, hashes);
  const versionsKey = L.versionsKey(coords);
  const indexKeys = new Set([versionsKey, L.mirrorIndexKey(rel.mirrorHost, coords), AUDIT_PREFIX]);
  const objects = rows.filter((r) => !indexKeys.has(r.object));
  const writes = objects.filter((r) => r.action === 'put' || r.action === 'replace').length;
  const versionsRow = rows.find((r) => r.object === versionsKey)!;
  const noop = rows.every((r) => r.action === 'skip');
  const report: Report = {
    title: `${dryRun ? 'Dry run: ' : ''}${provider} ${coords.version}`,
    status: dryRun ? 'dry-run' : noop ? 'no-op' : 'done',
    counts: countsLine(rows, !dryRun),
    sections: [
      {
        heading: 'Summary',
        text:
          (o.summary ? `${o.summary} ` : '') +
          `${dryRun ? 'Would write' : 'Wrote'} ${writes} objects, ${objects.length - writes} already identical; versions index: ${versionsRow.action}. ${dryRun ? 'To be signed' : 'Signed'} by key ${rel.keyId}; protocols ${rel.protocols.join(', ')}.`,
      },
      ...(rel.warnings.length ? [{ heading: 'Warnings', text: rel.warnings.join('\n') }] : []),
      { heading: 'Protocols', text: rel.protocolNote },
      ...(o.sections ?? []),
      planSection(rows),
      {
        heading: `Platforms (${packages.length}): files and hashes`,
        table: {
          head: ['platform', 'file', 'bytes', 'zh (sha256)', 'h1'],
          rows: packages.map((p) => [platformKey(p), p.filename, String(p.size), p.sha256, p.h1]),
        },
        collapsed: true,
      },
      { heading: '.terraform.lock.hcl', code: lock, lang: 'hcl', collapsed: true },
    ],
  };
  const outputs: Record<string, OutputValue> = {
    version: coords.version,
    provider,
    platforms: packages.map(platformKey).join(' '),
    'lock-hashes': hashes,
    hashes: Object.fromEntries(packages.map((p) => [platformKey(p), [p.h1, p.zh]])),
    ...o.outputs,
  };
  return { outputs, plan: rows, report };
}
