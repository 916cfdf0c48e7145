import { mapLimit } from '../concurrency.js';
import { CancelledError, IntegrityError, errorMessage } from '../errors.js';
import type { HttpClient } from '../http/client.js';
import type { Logger } from '../log/logger.js';
import { ABSENT, sha256Digest, type PlanRow } from '../report/plan.js';
import type { Store } from '../store/store.js';
import * as L from '../terraform/layout.js';
import { storeReader, verifyRegistry } from '../terraform/verify.js';
import { tagIsVersion, type GithubTarget, type MirrorConfig, type Provider } from './config.js';
import type { StatusRow } from './report.js';
import { GithubError, GithubReleases, hashStream, watchRegistry, type GhAsset, type GhRelease } from './targets/github-release.js';

/** One file of a provider version as the store holds it; its name is the release asset's (goreleaser's names). */
export interface ReleaseFile {
  name: string;
  key: string;
  size: number;
  sha256: string;
}

/** A provider version read from the first-party store. */
export interface StoreVersion {
  provider: Provider;
  version: string;
  files: ReleaseFile[];
  /** sha256 of SHA256SUMS: what the rows carry as their digest. */
  sumsSha256: string;
  /** The key that signed SHA256SUMS (sync, after verification). */
  keyId?: string;
  store: Store;
}

export interface ProviderRunOptions {
  mode: 'sync' | 'check';
  dryRun: boolean;
  parallel: number;
  http: HttpClient;
  log: Logger;
  openStore: (url: string, field: string) => Store;
  /** Only this version (input 'version'; a leading v allowed). */
  version?: string;
  signal?: AbortSignal;
}

const short = (h: string): string => h.slice(0, 12);

/**
 * Reads a version's files from the store: SHA256SUMS (every zip and the
 * manifest), the signature, and their sizes. With `verify`, the version is
 * first checked as Terraform checks it (signature by a key the registry
 * lists, each zip against SHA256SUMS) through the store.
 */
export async function readStoreVersion(p: Provider, version: string, store: Store, verify: boolean, log: Logger): Promise<StoreVersion> {
  const c = { namespace: p.namespace, name: p.name, version };
  let keyId: string | undefined;
  if (verify) {
    const checks = await verifyRegistry(
      storeReader(store, p.registryUrl),
      { root: p.registryUrl, namespace: p.namespace, name: p.name, versions: [version] },
      log,
    );
    keyId = checks[0]?.keyId;
  }
  const dir = L.storeDir(c);
  const sums = await store.get(dir + L.sumsName(c));
  if (!sums) throw new IntegrityError(`${store.url}: ${p.namespace}/${p.name} ${version} has no ${L.sumsName(c)}`);
  const listed = sums.body
    .toString('utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => l.trim().split(/\s+/) as [string, string]);
  if (!listed.some(([, n]) => n === L.manifestName(c)))
    throw new IntegrityError(
      `${L.sumsName(c)} does not list ${L.manifestName(c)}: registry.terraform.io would skip this version without saying so`,
    );
  const sumsSha256 = (await hashStream((await store.getStream(dir + L.sumsName(c)))!)).sha256;
  const files: ReleaseFile[] = [];
  for (const [sha256, name] of listed) {
    const info = await store.head(dir + name);
    if (!info) throw new IntegrityError(`${store.url}: ${dir + name} (listed in ${L.sumsName(c)}) is missing`);
    files.push({ name, key: dir + name, size: info.size, sha256: sha256.toLowerCase() });
  }
  // The manifest is not among what verifyRegistry hashed: hash it here.
  const m = files.find((f) => f.name === L.manifestName(c))!;
  const got = await hashStream((await store.getStream(m.key))!);
  if (got.sha256 !== m.sha256)
    throw new IntegrityError(`${store.url}: ${m.name} has sha256 ${short(got.sha256)}…, ${L.sumsName(c)} says ${short(m.sha256)}…`);
  files.push({ name: L.sumsName(c), key: dir + L.sumsName(c), size: sums.info.size, sha256: sumsSha256 });
  const sigKey = dir + L.sigName(c);
  const sig = await store.getStream(sigKey);
  if (!sig) throw new IntegrityError(`${store.url}: ${p.namespace}/${p.name} ${version} has no ${L.sigName(c)}`);
  const s = await hashStream(sig);
  files.push({ name: L.sigName(c), key: sigKey, size: s.size, sha256: s.sha256 });
  return { provider: p, version, files, sumsSha256, ...(keyId && { keyId }), store };
}

/** How a published release's assets compare with the store's files. */
interface Comparison {
  missing: string[];
  differ: string[];
}

async function compare(api: GithubReleases, assets: GhAsset[], files: ReleaseFile[]): Promise<Comparison> {
  const out: Comparison = { missing: [], differ: [] };
  for (const f of files) {
    const a = assets.find((x) => x.name === f.name);
    if (!a) {
      out.missing.push(`${f.name} is missing`);
      continue;
    }
    // Size first (free), then GitHub's digest when it gives one, else the bytes themselves.
    if (a.size !== f.size) {
      out.differ.push(`${f.name} is ${a.size} bytes, the store's ${f.size}`);
      continue;
    }
    const digest = typeof a.digest === 'string' && a.digest.startsWith('sha256:') ? a.digest.slice(7) : (await api.readBack(a)).sha256;
    if (digest !== f.sha256) out.differ.push(`${f.name} has sha256 ${short(digest)}…, the store's ${short(f.sha256)}…`);
  }
  return out;
}

function row(
  v: StoreVersion | { provider: Provider; version: string },
  t: GithubTarget,
  status: StatusRow['status'],
  why: string,
): StatusRow {
  return {
    image: `${v.provider.namespace}/${v.provider.name}`,
    tag: v.version,
    target: t.name,
    reference: `${t.repository} v${v.version}`,
    digest: 'sumsSha256' in v ? `sha256:${v.sumsSha256}` : '',
    status,
    why,
    kind: 'provider',
  };
}

/** check: each (provider, version, target) ok, missing (no release, or a draft), incomplete (assets missing) or moved (an asset differs). */
async function checkOne(api: GithubReleases, v: StoreVersion): Promise<StatusRow> {
  const t = api.target;
  const tag = `v${v.version}`;
  const rel = await api.publishedByTag(tag);
  if (!rel) {
    const draft = await api.draftByTag(tag);
    return row(
      v,
      t,
      'missing',
      draft ? `release ${tag} of ${t.repository} is a draft (not published)` : `no release ${tag} on ${t.repository}`,
    );
  }
  const c = await compare(api, rel.assets ?? (await api.assets(rel)), v.files);
  if (c.differ.length) return row(v, t, 'moved', c.differ.join('; '));
  if (c.missing.length) return row(v, t, 'incomplete', c.missing.join('; '));
  return row(v, t, 'ok', '');
}

/**
 * sync: a published release with the same assets is left alone; one that
 * differs is a conflict (published releases are never edited: immutable
 * releases refuse with 422). Otherwise: the draft for `v<version>` (created
 * when absent), every asset uploaded byte for byte from the store, every
 * asset read back and its sha256 compared, and only then published.
 */
async function syncOne(api: GithubReleases, v: StoreVersion, o: ProviderRunOptions): Promise<StatusRow> {
  const t = api.target;
  const tag = `v${v.version}`;
  // Published since the plan was made (a concurrent run): judged as the plan would have.
  const published = await api.publishedByTag(tag);
  if (published) {
    const r = await judgePublished(api, v, published);
    return r.status === 'up to date' ? watched(api, v, o, r) : r;
  }
  let draft: GhRelease = (await api.draftByTag(tag)) ?? (await api.createDraft(tag, tag, releaseBody(v)));
  o.log.info(`${t.name}: draft release ${tag} of ${t.repository} (id ${draft.id})`);
  const existing = await api.assets(draft);
  const kept = new Map<string, GhAsset>();
  // Draft assets already read back whole here (no digest from GitHub): not downloaded a second time below.
  const readBack = new Set<string>();
  for (const a of existing) {
    const f = v.files.find((x) => x.name === a.name);
    // The size first (free), then GitHub's digest; without one, the bytes themselves: a draft asset of the
    // right size and the wrong content must be replaced, or every run would fail its read-back again.
    let same = f !== undefined && a.size === f.size;
    if (same && typeof a.digest === 'string') same = a.digest === `sha256:${f!.sha256}`;
    else if (same) {
      same = (await api.readBack(a)).sha256 === f!.sha256;
      if (same) readBack.add(a.name);
    }
    if (same) kept.set(a.name, a);
    else {
      o.log.info(`${t.name}: ${tag}: removing draft asset ${a.name} (${f ? 'differs from the store' : 'not a file of this version'})`);
      await api.deleteAsset(draft, a);
    }
  }
  const assets = new Map(kept);
  for (const f of v.files) {
    if (assets.has(f.name)) continue;
    const a = await api.upload(draft, f.name, f.size, async () => {
      const s = await v.store.getStream(f.key);
      if (!s) throw new IntegrityError(`${v.store.url}: ${f.key} vanished`);
      return s;
    });
    assets.set(f.name, a);
    o.log.info(`${t.name}: ${tag}: uploaded ${f.name} (${f.size} bytes)`);
  }
  // Read every asset back: GitHub must serve the store's bytes before anything is published.
  for (const f of v.files) {
    if (readBack.has(f.name)) continue;
    const a = assets.get(f.name)!;
    const got = await api.readBack(a);
    if (got.sha256 !== f.sha256 || got.size !== f.size)
      return row(
        v,
        t,
        'failed',
        `asset ${f.name} reads back as sha256 ${short(got.sha256)}… (${got.size} bytes), the store's is ${short(f.sha256)}… (${f.size} bytes); release ${tag} left a draft`,
      );
  }
  draft = await api.publish(draft);
  if (draft.draft) return row(v, t, 'failed', `PATCH draft:false left release ${tag} a draft`);
  o.log.info(`${t.name}: published release ${tag} of ${t.repository}: ${v.files.length} assets read back identical`);
  return watched(api, v, o, row(v, t, 'created', ''));
}

async function watched(api: GithubReleases, v: StoreVersion, o: ProviderRunOptions, r: StatusRow): Promise<StatusRow> {
  const w = api.target.watch;
  if (!w) return r;
  const c = { namespace: v.provider.namespace, name: v.provider.name, version: v.version };
  const seen = await watchRegistry(o.http, w, c, o.log, o.signal);
  if (seen) {
    o.log.info(`${api.target.name}: ${w.registryUrl} lists ${c.namespace}/${c.name} ${c.version}`);
    return r;
  }
  const k = v.keyId ? ` (key ID ${v.keyId})` : '';
  return {
    ...r,
    status: 'failed',
    why: `release v${c.version} is published, but ${w.registryUrl}/v1/providers/${c.namespace}/${c.name}/versions did not list ${c.version} within ${Math.round(w.timeoutMs / 1000)} s: check the registry's webhook on ${api.target.repository} (Resync in the registry's UI), that the signing key registered there signed SHA256SUMS${k}, and that SHA256SUMS lists ${L.manifestName(c)}`,
  };
}

function releaseBody(v: StoreVersion): string {
  return `${v.provider.namespace}/${v.provider.name} ${v.version}: the signed files of Relay's first-party registry, byte for byte (SHA256SUMS sha256 ${v.sumsSha256}).`;
}

/** One (provider version, target), planned before anything is written. */
export interface ProviderUnit {
  provider: Provider;
  version: string;
  target: GithubTarget;
  /** The version as the store holds it (absent when it could not be read). */
  v?: StoreVersion;
  /** The outcome, when planning already decided it: a check, a store that failed, a published release. */
  decided?: StatusRow;
  /** Its rows in the run's plan: one per release asset (or a conflict for the release). */
  rows: PlanRow[];
}

export interface ProviderPlan {
  units: ProviderUnit[];
  /** Every unit's plan rows, in order. */
  rows: PlanRow[];
}

/** A release asset as a plan row names it. */
const assetObject = (t: GithubTarget, version: string, name: string): string => `github.com/${t.repository}/releases/v${version}/${name}`;

/**
 * Reads every (provider, version, target) of the run and decides it, writing
 * nothing: check classifies each release; sync verifies the store's version
 * and plans each asset (put when the release is not published, skip when it
 * is, identical; a published release that differs is a conflict). The rows go
 * into the run's plan before it is approved, so `expect-plan` binds them too.
 */
export async function planProviders(cfg: MirrorConfig, o: ProviderRunOptions): Promise<ProviderPlan> {
  const apis = new Map<string, GithubReleases>();
  const stores = new Map<string, Store>();
  const todo = cfg.providers.flatMap((p) =>
    p.versions.filter((v) => o.version === undefined || tagIsVersion(v, o.version)).map((version) => ({ p, version })),
  );
  const planned = await mapLimit(
    todo,
    Math.max(1, Math.min(o.parallel, 4)),
    async ({ p, version }): Promise<ProviderUnit[]> => {
      if (p.targets.length === 0) return [];
      let store = stores.get(p.store);
      if (!store) stores.set(p.store, (store = o.openStore(p.store, `${cfg.file} providers[${p.index}].store`)));
      let v: StoreVersion;
      try {
        v = await readStoreVersion(p, version, store, o.mode === 'sync', o.log);
      } catch (err) {
        if (err instanceof CancelledError) throw err;
        const why = `the store's ${p.namespace}/${p.name} ${version}: ${errorMessage(err)}`;
        const status = o.mode === 'check' ? 'unreachable' : 'failed';
        return p.targets.map((target) => ({
          provider: p,
          version,
          target,
          decided: row({ provider: p, version }, target, status, why),
          rows: [],
        }));
      }
      const out: ProviderUnit[] = [];
      for (const target of p.targets) {
        let api = apis.get(target.name);
        if (!api) apis.set(target.name, (api = new GithubReleases(o.http, target, o.log, o.signal)));
        const unit: ProviderUnit = { provider: p, version, target, v, rows: [] };
        try {
          if (o.mode === 'check') unit.decided = await checkOne(api, v);
          else await planOne(api, unit, v);
        } catch (err) {
          if (err instanceof CancelledError) throw err;
          unit.decided = row(v, target, o.mode === 'check' ? 'unreachable' : 'failed', errorMessage(err));
          unit.rows = [];
        }
        out.push(unit);
      }
      return out;
    },
    o.signal,
  );
  const units = planned.flat();
  return { units, rows: units.flatMap((u) => u.rows) };
}

/** sync's plan for one release: skip (published, identical), conflict (published, different) or put each asset. */
async function planOne(api: GithubReleases, unit: ProviderUnit, v: StoreVersion): Promise<void> {
  const t = api.target;
  const tag = `v${v.version}`;
  const published = await api.publishedByTag(tag);
  if (!published) {
    // Each asset's digest is bound (report/plan.ts): the bytes the release will carry are the store's, by sha256.
    unit.rows = v.files.map((f) => ({
      object: assetObject(t, v.version, f.name),
      action: 'put',
      why: 'new',
      bytes: f.size,
      digest: sha256Digest(f.sha256),
      observed: ABSENT,
    }));
    return;
  }
  const decided = (unit.decided = await judgePublished(api, v, published));
  unit.rows =
    decided.status === 'conflict'
      ? [{ object: `github.com/${t.repository}/releases/${tag}`, action: 'conflict', why: decided.why }]
      : v.files.map((f) => ({
          object: assetObject(t, v.version, f.name),
          action: 'skip',
          why: 'identical',
          bytes: f.size,
          digest: sha256Digest(f.sha256),
          observed: sha256Digest(f.sha256),
        }));
}

/** A published release against the store's files: up to date, or a conflict (published releases are never edited). */
async function judgePublished(api: GithubReleases, v: StoreVersion, published: GhRelease): Promise<StatusRow> {
  const t = api.target;
  const c = await compare(api, published.assets ?? (await api.assets(published)), v.files);
  const problems = [...c.differ, ...c.missing];
  if (problems.length === 0) return row(v, t, 'up to date', '');
  return row(
    v,
    t,
    'conflict',
    `release v${v.version} of ${t.repository} is published and ${problems.join('; ')}: a published release is not edited (immutable releases refuse it); publish a new version`,
  );
}

/**
 * Carries out a plan: each release planned as new is drafted, filled,
 * read back and published (a dry run says `would create`); each published
 * one is watched for when asked. Each unit fails alone with a one-line reason;
 * its plan rows get their results.
 */
export async function runProviders(plan: ProviderPlan, o: ProviderRunOptions): Promise<StatusRow[]> {
  const apis = new Map<string, GithubReleases>();
  const apiFor = (t: GithubTarget): GithubReleases => {
    let a = apis.get(t.name);
    if (!a) apis.set(t.name, (a = new GithubReleases(o.http, t, o.log, o.signal)));
    return a;
  };
  const rows = await mapLimit(
    plan.units,
    Math.max(1, Math.min(o.parallel, 4)),
    async (u): Promise<StatusRow> => {
      const result = await (async (): Promise<StatusRow> => {
        if (u.decided?.status === 'up to date' && !o.dryRun) return watched(apiFor(u.target), u.v!, o, u.decided);
        if (u.decided) return u.decided;
        if (o.dryRun) return row(u.v!, u.target, 'would create', '');
        try {
          return await syncOne(apiFor(u.target), u.v!, o);
        } catch (err) {
          if (err instanceof CancelledError) throw err;
          const status = err instanceof GithubError && err.status === 422 ? 'conflict' : 'failed';
          return row(u.v!, u.target, status, errorMessage(err));
        }
      })();
      if (!o.dryRun)
        for (const r of u.rows) {
          if (r.action === 'skip') r.result = 'unchanged';
          else if (r.action === 'put') r.result = result.status === 'created' ? 'written' : 'failed';
        }
      return result;
    },
    o.signal,
  );
  for (const r of rows)
    if (r.status !== 'ok' && r.status !== 'up to date' && r.status !== 'created')
      o.log.warn(`${r.reference} (${r.target}): ${r.status}${r.why ? `: ${r.why}` : ''}`);
  return rows;
}
