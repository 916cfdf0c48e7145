import { Semaphore } from '../concurrency.js';
import { DEFAULTS } from '../defaults.js';
import type { Logger } from '../log/logger.js';
import { checkConditionalWrites } from '../store/probe.js';
import { PreconditionFailed, type ObjectInfo, type Store } from '../store/store.js';
import type { VersionEntry } from './documents.js';
import * as L from './layout.js';
import { planIndexes, planObject } from './plan.js';
import { discoveryObject, packageObject } from './release.js';
import type { Package } from './repack.js';
import type { PackageReadBack } from './verify.js';

export interface UploadAheadOptions {
  coords: L.Coordinates;
  registryUrl: URL;
  immutable: boolean;
  /** The signing key's public armor (planObject's rule for discovery needs none, but takes it). */
  publicArmor: string;
  /** False for a dry run, and for a run bound to an approved plan (expect-plan): the plan binds the zips' bytes. */
  enabled: boolean;
  log: Logger;
  signal?: AbortSignal;
}

/**
 * A fresh version's zips, uploaded as each is compressed while the next ones
 * compress, and read back as they land (publish only).
 *
 * Nothing goes ahead before every check that can refuse has passed: every
 * archive unpacked and checked and the protocols decided (buildRelease's
 * onChecked), the store found to honour conditional writes, nothing of this
 * version in the store (so none of its objects can conflict), and the
 * indexes and discovery accepting it as the plan will judge them. Otherwise
 * nothing goes ahead and the zips are written after the plan, as any other
 * object. The plan still lists each zip as found before the upload (`heads`).
 *
 * Each upload is create-only; one that loses a race is left to the plan's
 * execution, which judges what it finds there; any other failure fails the
 * run, as the plan's own write would. A failure while finding out (the store
 * unreachable, an index refused) is thrown when the plan asks for `heads()`:
 * the same failure the plan would meet, met once.
 */
export class UploadAhead {
  /** Zips this run created ahead of the plan (true), or left to it (false), by key. */
  readonly written = new Map<string, Promise<boolean>>();
  /** Whether the conditional-write probe already ran (publishVerified then skips it). */
  probed = false;
  private readonly slots = new Semaphore(DEFAULTS.storeWriteParallel);
  private decide!: (fresh: boolean) => void;
  private readonly fresh = new Promise<boolean>((resolve) => (this.decide = resolve));
  /** Why finding out failed (the store unreachable, a document refused): the plan would meet it again, so it is thrown there. */
  private failure: unknown;

  constructor(
    private readonly store: Store,
    readonly readBack: PackageReadBack,
    private readonly o: UploadAheadOptions,
  ) {}

  /** Every check on the input has passed: finds out whether the version is fresh, and so whether zips may go ahead. */
  checked(entry: VersionEntry): void {
    if (!this.o.enabled) return this.decide(false);
    this.isFresh(entry).then(this.decide, (err: unknown) => {
      this.failure = err;
      this.decide(false);
    });
  }

  /** A zip is ready: uploaded at once when the version is fresh. */
  add(p: Package): void {
    const obj = packageObject(this.o.coords, p, this.o.immutable);
    const upload = this.fresh.then(async (fresh) => {
      if (!fresh) return false;
      const release = await this.slots.acquire(this.o.signal);
      try {
        await this.store.put(obj.key, obj.body, {
          contentType: obj.contentType,
          cacheControl: obj.cacheControl,
          sha256: obj.sha256,
          ifNoneMatch: '*',
        });
      } catch (err) {
        // Lost a race: the plan's execution judges what is there. Any other failure is the run's, as the plan's own write would be.
        if (!(err instanceof PreconditionFailed)) throw err;
        this.o.log.debug(`${obj.key}: written by someone else meanwhile; the plan's execution judges it`);
        return false;
      } finally {
        release();
      }
      this.o.log.info(`put ${obj.key} (while the rest compress)`);
      this.readBack.start(new URL(obj.key, this.o.registryUrl), p.sha256, p.h1);
      return true;
    });
    upload.catch(() => undefined); // a cancel: awaited by the plan's execution or settle()
    this.written.set(obj.key, upload);
  }

  /**
   * What the plan compares each zip with: when the version was fresh, every
   * zip absent, as the store was before this run's own uploads; otherwise
   * nothing, and the plan asks the store.
   */
  async heads(): Promise<ReadonlyMap<string, Promise<ObjectInfo | undefined>>> {
    const fresh = await this.fresh;
    if (this.failure !== undefined) throw this.failure; // once, not again by the plan after another time limit
    if (!fresh) return new Map();
    return new Map([...this.written.keys()].map((key) => [key, Promise.resolve(undefined)]));
  }

  /** The build ended (or failed): nothing more is coming; waits for every upload under way, and asks nothing more. */
  async settle(): Promise<void> {
    this.decide(false);
    await Promise.allSettled(this.written.values());
  }

  private async isFresh(entry: VersionEntry): Promise<boolean> {
    const { coords, registryUrl } = this.o;
    const mirrorHost = registryUrl.host;
    await checkConditionalWrites(this.store);
    this.probed = true;
    const [stored, downloads, mirrorDoc] = await Promise.all([
      this.store.list(L.storeDir(coords)),
      this.store.list(L.downloadDir(coords)),
      this.store.head(L.mirrorVersionKey(mirrorHost, coords)),
    ]);
    if (stored.length > 0 || downloads.length > 0 || mirrorDoc) {
      this.o.log.info(`the store already holds part of ${coords.version}: every zip waits for the plan`);
      return false;
    }
    const [indexes, discovery] = await Promise.all([
      planIndexes(this.store, { coords, entry, mirrorHost }, this.o.immutable),
      planObject(this.store, discoveryObject(registryUrl), {
        immutable: this.o.immutable,
        publicArmor: this.o.publicArmor,
        sums: Buffer.alloc(0),
      }),
    ]);
    const fresh = indexes.versions.action !== 'conflict' && discovery.action !== 'conflict';
    if (fresh)
      this.o.log.info(`the store honours conditional writes and holds nothing of ${coords.version}: each zip goes up as it is made`);
    return fresh;
  }
}
