import type { Result } from '../context.js';
import { describeCounts, mib, type PlanRow } from '../report/plan.js';
import type { ReportSection, RunStatus } from '../report/report.js';
import { registryName, type GithubTarget, type MirrorConfig, type Target } from './config.js';
import type { DriftRow, DriftStatus } from './check.js';
import type { Transfer } from './execute.js';
import type { Pair, PairStatus } from './plan.js';
import type { Capabilities, RegistryWatch } from './probe.js';
import type { LabelResult } from './targets/description.js';

export const SYNC_STATUSES: readonly PairStatus[] = ['created', 'up to date', 'would create', 'conflict', 'failed', 'skipped'];
export const DRIFT_STATUSES: readonly DriftStatus[] = ['ok', 'missing', 'moved', 'incomplete', 'unreachable'];

/** One line of the JSON report and the grid: an (image, tag) on a target. */
export interface StatusRow {
  image: string;
  tag: string;
  target: string;
  /** registry/repository:tag on the target. */
  reference: string;
  digest: string;
  status: PairStatus | DriftStatus;
  why: string;
  /** Set on a provider version's row (image: namespace/name, tag: version, reference: owner/repo v<version>). */
  kind?: 'provider';
}

export interface ReportInput {
  mode: 'sync' | 'check';
  dryRun: boolean;
  cfg: MirrorConfig;
  shard?: string;
  rows: StatusRow[];
  targets: Target[];
  caps: Map<string, Capabilities>;
  watch: RegistryWatch;
  labels: Map<string, LabelResult[]>;
  transfer?: Transfer;
  plan: PlanRow[];
  /** Provider versions on github-release targets. */
  providerRows?: StatusRow[];
  githubTargets?: GithubTarget[];
}

export function syncRows(pairs: Pair[]): StatusRow[] {
  return pairs.flatMap((p) =>
    p.unit.tags.map((tag) => ({
      image: p.unit.image.name,
      tag,
      target: p.target.name,
      reference: `${p.name}:${tag}`,
      digest: p.unit.digest,
      status: p.status ?? 'skipped',
      why: p.why ?? '',
    })),
  );
}

export function driftRows(rows: DriftRow[]): StatusRow[] {
  return rows.map((r) => ({
    image: r.pair.unit.image.name,
    tag: r.tag,
    target: r.pair.target.name,
    reference: `${r.pair.name}:${r.tag}`,
    digest: r.pair.unit.digest,
    status: r.status,
    why: r.why,
  }));
}

function count(rows: StatusRow[], statuses: readonly string[]): Record<string, number> {
  const c: Record<string, number> = Object.fromEntries(statuses.map((s) => [s, 0]));
  for (const r of rows) c[r.status] = (c[r.status] ?? 0) + 1;
  return c;
}

/** Worst first: what a grid cell shows when several rows share it. */
const SEVERITY = [
  'failed',
  'unreachable',
  'conflict',
  'moved',
  'missing',
  'incomplete',
  'skipped',
  'would create',
  'created',
  'up to date',
  'ok',
];
function worst(statuses: string[]): string {
  return [...statuses].sort((a, b) => SEVERITY.indexOf(a) - SEVERITY.indexOf(b))[0] ?? '';
}

export function runStatus(mode: 'sync' | 'check', dryRun: boolean, rows: StatusRow[]): RunStatus {
  if (mode === 'check') return rows.some((r) => r.status !== 'ok') ? 'drift' : 'done';
  if (rows.some((r) => r.status === 'failed' || r.status === 'conflict' || r.status === 'skipped')) return 'failed';
  if (dryRun) return 'dry-run';
  return rows.every((r) => r.status === 'up to date') ? 'no-op' : 'done';
}

/** The Result: outputs (JSON per target, rows, digests written, counts), the plan, and the report people read. */
export function mirrorResult(input: ReportInput): Result {
  const providerRows = input.providerRows ?? [];
  const gh = input.githubTargets ?? [];
  const r: ReportInput = { ...input, rows: [...input.rows, ...providerRows] };
  const imageRows = input.rows;
  const statuses = r.mode === 'check' ? DRIFT_STATUSES : SYNC_STATUSES;
  const status = runStatus(r.mode, r.dryRun, r.rows);
  const counts = count(r.rows, statuses);
  const probe = new Map(r.targets.map((t) => [t.name, r.caps.get(t.name)!.describe(r.watch.rateLimits.get(t.registry))]));

  const perTarget: Record<string, unknown> = {};
  for (const t of r.targets) {
    const mine = r.rows.filter((x) => x.target === t.name);
    const labels = r.labels.get(t.name) ?? [];
    const stats = r.transfer?.perTarget.get(t.name);
    perTarget[t.name] = {
      registry: registryName(t.registry),
      status: mine.length === 0 ? 'none' : worst(mine.map((x) => x.status)),
      counts: count(mine, statuses),
      probe: probe.get(t.name),
      requests: Object.fromEntries(r.watch.requests.get(t.registry) ?? []),
      ...(labels.length > 0 && { labels: labels.map((l) => `${l.status}${l.why ? `: ${l.why}` : ''}`) }),
      ...(stats && { transfer: stats }),
    };
  }
  for (const t of gh) {
    const mine = providerRows.filter((x) => x.target === t.name);
    perTarget[t.name] = {
      kind: 'github-release',
      repository: t.repository,
      api: t.apiUrl,
      status: mine.length === 0 ? 'none' : worst(mine.map((x) => x.status)),
      counts: count(mine, statuses),
    };
  }
  const written = r.rows.filter((x) => x.status === 'created').map((x) => `${x.reference}@${x.digest}`);

  const images = [...new Set(imageRows.map((x) => `${x.image}:${x.tag}`))];
  const grid: ReportSection = {
    heading: r.mode === 'check' ? 'Drift (images × targets)' : 'Mirrors (images × targets)',
    table: {
      head: ['image:tag', ...r.targets.map((t) => t.name)],
      rows: images.map((it) => [
        it,
        ...r.targets.map((t) => {
          const cell = imageRows.filter((x) => `${x.image}:${x.tag}` === it && x.target === t.name).map((x) => x.status);
          return cell.length ? worst(cell) : '—';
        }),
      ]),
    },
  };
  const troubled = r.rows.filter((x) => x.why && x.status !== 'ok' && x.status !== 'up to date' && x.status !== 'created');
  const versions = [...new Set(providerRows.map((x) => `${x.image} ${x.tag}`))];
  const providerGrid: ReportSection = {
    heading: r.mode === 'check' ? 'Drift (provider versions × GitHub releases)' : 'Provider releases (versions × GitHub releases)',
    table: {
      head: ['provider version', ...gh.map((t) => `${t.name} (${t.repository})`)],
      rows: versions.map((v) => [
        v,
        ...gh.map((t) => providerRows.find((x) => `${x.image} ${x.tag}` === v && x.target === t.name)?.status ?? '—'),
      ]),
    },
  };
  const sections: ReportSection[] = [
    { heading: 'Summary', text: summaryLine(r, counts, status, imageRows, providerRows, gh.length) },
    ...(imageRows.length || !providerRows.length ? [grid] : []),
    ...(providerRows.length ? [providerGrid] : []),
    ...(troubled.length
      ? [
          {
            heading: r.mode === 'check' ? 'Findings' : 'Problems',
            table: { head: ['reference', 'status', 'why'], rows: troubled.map((x) => [x.reference, x.status, x.why]) },
          },
        ]
      : []),
    {
      heading: 'Targets (capability probe)',
      table: {
        head: ['target', 'registry', 'referrers', 'artifacts', 'mounts', 'tag immutability', 'rate limit', 'requests', 'label'],
        rows: r.targets.map((t) => {
          const p = probe.get(t.name)!;
          const req = r.watch.requests.get(t.registry);
          const labels = r.labels.get(t.name) ?? [];
          return [
            t.name,
            registryName(t.registry),
            p.referrers!,
            p.artifacts!,
            p.mounts!,
            p['tag immutability']!,
            p['rate limit']!,
            req ? [...req].map(([m, n]) => `${n} ${m}`).join(', ') : '',
            labelSummary(labels),
          ];
        }),
      },
      // What each target supports and what it was asked: for the one debugging a target, not the first read.
      collapsed: true,
    },
  ];
  if (r.transfer) {
    sections.push({
      heading: 'Transfer',
      table: {
        head: ['target', 'blobs uploaded', 'MiB uploaded', 'blobs mounted', 'manifests', 'tags'],
        rows: r.targets.map((t) => {
          const s = r.transfer!.perTarget.get(t.name);
          return [
            t.name,
            String(s?.blobsCopied ?? 0),
            mib(s?.bytesCopied ?? 0),
            String(s?.blobsMounted ?? 0),
            String(s?.manifestsPut ?? 0),
            String(s?.tagsPut ?? 0),
          ];
        }),
      },
    });
  }
  if (r.plan.length) sections.push({ heading: 'Plan', text: describeCounts(r.plan) || 'nothing' });

  return {
    outputs: {
      status,
      targets: perTarget,
      results: { mode: r.mode, ...(r.shard && { shard: r.shard }), rows: r.rows as unknown as Record<string, unknown>[] } as unknown as {
        [k: string]: unknown;
      },
      digests: written,
      counts: {
        ...counts,
        ...(r.transfer && { 'source-bytes': r.transfer.sourceBytes, 'source-blobs': r.transfer.sourceBlobs }),
      },
    },
    plan: r.plan,
    report: {
      title: `mirror-artifact ${r.mode}${r.dryRun ? ' (dry run)' : ''}: ${r.cfg.file}${r.shard ? ` shard ${r.shard}` : ''}`,
      status,
      counts: countWords(counts),
      sections,
    },
  };
}

/** "2 created, 1 up to date": the statuses that occurred. */
function countWords(counts: Record<string, number>): string {
  return Object.entries(counts)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`)
    .join(', ');
}

function labelSummary(labels: LabelResult[]): string {
  if (labels.length === 0) return '';
  const by = new Map<string, number>();
  for (const l of labels) {
    const k = l.why ? `${l.status}: ${l.why}` : l.status;
    by.set(k, (by.get(k) ?? 0) + 1);
  }
  return [...by].map(([k, n]) => (labels.length > 1 ? `${n}× ${k}` : k)).join('; ');
}

function summaryLine(
  r: ReportInput,
  counts: Record<string, number>,
  status: RunStatus,
  imageRows: StatusRow[],
  providerRows: StatusRow[],
  githubTargets: number,
): string {
  const images = new Set(imageRows.map((x) => `${x.image}:${x.tag}`)).size;
  const versions = new Set(providerRows.map((x) => `${x.image} ${x.tag}`)).size;
  const what = [
    ...(images || !versions ? [`${plural(images, 'image tag')} × ${plural(r.targets.length, 'target')}`] : []),
    ...(versions ? [`${plural(versions, 'provider version')} × ${plural(githubTargets, 'GitHub release target')}`] : []),
  ].join(' and ');
  let line = `${status}: ${what}: ${countWords(counts) || 'nothing to do'}`;
  if (r.transfer) {
    const up = [...r.transfer.perTarget.values()].reduce((n, s) => n + s.bytesCopied, 0);
    line += `; ${mib(r.transfer.sourceBytes)} MiB read from the sources (${r.transfer.sourceBlobs} blobs, each once), ${mib(up)} MiB uploaded`;
  }
  return line;
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
