import { DEFAULTS } from '../../defaults.js';
import { badInput } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import { mib } from '../../report/plan.js';
import type { RunRecord } from '../../report/recorder.js';
import type { PlanRow } from '../../report/plan.js';
import type { RetryPolicy } from '../../retry.js';
import { TAG_PATTERN, formatReference, isTag, joinRef } from '../ref/reference.js';
import type { Reference } from '../ref/reference.js';
import type { Repo } from '../repo/repo.js';
import type { OciSession } from '../repo/session.js';
import { executePlan } from './execute.js';
import { readGraph } from './graph.js';
import type { SourceGraph } from './graph.js';
import type { CopyResult } from './result.js';
import { planCopy, type Plan } from './plan.js';
import { planLines, planRows } from './report.js';
import { verifyCopy } from './verify.js';

export interface CopyRequest {
  source: Reference;
  destination: Reference;
  /** Extra target tags; default: the destination's tag, else the source's. */
  tags: string[];
  dryRun: boolean;
  /** Whether the target refuses to move a tag: all tags (true) or per tag (ECR exclusion filters). */
  immutable: boolean | ((tag: string) => boolean);
  /** Blobs and manifests in flight at once. */
  parallel?: number;
  /** Whole-transfer attempts (blob streams, a digest that did not match on the wire). */
  retry?: RetryPolicy;
  /** Where the plan is recorded as soon as it exists (the face reports it if the run then fails). */
  record?: RunRecord;
  /** Manifests the image may bring before it is refused; default DEFAULTS.ociMaxGraphManifests. */
  maxManifests?: number;
  /** Runs once the source is read, before the target is touched (promotion gates, signatures). */
  gate?: (g: SourceGraph, source: Repo) => Promise<void>;
  /**
   * Rows of what the caller writes once the copy is verified (a promotion
   * statement attached to the image), planned (reads only) with the copy's so
   * that approval binds them; the caller sets their results.
   */
  moreRows?: (plan: Plan, target: Repo) => Promise<PlanRow[]>;
  /** Runs on the target once the copy is read back (signatures verified where they were copied to); not in a dry run. */
  afterCopy?: (target: Repo, digest: string, manifest: Buffer) => Promise<void>;
}

export type { CopyResult } from './result.js';

/** What tags the target gets: the destination's tag plus `tags`; without either, the source's tag. */
export function targetTags(req: Pick<CopyRequest, 'source' | 'destination' | 'tags'>): string[] {
  for (const t of req.tags) if (!isTag(t)) badInput('tags', `tags matching ${TAG_PATTERN}`, t);
  const tags = [...(req.destination.tag ? [req.destination.tag] : []), ...req.tags];
  if (tags.length === 0 && req.source.tag) tags.push(req.source.tag);
  return [...new Set(tags)];
}

/** What the source reference names: its digest, else its tag, else what the repository defaults to. */
async function sourceRef(ref: Reference, repo: Repo): Promise<string> {
  const r = ref.digest ?? ref.tag ?? (await repo.defaultReference());
  if (r === undefined) badInput('source', `a tag or digest (${repo.name} holds no image to default to)`, formatReference(ref));
  return r;
}

/** Plan → (gate) → execute → verify: the one way Relay moves an image. */
export async function ociCopy(req: CopyRequest, session: OciSession, log: Logger, signal?: AbortSignal): Promise<CopyResult> {
  if (req.destination.digest) badInput('destination', 'a repository or repository:tag, not a digest', formatReference(req.destination));
  const tags = targetTags(req);
  const source = session.open(req.source, 'pull');
  const target = session.open(req.destination, 'push');
  if (target.requiresTag && tags.length === 0) {
    badInput('tags', `a tag for ${target.name} (an untagged image there is unreachable)`);
  }
  const parallel = req.parallel ?? DEFAULTS.ociParallel;
  const retry = req.retry ?? { ...session.http.policy, attempts: DEFAULTS.ociTransferAttempts };
  const ref = await sourceRef(req.source, source);

  const graph = await log.group(`Read ${joinRef(source.name, ref)}`, async () => {
    const g = await readGraph(source, ref, {
      parallel,
      ...(req.maxManifests && { maxManifests: req.maxManifests }),
      ...(signal && { signal }),
    });
    log.info(
      `${g.root.digest} (${g.root.mediaType}): ${g.nodes.size} manifests, ${g.blobs.size} blobs, ${g.cosignTags.length} cosign tags, ${[...g.referrers.values()].flat().length} referrers`,
    );
    return g;
  });
  if (req.gate) await req.gate(graph, source);
  const plan = await log.group(`Plan ${target.name}`, async () => {
    const p = await planCopy(graph, source, target, {
      tags,
      immutable: typeof req.immutable === 'function' ? req.immutable : () => req.immutable === true,
      parallel,
      ...(signal && { signal }),
    });
    for (const line of planLines(p)) log.info(line);
    return p;
  });
  const rows = planRows(plan);
  const more = (await req.moreRows?.(plan, target)) ?? [];
  req.record?.addPlan([...rows, ...more]);
  req.record?.approve(); // the plan is complete: refuse here, before any write, if it is not the approved one

  const images = [...tags.map((t) => `${target.name}:${t}@${plan.root.digest}`), `${target.name}@${plan.root.digest}`];
  if (req.dryRun) {
    log.info('dry run: nothing written');
    return { digest: plan.root.digest, images, plan, graph, verified: [], rows: [...rows, ...more] };
  }
  const started = Date.now();
  const transferred = await log.group(`Copy to ${target.name}`, () =>
    executePlan(plan, source, target, { parallel, retry, log, ...(signal && { signal }) }),
  );
  for (const r of rows) r.result = r.action === 'skip' ? 'unchanged' : 'written';
  const seconds = (Date.now() - started) / 1000;
  log.info(
    `${transferred.blobsCopied} blobs copied (${mib(transferred.bytesCopied)} MiB in ${seconds.toFixed(1)} s), ${transferred.blobsMounted} mounted, ${transferred.manifestsPut} manifests and ${transferred.tagsPut} tags written`,
  );
  const verified = await log.group('Verify', async () => {
    const v = await verifyCopy(plan, target, graph.referrers, parallel, signal);
    log.info(`${v.manifests} manifests written and the ${v.blobs} blobs they reference found on the target at their sizes`);
    log.info(`${v.references.length} references resolve to the expected digests`);
    return v.references;
  });
  if (req.afterCopy) await req.afterCopy(target, graph.root.digest, graph.root.bytes);
  return {
    digest: plan.root.digest,
    images,
    plan,
    graph,
    transferred,
    verified,
    rows: [...rows, ...more],
  };
}
