import type { OutputValue, Result } from '../context.js';
import type { Logger } from '../log/logger.js';
import { countsLine, planSection, type PlanRow } from '../report/plan.js';
import type { Report } from '../report/report.js';
import { platformKey } from './names.js';
import type { Plan } from './plan.js';
import type { Release } from './release.js';

/** The plan's rows without the objects' bodies: objects, then the `versions` commit point, then the mirror index. */
export function planRows(plan: Plan): PlanRow[] {
  return [...plan.objects, plan.versions, plan.mirrorIndex].map(({ obj: _obj, ...row }) => row);
}

export function logPlan(rows: readonly PlanRow[], log: Logger): void {
  for (const r of rows) log.info(`${r.action.padEnd(8)} ${r.object}${r.action === 'put' ? '' : `  (${r.why})`}`);
}

/** What `terraform providers lock` records for the release: h1 and zh for every platform, sorted. */
function lockHashes(rel: Release): string[] {
  return [...rel.packages.map((p) => p.h1), ...rel.packages.map((p) => p.zh)].sort();
}

/** The publish result: typed outputs, the plan with results, and the report people read. */
export function publishResult(rel: Release, rows: PlanRow[], dryRun: boolean): Result {
  const { coords, packages } = rel;
  const provider = `${rel.registryUrl.host}/${coords.namespace}/${coords.name}`;
  const hashes = lockHashes(rel);
  const lock = [
    `provider "${provider}" {`,
    `  version     = "${coords.version}"`,
    `  constraints = "${coords.version}"`,
    '  hashes = [',
    ...hashes.map((h) => `    "${h}",`),
    '  ]',
    '}',
  ].join('\n');
  const objects = rows.slice(0, -2);
  const writes = objects.filter((r) => r.action === 'put' || r.action === 'replace').length;
  const versionsRow = rows[rows.length - 2]!;
  const noop = writes === 0 && versionsRow.action === 'skip';
  const report: Report = {
    title: `${dryRun ? 'Dry run: ' : ''}${provider} ${coords.version}`,
    status: dryRun ? 'dry-run' : noop ? 'no-op' : 'done',
    counts: countsLine(objects, !dryRun),
    sections: [
      {
        heading: 'Summary',
        text: `${dryRun ? 'Would write' : 'Wrote'} ${writes} objects, ${objects.length - writes} already identical; versions index: ${versionsRow.action}. Signed by key ${rel.keyId}; protocols ${rel.protocols.join(', ')}.`,
      },
      { heading: 'Protocols', text: rel.protocolNote },
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
  };
  return { outputs, plan: rows, report };
}
