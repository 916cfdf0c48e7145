import { DEFAULTS } from '../defaults.js';
import type { Logger } from '../log/logger.js';
import type { PlanRow } from '../report/plan.js';
import { checkConditionalWrites } from '../store/probe.js';
import type { Store } from '../store/store.js';
import { executePlan } from './execute.js';
import type { Plan } from './plan.js';
import type { Release } from './release.js';
import type { UploadAhead } from './upload-ahead.js';
import { PackageReadBack, storeReader, verifyRegistry, type PlatformCheck } from './verify.js';

export interface PublishVerifiedOptions {
  registryUrl: URL;
  immutable: boolean;
  /** The signing key's public armor (executePlan judges signatures found at execution time by it). */
  publicArmor: string;
  log: Logger;
  signal?: AbortSignal;
  /** Log group headings: what is written, and the final walk. */
  headings: { write: string; verify: string };
  /** Zips written ahead of the plan (publish), the read-back they started, and whether the probe ran. */
  ahead?: Pick<UploadAhead, 'written' | 'readBack' | 'probed'>;
}

/**
 * The writing half of publish and promotion, after the plan is approved: the
 * store's conditional writes probed, the plan executed with each zip read back
 * as it lands (the version is listed only once every one has passed), the rows
 * marked, then the registry walked as terraform init would. Returns the walk's
 * checks; every read-back has ended when it returns or throws.
 */
export async function publishVerified(
  store: Store,
  rel: Release,
  plan: Plan,
  rows: PlanRow[],
  o: PublishVerifiedOptions,
): Promise<PlatformCheck[]> {
  const { log, signal, registryUrl } = o;
  if (!o.ahead?.probed) await log.group('Checking the store honours conditional writes', () => checkConditionalWrites(store));
  const reader = storeReader(store, registryUrl);
  const rb = o.ahead?.readBack ?? new PackageReadBack(reader, rel.coords.name, rel.tmpDir, DEFAULTS.verifyParallel, signal);
  try {
    await log.group(o.headings.write, () =>
      executePlan(store, rel, plan, {
        immutable: o.immutable,
        publicArmor: o.publicArmor,
        log,
        signal,
        stored: (item) => {
          if (!item.obj?.key.endsWith('.zip')) return;
          // The h1 Relay computed from these very bytes: a read-back with the same sha256 needs no second inflate.
          const h1 = rel.packages.find((p) => p.sha256 === item.obj!.sha256)?.h1;
          rb.start(new URL(item.obj.key, registryUrl), item.obj.sha256, h1);
        },
        beforeCommit: () => rb.settled(),
        written: o.ahead?.written,
      }),
    );
    for (const r of rows) r.result = r.action === 'skip' ? 'unchanged' : 'written';
    const { namespace, name, version } = rel.coords;
    return await log.group(o.headings.verify, () =>
      verifyRegistry(reader, { root: registryUrl, namespace, name, versions: [version], mirrorHost: rel.mirrorHost }, log, {
        packages: rb.results,
      }),
    );
  } finally {
    await rb.idle();
  }
}
