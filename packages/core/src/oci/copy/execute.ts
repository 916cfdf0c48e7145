import { pipeline } from 'node:stream';
import type { Readable } from 'node:stream';
import { mapLimit } from '../../concurrency.js';
import { throwIfCancelled } from '../../errors.js';
import { retryDecision, withRetry } from '../../retry.js';
import type { RetryPolicy } from '../../retry.js';
import type { Logger } from '../../log/logger.js';
import { TransferProgress } from '../../log/progress.js';
import { VerifyingStream } from '../ref/digest.js';
import type { Descriptor } from '../ref/media.js';
import type { Plan, PlannedManifest } from './plan.js';
import type { Repo } from '../repo/repo.js';

export interface ExecuteOptions {
  parallel: number;
  /** Attempts at a whole blob or manifest transfer (a stream cannot be replayed by the HTTP layer). */
  retry: RetryPolicy;
  log: Logger;
  signal?: AbortSignal;
}

export interface Transferred {
  blobsCopied: number;
  blobsMounted: number;
  bytesCopied: number;
  manifestsPut: number;
  tagsPut: number;
}

/**
 * Walks a plan: blobs (mounted or streamed, digest checked on the way),
 * then manifests by digest with children before parents and referrers after
 * their subject, then tags. A tag is written only when everything it reaches
 * is in place, so it never points at incomplete or wrong content.
 */
export async function executePlan(plan: Plan, source: Repo, target: Repo, opts: ExecuteOptions): Promise<Transferred> {
  const out: Transferred = { blobsCopied: 0, blobsMounted: 0, bytesCopied: 0, manifestsPut: 0, tagsPut: 0 };
  const todo = plan.blobs.filter((b) => b.action !== 'present');
  const progress = new TransferProgress(
    opts.log,
    'copying blobs',
    todo.length,
    todo.filter((b) => b.action === 'copy').reduce((n, b) => n + b.descriptor.size, 0),
  );

  // Large blobs first: the long poles start early, small ones fill the gaps.
  todo.sort((a, b) => b.descriptor.size - a.descriptor.size);
  await mapLimit(
    todo,
    opts.parallel,
    async (b) => {
      let session: string | undefined;
      if (b.action === 'mount' && target.mountBlob) {
        const r = await target.mountBlob(b.descriptor, source);
        if (r.mounted) {
          out.blobsMounted++;
          progress.itemDone();
          return;
        }
        session = r.session;
      }
      await withRetry(
        async (attempt) => {
          let sent = 0;
          try {
            // A mount's upload session serves the first attempt only.
            await copyBlob(source, target, b.descriptor, attempt === 1 ? session : undefined, (n) => {
              sent += n;
              progress.add(n);
            });
          } catch (err) {
            progress.add(-sent);
            throw err;
          }
        },
        retryDecision,
        opts.retry,
        (err, attempt) =>
          opts.log.warn(
            `blob ${b.descriptor.digest}: ${(err as Error).message}; retrying (attempt ${attempt + 1} of ${opts.retry.attempts})`,
          ),
        opts.signal,
      );
      out.blobsCopied++;
      out.bytesCopied += b.descriptor.size;
      progress.itemDone();
    },
    opts.signal,
  );

  // Children before parents, referrers after subjects: a registry may refuse dangling references.
  // Level by level (a manifest's level is one past its deepest dependency), `parallel` at a time.
  for (const level of levels(plan.manifests)) {
    await mapLimit(
      level.filter((m) => m.action !== 'present'),
      opts.parallel,
      async (m) => {
        await withRetry(() => target.putManifest(m.manifest, m.manifest.digest), retryDecision, opts.retry, undefined, opts.signal);
        out.manifestsPut++;
      },
      opts.signal,
    );
  }

  // Requested tags last of all, after cosign tags and referrer indexes.
  const order = { cosign: 0, referrers: 1, tag: 2 } as const;
  const tags = plan.tags.filter((t) => t.action !== 'present').sort((a, b) => order[a.kind] - order[b.kind]);
  for (const t of tags) {
    // Cancelled between tags, the target still shows only complete images: every tag names content already there.
    throwIfCancelled(opts.signal);
    await withRetry(() => target.putManifest(t.manifest, t.tag), retryDecision, opts.retry, undefined, opts.signal);
    out.tagsPut++;
  }
  return out;
}

/** Manifests grouped so that each one's children and subject come in an earlier group. */
export function levels(manifests: readonly PlannedManifest[]): PlannedManifest[][] {
  const byDigest = new Map(manifests.map((m) => [m.manifest.digest, m]));
  const level = new Map<string, number>();
  const out: PlannedManifest[][] = [];
  for (const start of manifests) {
    // Depth-first without recursion: a dependency's level is known before its dependant's.
    const stack: { m: PlannedManifest; deps: PlannedManifest[] | undefined }[] = [{ m: start, deps: undefined }];
    const onStack = new Set<string>();
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const digest = top.m.manifest.digest;
      if (level.has(digest)) {
        stack.pop();
        continue;
      }
      if (!top.deps) {
        onStack.add(digest);
        top.deps = [...top.m.children, ...(top.m.subject ? [top.m.subject] : [])]
          .map((d) => byDigest.get(d))
          .filter((d): d is PlannedManifest => d !== undefined && !onStack.has(d.manifest.digest));
        stack.push(...top.deps.filter((d) => !level.has(d.manifest.digest)).map((m) => ({ m, deps: undefined })));
        continue;
      }
      stack.pop();
      onStack.delete(digest);
      const l = top.deps.reduce((n, d) => Math.max(n, (level.get(d.manifest.digest) ?? -1) + 1), 0);
      level.set(digest, l);
      (out[l] ??= []).push(top.m);
    }
  }
  return out;
}

/** One streamed GET → upload, hashed on the way through. */
async function copyBlob(
  source: Repo,
  target: Repo,
  d: Descriptor,
  session: string | undefined,
  onBytes: (n: number) => void,
): Promise<void> {
  let src: Readable;
  try {
    src = await source.openBlob(d);
  } catch (err) {
    if (session) await target.cancelUpload?.(session);
    throw err;
  }
  const checked = new VerifyingStream(d.digest, d.size, `blob ${d.digest} from ${source.name}`, onBytes);
  // pipeline ties their fates: a source failure or a wrong digest fails the upload mid-body.
  const body = pipeline(src, checked, () => undefined);
  try {
    await target.writeBlob(d, body, session);
  } finally {
    src.destroy();
  }
  // writeBlob commits only after this check has passed; should a store ever not wait for it, the copy still fails.
  if (checked.errored) throw checked.errored;
}
