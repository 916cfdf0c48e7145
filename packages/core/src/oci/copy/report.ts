import type { Result } from '../../context.js';
import { ABSENT, countsLine, describeCounts, mib, type PlanAction, type PlanRow } from '../../report/plan.js';
import type { ReportSection } from '../../report/report.js';
import type { CopyResult } from './result.js';
import type { BlobAction, ManifestAction, Plan, TagAction } from './plan.js';
import type { Verified } from './verify.js';

const BLOB: Record<BlobAction, PlanAction> = { copy: 'put', mount: 'mount', present: 'skip' };
const MANIFEST: Record<ManifestAction, PlanAction> = { put: 'put', present: 'skip' };
const TAG: Record<TagAction, PlanAction> = { put: 'put', present: 'skip', move: 'replace' };
const short = (d: string): string => d.slice(0, 'sha256:'.length + 12);

/**
 * Rows a per-object table shows: an index of 10,000 children would make a job
 * summary past GitHub's 1 MiB limit for a step. The full plan is in --json.
 */
export const MAX_TABLE_ROWS = 1000;
function capped(rows: string[][], width: number): string[][] {
  if (rows.length <= MAX_TABLE_ROWS) return rows;
  const more = `… and ${rows.length - MAX_TABLE_ROWS} more (every object is in the --json plan)`;
  return [...rows.slice(0, MAX_TABLE_ROWS), [more, ...Array<string>(width - 1).fill('')]];
}

/** The copy plan in the shared vocabulary: blobs, then manifests by digest, then tags (the commit order). */
export function planRows(p: Plan): PlanRow[] {
  return [
    // A blob or manifest is named by its digest, so its row binds its content by its name; `digest` says so
    // the same way for every row. A tag's row binds the manifest it will point at and the one it pointed at
    // when planned (report/plan.ts): a tag moved in between changes the plan hash.
    ...p.blobs.map((b) => ({
      object: `${p.target}@${b.descriptor.digest}`,
      action: BLOB[b.action],
      why: b.action === 'present' ? 'present' : b.action === 'mount' ? 'in another repository of the registry' : 'missing',
      bytes: b.descriptor.size,
      digest: b.descriptor.digest,
    })),
    ...p.manifests.map((m) => ({
      object: `${p.target}@${m.manifest.digest}`,
      action: MANIFEST[m.action],
      why: `${m.role}${m.action === 'present' ? ', present' : ''}`,
      bytes: m.manifest.bytes.length,
      digest: m.manifest.digest,
    })),
    ...p.tags.map((t) => ({
      object: `${p.target}:${t.tag}`,
      action: TAG[t.action],
      why: `${t.kind} → ${short(t.digest)}${t.current && t.action === 'move' ? ` (was ${short(t.current)})` : ''}`,
      digest: t.digest,
      observed: t.current ?? ABSENT,
    })),
  ];
}

/** The plan as log lines: counts by kind, then each tag. */
export function planLines(p: Plan): string[] {
  const rows = planRows(p);
  const blobs = rows.slice(0, p.blobs.length);
  const manifests = rows.slice(p.blobs.length, p.blobs.length + p.manifests.length);
  const toCopy = p.blobs.filter((b) => b.action === 'copy').reduce((n, b) => n + b.descriptor.size, 0);
  return [
    `manifests: ${describeCounts(manifests) || 'none'}`,
    `blobs: ${describeCounts(blobs) || 'none'} (${mib(toCopy)} MiB to copy)`,
    ...rows.slice(p.blobs.length + p.manifests.length).map((r) => `${r.action.padEnd(8)} ${r.object}  (${r.why})`),
  ];
}

function sections(r: CopyResult, dryRun: boolean): ReportSection[] {
  const p = r.plan;
  const t = r.transferred;
  const verifiedRefs = new Set(r.verified.map((v: Verified) => v.reference));
  const verified = (ref: string): boolean => verifiedRefs.has(ref);
  const tagRows = r.rows.slice(p.blobs.length + p.manifests.length);
  return [
    {
      heading: dryRun ? 'Plan (dry run: nothing written)' : 'Result',
      text: dryRun
        ? planLines(p).slice(0, 2).join('; ')
        : `${p.source} → ${p.target}: ${t?.blobsCopied ?? 0} blobs copied (${mib(t?.bytesCopied ?? 0)} MiB), ${t?.blobsMounted ?? 0} mounted, ${p.blobs.filter((b) => b.action === 'present').length} already present; ${t?.manifestsPut ?? 0} manifests and ${t?.tagsPut ?? 0} tags written; ${r.verified.length} references verified`,
    },
    {
      heading: 'References',
      table: {
        head: ['Reference', 'Action', 'Why', dryRun ? '' : 'Verified'].filter(Boolean),
        rows: capped(
          tagRows.map((row) => [row.object, row.action, row.why, ...(dryRun ? [] : [verified(row.object) ? 'yes' : ''])]),
          dryRun ? 3 : 4,
        ),
      },
    },
    {
      heading: 'Manifests',
      table: {
        head: ['Digest', 'Role', 'Type', 'Size', 'Action'],
        rows: capped(
          p.manifests.map((m) => [m.manifest.digest, m.role, m.manifest.mediaType, String(m.manifest.bytes.length), MANIFEST[m.action]]),
          5,
        ),
      },
      collapsed: true,
    },
    p.blobs.length === 0
      ? { heading: 'Blobs', text: 'none to check: every manifest is already on the target, and with it its blobs' }
      : {
          heading: `Blobs (${p.blobs.filter((b) => b.action !== 'present').length} of ${p.blobs.length} needed)`,
          table: {
            head: ['Digest', 'Size', 'Action'],
            rows: capped(
              p.blobs.map((b) => [b.descriptor.digest, String(b.descriptor.size), BLOB[b.action]]),
              3,
            ),
          },
          collapsed: true,
        },
  ];
}

/** The result of an operation built on one copy: digest and references written, the plan, the report. */
export function copyResult(operation: string, r: CopyResult, lead: ReportSection[]): Result {
  const dryRun = r.transferred === undefined;
  const writes = r.rows.filter((row) => row.action !== 'skip').length;
  return {
    outputs: { digest: r.digest, images: r.images },
    plan: r.rows,
    report: {
      title: `${operation} ${r.plan.source} → ${r.plan.target}`,
      status: dryRun ? 'dry-run' : writes === 0 ? 'no-op' : 'done',
      counts: countsLine(r.rows, !dryRun),
      sections: [...lead, ...sections(r, dryRun)],
    },
  };
}
