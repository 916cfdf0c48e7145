import { Semaphore, mapLimit, sleep } from '../concurrency.js';
import { CancelledError, ConflictError, RelayError, errorMessage, throwIfCancelled } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { parseManifest } from '../oci/ref/media.js';
import type { PlannedManifest } from '../oci/copy/plan.js';
import { verifyBlobs } from '../oci/copy/verify.js';
import { RegistryError } from '../oci/repo/registry-errors.js';
import { mib } from '../report/plan.js';
import { backoffDelay, isRetryableError, retryDecision, withRetry, type RetryPolicy } from '../retry.js';
import { fail, type BlobJob, type Delivery, type Pair } from './plan.js';
import { Spool } from './spool.js';

export interface ExecOptions {
  parallel: number;
  /** Whole-transfer attempts (a blob upload, a source download, a manifest PUT). */
  retry: RetryPolicy;
  log: Logger;
  signal?: AbortSignal;
  /** Stop starting new work after the first failure. */
  failFast: boolean;
  /** Where spool files go (removed as each blob is delivered). */
  tmpDir: string;
}

export interface TargetStats {
  blobsCopied: number;
  bytesCopied: number;
  blobsMounted: number;
  manifestsPut: number;
  tagsPut: number;
}

/** What the run moved: bytes read from the sources once, and per target what it received. */
export class Transfer {
  sourceBytes = 0;
  sourceBlobs = 0;
  /** Set by the first failure when fail-fast is on: nothing new starts. */
  stopped = false;
  readonly perTarget = new Map<string, TargetStats>();
  stats(target: string): TargetStats {
    let s = this.perTarget.get(target);
    if (!s) this.perTarget.set(target, (s = { blobsCopied: 0, bytesCopied: 0, blobsMounted: 0, manifestsPut: 0, tagsPut: 0 }));
    return s;
  }
}

const short = (d: string): string => d.slice(0, 19);

function failed(t: Transfer, opts: ExecOptions, p: Pair, why: string): void {
  fail(p, why);
  if (opts.failFast) t.stopped = true;
}

const live = (p: Pair): boolean => p.status === undefined;

/**
 * Phase 1, blobs: each source blob is read once into a spool and streamed
 * from it to every repository lacking it; within a registry it is uploaded
 * once and mounted into the other repositories. Downloads and each target's
 * uploads have their own limits, so a slow target works through its queue
 * while the others (and the source) go ahead; what it has yet to take waits
 * on disk. A failing delivery fails its pairs only; the others go on.
 */
export async function deliverBlobs(jobs: BlobJob[], t: Transfer, opts: ExecOptions): Promise<void> {
  const total = jobs.reduce((n, j) => n + j.descriptor.size, 0);
  let doneBytes = 0;
  let last = 0;
  const downloads = new Semaphore(opts.parallel);
  const uploads = new Map<string, Semaphore>();
  const slots = (target: string): Semaphore => {
    let s = uploads.get(target);
    if (!s) uploads.set(target, (s = new Semaphore(opts.parallel)));
    return s;
  };
  // Large blobs first: the long poles start early, small ones fill the gaps (each semaphore is FIFO).
  const order = [...jobs].sort((a, b) => b.descriptor.size - a.descriptor.size);
  const results = await Promise.allSettled(
    order.map(async (job) => {
      await runJob(job, t, opts, downloads, slots);
      doneBytes += job.descriptor.size;
      if (Date.now() - last > 500) {
        last = Date.now();
        opts.log.progress(`blobs: ${mib(doneBytes)}/${mib(total)} MiB`);
      }
    }),
  );
  const cancelled = results.find((r) => r.status === 'rejected');
  if (cancelled) throw (cancelled as PromiseRejectedResult).reason;
}

async function runJob(
  job: BlobJob,
  t: Transfer,
  opts: ExecOptions,
  downloads: Semaphore,
  slots: (target: string) => Semaphore,
): Promise<void> {
  const d0 = job.descriptor;
  const what = `blob ${d0.digest} from ${job.unit.source.name}`;
  let spool: Spool | undefined;
  const spooled = (): Spool => {
    if (!spool) {
      const s = new Spool(d0, opts.tmpDir, what);
      spool = s;
      t.sourceBlobs++;
      void (async () => {
        // No signal on waits: a signal would gain a listener per queued job; running transfers see it.
        const release = await downloads.acquire();
        try {
          throwIfCancelled(opts.signal);
          await s.fill(
            () => job.unit.source.openBlob(d0),
            async (err, attempt) => {
              if (attempt >= opts.retry.attempts || !isRetryableError(err) || opts.signal?.aborted) return false;
              opts.log.warn(`${what}: ${errorMessage(err)}; reading it again (attempt ${attempt + 1} of ${opts.retry.attempts})`);
              await sleep(backoffDelay(opts.retry, attempt), opts.signal);
              return true;
            },
            opts.signal,
          );
        } catch (err) {
          s.abort(err);
        } finally {
          release();
        }
      })();
    }
    return spool;
  };

  const deliver = async (d: Delivery): Promise<boolean> => {
    if (t.stopped || !d.pairs.some(live)) return false;
    const stats = t.stats(d.pairs[0]!.target.name);
    const caps = d.pairs[0]!.caps;
    try {
      // Wait for the upload to mount from before taking a slot: a slot is never held waiting.
      const leaderLanded = d.after ? await d.after.landed : true;
      const release = await slots(d.pairs[0]!.target.name).acquire();
      try {
        throwIfCancelled(opts.signal);
        if (t.stopped || !d.pairs.some(live)) return false;
        let session: string | undefined;
        if (d.action === 'mount' && leaderLanded && d.from) {
          const r = await d.repo.mountBlob(d0, d.from.repo);
          if (r.mounted) {
            caps.mountsHonoured++;
            stats.blobsMounted++;
            for (const p of d.pairs) p.wrote = true;
            return true;
          }
          caps.mountsRefused++;
          session = r.session;
        }
        const s = spooled();
        await withRetry(
          (attempt) => d.repo.writeBlob(d0, s.reader(), attempt === 1 ? session : undefined),
          retryDecision,
          opts.retry,
          (err, attempt) =>
            opts.log.warn(
              `${d.repo.name}: blob ${short(d0.digest)}: ${errorMessage(err)}; retrying (attempt ${attempt + 1} of ${opts.retry.attempts})`,
            ),
          opts.signal,
        );
        stats.blobsCopied++;
        stats.bytesCopied += d0.size;
        for (const p of d.pairs) p.wrote = true;
        return true;
      } finally {
        release();
      }
    } catch (err) {
      if (err instanceof CancelledError) throw err;
      for (const p of d.pairs) failed(t, opts, p, `blob ${short(d0.digest)}: ${errorMessage(err)}`);
      return false;
    }
  };

  const wanted = job.deliveries.filter((d) => d.pairs.some(live));
  try {
    // In deliveries order, so a leader's promise exists before its followers await it.
    for (const d of wanted) d.landed = deliver(d);
    const results = await Promise.allSettled(wanted.map((d) => d.landed!));
    const cancelled = results.find((r) => r.status === 'rejected');
    if (cancelled) throw (cancelled as PromiseRejectedResult).reason;
  } finally {
    const s = spool as Spool | undefined;
    if (s) {
      t.sourceBytes += s.bytesRead;
      await s.dispose();
    }
  }
}

/** An OCI artifact manifest refused as such (not a network or auth failure). */
function artifactRefused(err: unknown): boolean {
  return (
    err instanceof RegistryError &&
    ([400, 405, 415].includes(err.status) || ['MANIFEST_INVALID', 'UNSUPPORTED', 'MANIFEST_UNSUPPORTED'].includes(err.reportedCode ?? ''))
  );
}

/**
 * Phase 1, manifests: each pair's manifests by digest, children before
 * parents and referrers after their subject, then read back (GET, hashed)
 * before any tag may point at them.
 */
export async function putContent(pairs: Pair[], t: Transfer, opts: ExecOptions): Promise<void> {
  await forLivePairs(pairs, t, opts, async (p, stats) => {
    const byDigest = new Map(p.manifests.map((m) => [m.manifest.digest, m]));
    const done = new Map<string, Promise<void>>();
    const put = (m: PlannedManifest): Promise<void> => {
      let pr = done.get(m.manifest.digest);
      if (!pr) {
        pr = (async () => {
          const deps = [...m.children, ...(m.subject ? [m.subject] : [])].map((d) => byDigest.get(d)).filter((d) => d !== undefined);
          await Promise.all(deps.map(put));
          if (m.action === 'present') return;
          try {
            const r = await withRetry(
              () => p.repo.putManifest(m.manifest, m.manifest.digest),
              retryDecision,
              opts.retry,
              undefined,
              opts.signal,
            );
            if (r.subjectHandled) p.caps.subjectHeader = true;
            if (m.role === 'referrer') p.caps.artifacts ??= 'accepted';
          } catch (err) {
            if (m.role === 'referrer' && artifactRefused(err)) {
              p.caps.artifacts = 'refused';
              const type = parseManifest(m.manifest).artifactType ?? 'artifact';
              throw new RelayError(
                'remote',
                `the target refuses the OCI artifact manifest ${short(m.manifest.digest)} (${type}): ${errorMessage(err)}; set overrides.artifacts: false to mirror without referrers`,
              );
            }
            throw err;
          }
          stats.manifestsPut++;
          p.wrote = true;
        })();
        done.set(m.manifest.digest, pr);
      }
      return pr;
    };
    try {
      await Promise.all(p.manifests.map(put));
      await verifyContent(p, opts);
    } catch (err) {
      if (err instanceof CancelledError) throw err;
      failed(t, opts, p, errorMessage(err));
    }
  });
}

/** Runs fn for every pair still live (not failed, not stopped), `parallel` at a time, with that target's counters. */
async function forLivePairs(
  pairs: Pair[],
  t: Transfer,
  opts: ExecOptions,
  fn: (p: Pair, stats: TargetStats) => Promise<void>,
): Promise<void> {
  await mapLimit(
    pairs.filter(live),
    opts.parallel,
    async (p) => {
      if (t.stopped || !live(p)) return;
      await fn(p, t.stats(p.target.name));
    },
    opts.signal,
  );
}

/**
 * Reads back, before any tag may move, what the pair wrote as copy-image does:
 * every manifest (GET by digest, hashed by getManifest), every blob under
 * those manifests and every blob it delivered (HEAD at its size), and, on an
 * API target, its referrer listing. A manifest found present vouches for its
 * blobs (the registry checked them when it was put) only where nothing was
 * written under it.
 */
async function verifyContent(p: Pair, opts: ExecOptions): Promise<void> {
  const written = p.manifests.filter((m) => m.action === 'put');
  await mapLimit(
    written,
    opts.parallel,
    async (m) => {
      const got = await p.repo.getManifest(m.manifest.digest);
      if (!got) throw new RelayError('integrity', `verify: ${p.name}@${m.manifest.digest} is missing after it was written`);
    },
    opts.signal,
  );
  const blobs = new Map<string, number>();
  for (const m of written) for (const b of parseManifest(m.manifest).blobs) blobs.set(b.digest, b.size);
  for (const b of p.blobs) if (b.action !== 'present') blobs.set(b.descriptor.digest, b.descriptor.size);
  await verifyBlobs(p.repo, blobs, opts.parallel, opts.signal);
  if (p.referrers !== 'api') return;
  const g = p.unit.graph!;
  for (const [subject, digests] of g.referrers) {
    if (!digests.some((d) => written.some((m) => m.manifest.digest === d))) continue;
    const listed = new Set(((await p.repo.referrers(subject)) ?? []).map((d) => d.digest));
    const missing = digests.filter((d) => !listed.has(d));
    if (missing.length) throw new RelayError('integrity', `verify: ${p.name} does not list referrer ${missing[0]} of ${subject}`);
  }
}

/**
 * Phase 2, tags: only pairs whose content is verified, and only images
 * whose every pair on that target succeeded (a target that failed an image
 * gets none of its new tags). Cosign tags and fallback indexes first, the
 * requested tags last; each read back.
 */
export async function moveTags(pairs: Pair[], t: Transfer, opts: ExecOptions): Promise<void> {
  const groups = new Map<string, Pair[]>();
  for (const p of pairs) {
    const k = `${p.unit.image.index}\0${p.target.name}`;
    groups.set(k, [...(groups.get(k) ?? []), p]);
  }
  for (const group of groups.values()) {
    const bad = group.find((p) => p.status === 'failed');
    if (!bad) continue;
    for (const p of group) {
      if (!live(p)) continue;
      p.status = 'skipped';
      p.why = `content written but tags withheld: ${bad.unit.image.name}:${bad.unit.tags.join(',')} failed on ${bad.target.name}`;
    }
  }
  const order = { cosign: 0, referrers: 1, tag: 2 } as const;
  await forLivePairs(pairs, t, opts, async (p, stats) => {
    const todo = p.tags.filter((x) => x.action !== 'present').sort((a, b) => order[a.kind] - order[b.kind]);
    try {
      for (const x of todo) {
        await withRetry(() => p.repo.putManifest(x.manifest, x.tag), retryDecision, opts.retry, undefined, opts.signal);
        stats.tagsPut++;
        p.wrote = true;
      }
      await mapLimit(
        todo,
        opts.parallel,
        async (x) => {
          const at = (await p.repo.headManifest(x.tag))?.digest;
          if (at !== x.digest)
            throw new RelayError('integrity', `verify: ${p.name}:${x.tag} resolves to ${at ?? 'nothing'}, expected ${x.digest}`);
        },
        opts.signal,
      );
      p.status = p.wrote ? 'created' : 'up to date';
    } catch (err) {
      if (err instanceof CancelledError) throw err;
      if (err instanceof ConflictError) {
        p.status = 'conflict';
        p.why = errorMessage(err);
        p.caps.immutability ??= { immutable: () => true, from: 'refused a tag move' };
        if (opts.failFast) t.stopped = true;
      } else failed(t, opts, p, errorMessage(err));
    }
  });
}
