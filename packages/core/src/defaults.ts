import { availableParallelism } from 'node:os';

/**
 * Every concurrency, retry and time limit Relay uses, each with why that
 * number. Inputs may override some per run; nothing else hard-codes one.
 */
export const DEFAULTS = {
  /** Attempts per request with full-jitter backoff: rides out a registry or S3 restart (~10 s) without hiding an outage. */
  retry: { attempts: 6, baseMs: 200, maxMs: 10_000 },
  /** Longest Retry-After honoured; a server asking for longer fails the request rather than stalling a release. */
  maxRetryAfterMs: 60_000,
  /** Requests in flight per host:port: browsers' limit, enough to fill a link without tripping abuse limits. */
  httpPerHost: 6,
  /** A TCP/TLS connection not established in this time is dropped and retried (a black-holed address). */
  connectTimeoutMs: 10_000,
  /** A connection silent this long (no headers, or a stalled body) is dropped and retried. */
  idleTimeoutMs: 30_000,
  /**
   * Time one request may take in total (the request-timeout input), body included, over every retry, so a hung
   * server, or one trickling a byte at a time, fails the run in bounded time.
   */
  requestBudgetMs: 55_000,
  /**
   * Slowest rate accepted for a body of known size (a blob, an archive, an upload): its size at this rate is added
   * to the request's time limit. 256 KiB/s (2 Mbit/s) is far below any CI runner's link and a slow home uplink;
   * a 1 GiB layer then may take 68 minutes, a body a byte a second never finishes. Slower links raise request-timeout.
   */
  minRateBytesPerSec: 256 * 1024,
  /**
   * Most pages one paginated listing (tag lists, referrers) may take: 1,000 pages of up to 1,000 tags; a
   * registry that pages on past it, or links back to a page it served, is refused rather than followed for ever.
   */
  maxListPages: 1000,
  /**
   * Largest mirror file read, checked before it is parsed: the largest real ones are tens of KB (a thousand images
   * at ~200 bytes each is 200 KB). Parsing YAML takes memory ~35 times the text and seconds per MiB on a loaded
   * runner (a 40 MB file took 1.4 GiB; 4 MiB measured 10 s and 560 MB RSS at load 18 on 2 cores), so 1 MiB, as
   * for a secrets file.
   */
  maxMirrorFileBytes: 1024 * 1024,
  /**
   * Values a YAML file may reach through aliases (`*name`), all aliases together: a tag list shared by a hundred
   * images is 10,000 or so; nested aliases doubling at each level (a "billion laughs") are refused here.
   */
  yamlMaxAliasedValues: 100_000,
  /** Sockets per AWS SDK client: the SDK's own default; Relay's parallelism stays well below it. */
  awsMaxSockets: 50,
  /** Largest JSON document, manifest or error body read into memory. */
  maxDocumentBytes: 8 * 1024 * 1024,

  /** OCI copy: blobs and manifests in flight at once (per-host limit applies on top). */
  ociParallel: 6,
  /** OCI copy: whole-transfer attempts for a blob stream or a digest that did not match on the wire. */
  ociTransferAttempts: 4,
  /**
   * OCI copy: most manifests one image may bring (index, children, referrers, cosign artifacts together),
   * refused past it before anything is written. A copy holds every manifest's bytes and plan row until it is
   * verified. Measured with the CLI copying an index of small children layout → layout, peak RSS on Node 24
   * (the actions' runtime; Node 20 needs ~60 MB less): 10,000 children 205 MB, 15,000 245 MB, 20,000 300 MB
   * (test/integration/oci-huge-graph.test.ts). 12,000 keeps a copy near 220 MB, under 256 MB; the largest
   * multi-platform images hold tens of manifests, hundreds with a signature and SBOM for each.
   */
  ociMaxGraphManifests: 12_000,
  /**
   * OCI copy: most bytes the manifests of one image may come to, held for the same reason: 10,000 children
   * of 20 layers each (45 MB of manifests) peak at 240 MB on Node 24, so 32 MiB stays under 256 MB.
   */
  ociMaxGraphManifestBytes: 32 * 1024 * 1024,

  /**
   * Terraform publish: archives unpacked, and zips compressed, at once: one per core. Gunzip and deflate run
   * on libuv's thread pool, which has 4 threads unless UV_THREADPOOL_SIZE was set when the process started
   * (it cannot grow later), so workers beyond it only queue; 16 at most keeps the buffers in flight small.
   * Each zip is deterministic, so the count changes the time a release takes, never its bytes.
   */
  repackParallel: Math.max(1, Math.min(availableParallelism(), Number(process.env.UV_THREADPOOL_SIZE) || 4, 16)),
  /** A terraform-registry-manifest.json inside an archive: tens of bytes in practice; anything this big is not one. */
  registryManifestBytes: 64 * 1024,
  /**
   * mirror-artifact: source blobs in flight at once. Each is read once and streamed to every target
   * lacking it, so uploads in flight reach this times the targets (the per-host limit caps each registry).
   */
  mirrorParallel: 6,
  /**
   * mirror-artifact: images read and (image, target) pairs planned or checked at once. Plans and checks
   * are HEADs and small GETs, bound by round trips rather than bytes; the per-host limit still caps each
   * registry.
   */
  mirrorPlanParallel: 16,

  /** Terraform plan: store HEADs in flight; small requests, so more than the write side. */
  storePlanParallel: 8,
  /** Terraform publish: store writes in flight (zips are tens of MB each). */
  storeWriteParallel: 4,
  /** Terraform verify: platforms downloaded and checked at once (each holds a zip's worth of hashing). */
  verifyParallel: 2,
  /** A file store's served copy seen behind its content: how long a writer still running gets to catch it up before verify calls it left behind. */
  servedCatchUpMs: 2000,
  /** Compare-and-swap of `versions`: many attempts with short backoff, as concurrent publishers race for it. */
  casRetry: { attempts: 30, baseMs: 50, maxMs: 2000 },

  /**
   * Largest provider executable a publish accepts (input max-binary-size): real providers are tens to a few
   * hundred MB; well under zip's 4 GiB so a lying archive header or a gzip bomb is refused before it fills a disk.
   */
  maxBinaryBytes: 1024 * 1024 * 1024,

  /** A subprocess (credential helper, gpg) that takes longer is killed; a provider's handshake has its own limit below. */
  subprocessTimeoutMs: 30_000,
  /**
   * A provider started for go-plugin's handshake prints its line within milliseconds (it only opens a socket);
   * Terraform waits a minute, but a publish should not: 10 s covers a cold start on a loaded runner, and a
   * binary that hangs costs at most this, twice (one run per offered protocol version), then its group is killed.
   */
  handshakeTimeoutMs: 10_000,
  /** Protocol detection: provider executables inflated and scanned for Go build information at once (CPU-bound, like repacking). */
  buildInfoScanParallel: 2,
} as const;
