import type { Readable } from 'node:stream';
import type { Descriptor, Manifest } from '../ref/media.js';

/** A blob mount's outcome: mounted, or an upload session the registry opened instead. */
export type MountResult = { mounted: true } | { mounted: false; session?: string };

/**
 * One repository: in a registry, or an OCI image-layout directory. Copy,
 * referrers and verification speak only this, so both are source and target.
 */
export interface Repo {
  /** For messages and reports: `127.0.0.1:5001/app`, `oci:/dir`. */
  readonly name: string;
  /** Registry host and repository path, for mounts (same registry only); absent for layouts. */
  readonly registry?: string;
  readonly repository?: string;
  /**
   * Whether an image written here must be tagged to be reachable: true for a
   * layout (index.json lists only tagged images), false for a registry (an
   * image is reachable by digest).
   */
  readonly requiresTag: boolean;
  /**
   * What a reference without tag or digest means here: `latest` in a
   * registry, the only image of a layout; undefined when there is nothing to
   * default to (an empty layout).
   */
  defaultReference(): Promise<string | undefined>;
  /** A manifest by tag or digest, exact bytes, digest checked; undefined when absent. */
  getManifest(ref: string): Promise<Manifest | undefined>;
  /** What a tag or digest resolves to, without the body when the store allows. */
  headManifest(ref: string): Promise<Descriptor | undefined>;
  /** Stores exact bytes under a tag or its digest. `subjectHandled`: the store indexed its subject (OCI-Subject). */
  putManifest(m: Manifest, ref: string): Promise<{ subjectHandled: boolean }>;
  hasBlob(d: Descriptor): Promise<boolean>;
  /** The size the store holds a blob at (a HEAD; NaN when it states none); undefined when absent. */
  blobSize(digest: string): Promise<number | undefined>;
  /** The blob's bytes as a stream; the caller checks them. */
  openBlob(d: Descriptor): Promise<Readable>;
  /**
   * Stores a blob from a stream, committing it only once every byte has been
   * read and found to match the descriptor's digest and size (the store checks
   * them itself unless `body` is a VerifyingStream for this descriptor). On a
   * failure nothing is committed and `session` (or the one it opened) is cancelled.
   */
  writeBlob(d: Descriptor, body: Readable, session?: string): Promise<void>;
  /** Cancels an upload session left by a mount, when no writeBlob will use it. */
  cancelUpload?(session: string): Promise<void>;
  /** Cross-repository mount within one registry. */
  mountBlob?(d: Descriptor, from: Repo): Promise<MountResult>;
  /** Referrers of a digest via the referrers API; undefined when there is none (use the tag fallback). */
  referrers(digest: string): Promise<Descriptor[] | undefined>;
}
