import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { mapLimit } from '../concurrency.js';
import type { Context, Result } from '../context.js';
import { CancelledError, GateError, InputError, badInput, errorMessage, throwIfCancelled } from '../errors.js';
import type { InputCredentials } from '../oci/repo/auth/credentials.js';
import type { AwsConfig } from '../oci/ecr/client.js';
import { ecrRegistry } from '../oci/ref/hosts.js';
import { ecrTagImmutability } from '../oci/ecr/immutability.js';
import { parseManifest } from '../oci/ref/media.js';
import type { OciSession } from '../oci/repo/session.js';
import type { PlanRow } from '../report/plan.js';
import { DEFAULTS } from '../defaults.js';
import { checkPair } from './check.js';
import { checkNamedVariables } from '../inputs/variables.js';
import { signaturePolicy, type SignaturePolicy } from '../oci/signatures/policy.js';
import { requireSignature } from '../oci/signatures/verify.js';
import { labelFor, loadMirrorConfig, registryName, targetRepository, type Image, type Target } from './config.js';
import { deliverBlobs, moveTags, putContent, Transfer, type ExecOptions } from './execute.js';
import { addHolder, fail, newPair, pairRows, planPair, scheduleBlobs, upToDate, type Holders, type Pair } from './plan.js';
import { Capabilities, RegistryWatch } from './probe.js';
import { planProviders, runProviders, type ProviderPlan } from './providers.js';
import { driftRows, mirrorResult, syncRows, type ReportInput } from './report.js';
import type { Store } from '../store/store.js';
import { parseShard, readUnits, selectTags, TagLists } from './source.js';
import { Labeller, type LabelResult } from './targets/description.js';

export interface MirrorRequest {
  config: string;
  version?: string;
  tiers: string[];
  mode: 'sync' | 'check';
  dryRun: boolean;
  parallel: number;
  shard?: string;
  failFast: boolean;
  /** What every image's signature must satisfy: on its source before any write, on every target after (and in check). */
  signatures?: SignaturePolicy;
}

/**
 * mirror-artifact: read the mirror file (refusing before any network use),
 * read each source image once, then either classify every mirror (check) or
 * plan, gate, publish content everywhere, verify, and only then move tags
 * (sync). Targets fail one by one; the report says which and why.
 */
export async function runMirror(
  req: MirrorRequest,
  ctx: Context,
  /** Opens the OCI session (the operation's: ECR keychain, test overrides) with the mirror file's credentials. */
  openSession: (credentials: InputCredentials) => { session: OciSession; aws: AwsConfig },
  /** Opens a provider's first-party store (the operation's: S3 endpoint from the environment). */
  openStore?: (url: string, field: string) => Store,
): Promise<Result> {
  const { log } = ctx;
  if (!Number.isInteger(req.parallel) || req.parallel < 1 || req.parallel > 64)
    badInput('parallel', 'an integer from 1 to 64', String(req.parallel));
  const shard = parseShard(req.shard);
  const cfg = await loadMirrorConfig(req.config, { env: ctx.env, cwd: ctx.cwd, tiers: req.tiers, plan: req.dryRun });
  if (cfg.anonymous.length)
    log.warn(
      `dry run without ${cfg.anonymous.join(', ')}: the targets that name them are read anonymously, as the public reads them (a plan job holds no secrets)`,
    );
  checkNamedVariables(ctx, cfg.variables, `the mirror file ${req.config}`);
  const usedTargets = [...new Map(cfg.images.flatMap((i) => i.targets).map((t) => [t.name, t])).values()];
  const policies = await imagePolicies(cfg.images, req.signatures, path.dirname(path.resolve(ctx.cwd, req.config)), cfg.file);

  const credentials: InputCredentials = {};
  for (const t of usedTargets) {
    if (t.credentials) {
      credentials[t.registry] = {
        credential: { kind: 'basic', username: t.credentials.username, password: t.credentials.password },
        source: t.credentials.from,
      };
    }
  }
  const { session, aws } = openSession(credentials);
  const watch = new RegistryWatch();
  const lists = new TagLists(session, log);
  const caps = new Map(usedTargets.map((t) => [t.name, new Capabilities(t)]));
  const labels = new Map<string, LabelResult[]>();
  const parallel = req.parallel;
  // Reading and planning are round trips, not bytes: more at once than the transfers.
  const many = Math.max(parallel, DEFAULTS.mirrorPlanParallel);
  const base = {
    mode: req.mode,
    dryRun: req.dryRun,
    cfg,
    ...(req.shard && { shard: req.shard }),
    targets: usedTargets,
    caps,
    watch,
    labels,
  };
  // Provider versions to their GitHub releases: planned with the images (before the plan is approved), carried out after them.
  const providerOptions = () => {
    if (!openStore) throw new Error('mirror-artifact: providers need a store opener');
    return {
      mode: req.mode,
      dryRun: req.dryRun,
      parallel,
      http: session.http,
      log,
      openStore,
      ...(req.version !== undefined && { version: req.version }),
      ...(ctx.signal && { signal: ctx.signal }),
    };
  };
  const planReleases = async (): Promise<ProviderPlan | undefined> => {
    if (cfg.providers.length === 0) return undefined;
    const planned = await log.group(
      req.mode === 'check' ? 'Checking provider releases' : 'Planning provider releases (the store verified, each release read)',
      () => planProviders(cfg, providerOptions()),
    );
    ctx.record?.addPlan(planned.rows);
    return planned;
  };
  const finish = async (r: ReportInput, planned: ProviderPlan | undefined): Promise<Result> => {
    if (!planned) return mirrorResult(r);
    const providerRows =
      req.mode === 'check'
        ? planned.units.map((u) => u.decided!)
        : await log.group('Provider releases (draft, upload, read back, publish)', () => runProviders(planned, providerOptions()));
    const githubTargets = [...new Map(cfg.providers.flatMap((p) => p.targets).map((t) => [t.name, t])).values()];
    return mirrorResult({ ...r, plan: [...r.plan, ...planned.rows], providerRows, githubTargets });
  };
  try {
    if (cfg.images.length === 0) {
      const planned = await planReleases();
      if (req.mode === 'sync') ctx.record?.approve(); // refuse here, before any write, if the plan is not the approved one
      return await finish({ ...base, rows: [], plan: [] }, planned);
    }
    const wanted = await log.group('Selecting tags', async () => {
      const w = await selectTags(
        cfg.images,
        { ...(req.version !== undefined && { version: req.version }), ...(shard && { shard }) },
        many,
        lists,
      );
      log.info(
        `${w.length} image tags${shard ? ` in shard ${req.shard}` : ''}: ${w.map((x) => `${x.image.name}:${x.tag}`).join(', ') || 'none'}`,
      );
      return w;
    });
    throwIfCancelled(ctx.signal);
    const units = await log.group('Reading sources', () => readUnits(wanted, session, many, log, lists));
    throwIfCancelled(ctx.signal);

    // Tag immutability from ECR's API where a target is ECR; the mirror file's override wins.
    await Promise.all(
      usedTargets.map(async (t) => {
        const c = caps.get(t.name)!;
        if (c.immutability || !ecrRegistry(t.registry)) return;
        const first = cfg.images.find((i) => i.targets.includes(t));
        const im = first && (await ecrTagImmutability(t.registry, targetRepository(t, first.name), aws, log));
        if (im) c.immutability = { immutable: im, from: 'ECR' };
      }),
    );

    const access = req.mode === 'check' ? 'pull' : 'push';
    const pairs: Pair[] = [];
    for (const u of units) {
      for (const t of u.image.targets) {
        const reg = session.registry(t.registry);
        watch.watch(reg);
        pairs.push(newPair(u, t, caps.get(t.name)!, reg, targetRepository(t, u.image.name), access));
      }
    }
    for (const u of units) watch.watch(session.registry(u.image.source.registry));

    if (req.mode === 'check') {
      const rows = await log.group('Checking mirrors', async () => {
        const r = (await mapLimit(pairs, many, (p) => checkPair(p, many, policies.get(p.unit.image.index)), ctx.signal)).flat();
        for (const x of r) if (x.status !== 'ok') log.warn(`${x.pair.name}:${x.tag}: ${x.status}${x.why ? ` (${x.why})` : ''}`);
        return r;
      });
      return await finish({ ...base, rows: driftRows(rows), plan: [] }, await planReleases());
    }

    // Refusals that need the source read, before any target is touched.
    const lacking = units.find((u) => u.missingPlatforms.length > 0);
    if (lacking) {
      throw new GateError(
        `${cfg.file}: images[${lacking.image.index}] ${lacking.image.sourceText}:${lacking.tags.join(',')} lacks platform ${lacking.missingPlatforms.join(', ')} (platforms: ${lacking.image.platforms.join(', ')}); nothing written`,
      );
    }

    const signed = units.filter((u) => u.graph && policies.get(u.image.index));
    if (signed.length) {
      await log.group('Signatures (each source, before anything is written)', () =>
        mapLimit(
          signed,
          many,
          async (u) => {
            const found = await requireSignature(u.source, u.digest, u.graph!.root.bytes, policies.get(u.image.index)!, 'source');
            log.info(`${u.image.name}:${u.tags.join(',')}: ${found}`);
          },
          ctx.signal,
        ),
      );
    }

    const plan = await log.group('Planning (HEAD only where the mirror is up to date)', async () => {
      await mapLimit(
        pairs,
        many,
        async (p) => {
          if (p.unit.error) return fail(p, p.unit.error);
          try {
            await planPair(p, many);
          } catch (err) {
            if (err instanceof CancelledError) throw err;
            fail(p, errorMessage(err));
          }
        },
        ctx.signal,
      );
      const holders: Holders = new Map();
      for (const u of units) {
        if (!u.graph) continue;
        for (const d of u.graph.blobs.keys()) addHolder(holders, u.source.registry, d, u.source.repository, u.source);
      }
      // A repository holds the blobs it was found with, and those of the manifests it has (checked at their PUT).
      for (const p of pairs) {
        if (!p.unit.graph || p.status) continue;
        for (const b of p.blobs)
          if (b.action === 'present') addHolder(holders, p.target.registry, b.descriptor.digest, p.repository, p.repo);
        for (const m of p.manifests) {
          if (m.action !== 'present') continue;
          for (const b of parseManifest(m.manifest).blobs) addHolder(holders, p.target.registry, b.digest, p.repository, p.repo);
        }
      }
      const jobs = scheduleBlobs(pairs, holders);
      const rows: PlanRow[] = [];
      for (const p of pairs) {
        if (!p.unit.graph) continue;
        p.rows = pairRows(p);
        rows.push(...p.rows);
        const what = p.status ? `${p.status}: ${p.why}` : upToDate(p) ? 'up to date' : planSummary(p);
        log.info(`${p.name} ← ${p.unit.image.name}:${p.unit.tags.join(',')}: ${what}`);
      }
      ctx.record?.addPlan(rows);
      return { jobs, rows };
    });

    quotaGate(pairs, watch, usedTargets);
    const planned = await planReleases();
    ctx.record?.approve(); // the plan is complete: refuse here, before any write, if it is not the approved one (expect-plan)

    if (req.dryRun) {
      for (const p of pairs) if (!p.status) p.status = upToDate(p) ? 'up to date' : 'would create';
      log.info('dry run: nothing written');
      return await finish({ ...base, rows: syncRows(pairs), plan: plan.rows }, planned);
    }

    const transfer = new Transfer();
    const tmp = await mkdtemp(path.join(tmpdir(), 'relay-mirror-'));
    const opts: ExecOptions = {
      parallel,
      retry: { ...session.http.policy, attempts: DEFAULTS.ociTransferAttempts },
      log,
      ...(ctx.signal && { signal: ctx.signal }),
      failFast: req.failFast,
      tmpDir: tmp,
    };
    try {
      await log.group('Content: blobs (each source blob read once, streamed to every target lacking it)', () =>
        deliverBlobs(plan.jobs, transfer, opts),
      );
      await log.group('Content: manifests by digest, read back', () => putContent(pairs, transfer, opts));
      await log.group('Tags, on verified content only', () => moveTags(pairs, transfer, opts));
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    for (const p of pairs) {
      if (p.status) continue;
      p.status = 'skipped';
      p.why = 'not started: stopped after the first failure (fail-fast)';
    }
    if (signed.length) await log.group('Signatures on every target', () => verifyTargets(pairs, policies, many, ctx.signal));
    await log.group('Labels', () => setLabels(pairs, new Labeller(session.http, log), labels, transfer.stopped));
    for (const r of plan.rows) r.result = r.action === 'skip' ? 'unchanged' : 'written';
    for (const p of pairs)
      if (p.status === 'failed' || p.status === 'skipped') for (const r of p.rows) if (r.action !== 'skip') r.result = 'failed';
    for (const p of pairs)
      if (p.status === 'failed' || p.status === 'conflict')
        log.warn(`${p.name} ← ${p.unit.image.name}:${p.unit.tags.join(',')}: ${p.status}: ${p.why}`);
    return await finish({ ...base, rows: syncRows(pairs), plan: plan.rows, transfer }, planned);
  } finally {
    session.close();
  }
}

function planSummary(p: Pair): string {
  const blobs = p.blobs.filter((b) => b.action !== 'present');
  const bytes = blobs.filter((b) => b.action === 'copy').reduce((n, b) => n + b.descriptor.size, 0);
  return [
    `${p.manifests.filter((m) => m.action === 'put').length} manifests`,
    `${blobs.filter((b) => b.action === 'copy').length} blobs to upload (${(bytes / 1048576).toFixed(1)} MiB)`,
    `${blobs.filter((b) => b.action === 'mount').length} to mount`,
    `${p.tags.filter((t) => t.action !== 'present').length} tags`,
  ].join(', ');
}

/**
 * Refuses, before anything is written, a run whose manifest reads (the
 * read-back of each manifest written; HEADs are free) exceed what a
 * registry's `ratelimit-remaining` allows (Docker Hub's pull quota).
 */
export function quotaGate(pairs: Pair[], watch: RegistryWatch, targets: Target[]): void {
  for (const [host, rl] of watch.rateLimits) {
    if (rl.remaining === undefined) continue;
    const mine = pairs.filter((p) => p.target.registry === host && !p.status);
    const needed = mine.reduce((n, p) => n + p.pulls, 0);
    if (needed <= rl.remaining) continue;
    const names = [...new Set(targets.filter((t) => t.registry === host).map((t) => t.name))].join(', ');
    throw new GateError(
      `registry ${registryName(host)} (target ${names}): the plan needs ${needed} pulls (a read-back GET of each manifest it writes) but only ${rl.remaining} remain (ratelimit-remaining: ${rl.remainingText ?? rl.remaining}${rl.limit ? `, limit ${rl.limit}` : ''}); nothing written`,
    );
  }
}

type Policies = Map<number, SignaturePolicy | undefined>;

/**
 * Each image's signature policy: its `signature` in the mirror file (paths
 * relative to the file), else the operation's inputs. Read before any
 * network use; a bad one is refused naming the file and the image.
 */
async function imagePolicies(images: Image[], fallback: SignaturePolicy | undefined, dir: string, file: string): Promise<Policies> {
  const out: Policies = new Map();
  for (const img of images) {
    if (!img.signature) {
      out.set(img.index, fallback);
      continue;
    }
    const s = img.signature;
    try {
      out.set(
        img.index,
        await signaturePolicy(
          {
            'require-signature': true,
            'signature-key': s.key,
            'signature-identity': s.identity,
            'signature-issuer': s.issuer,
            'trusted-root': s['trusted-root'],
          },
          dir,
        ),
      );
    } catch (err) {
      // The policy's messages name the operation's inputs; here they are the file's fields.
      const msg = errorMessage(err)
        .replace(/input '(?:signature-)?(key|identity|issuer|trusted-root)'/, '$1')
        .replace(/input 'require-signature'/, 'signature')
        .replace(/signature-(key|identity|issuer)/g, '$1');
      if (err instanceof InputError) throw new InputError(`${file}: images[${img.index}].signature: ${msg}`);
      throw err;
    }
  }
  return out;
}

/** Each mirror just made or found up to date must carry a signature the policy accepts for its digest; one that does not fails. */
async function verifyTargets(pairs: Pair[], policies: Policies, parallel: number, signal?: AbortSignal): Promise<void> {
  await mapLimit(
    pairs.filter((p) => p.unit.graph && policies.get(p.unit.image.index) && (p.status === 'created' || p.status === 'up to date')),
    parallel,
    async (p) => {
      try {
        await requireSignature(p.repo, p.unit.digest, p.unit.graph!.root.bytes, policies.get(p.unit.image.index)!, 'target');
      } catch (err) {
        if (err instanceof CancelledError) throw err;
        p.status = 'failed';
        p.why = errorMessage(err);
      }
    },
    signal,
  );
}

async function setLabels(pairs: Pair[], labeller: Labeller, out: Map<string, LabelResult[]>, stopped: boolean): Promise<void> {
  const groups = new Map<string, Pair[]>();
  for (const p of pairs) {
    const k = `${p.unit.image.index}\0${p.target.name}`;
    groups.set(k, [...(groups.get(k) ?? []), p]);
  }
  for (const group of groups.values()) {
    const p = group[0]!;
    const list = out.get(p.target.name) ?? [];
    out.set(p.target.name, list);
    const ok = group.every((x) => x.status === 'created' || x.status === 'up to date');
    if (!ok || stopped) {
      list.push({ status: 'skipped', why: 'the mirror did not complete' });
      continue;
    }
    const r = await labeller.label(p.target, p.repository, labelFor(p.unit.image, p.target));
    list.push(r);
  }
}
