import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Context, Result } from '../context.js';
import { DEFAULTS } from '../defaults.js';
import { badInput } from '../errors.js';
import { defineSpec } from '../inputs/spec.js';
import { defineOperation } from '../operation.js';
import { signerFromInputs, signingInputs } from './signer.js';
import { checkName, checkVersion, versionFromRef } from '../terraform/names.js';
import { planRelease, refuseConflicts } from '../terraform/plan.js';
import { DETECT_MODES, type DetectMode } from '../terraform/protocols/detect.js';
import { buildRelease, type Release } from '../terraform/release.js';
import { logPlan, planRows, publishResult } from '../terraform/report.js';
import { fetchSource, findTarballs } from '../terraform/sources.js';
import { publishVerified } from '../terraform/publish-verified.js';
import { audited } from '../audit/write.js';
import { UploadAhead } from '../terraform/upload-ahead.js';
import { PackageReadBack, storeReader } from '../terraform/verify.js';
import { auditLink, provenanceOutputs, readBackStatements } from '../terraform/provenance.js';
import {
  openStoreInput,
  parseRegistryUrl,
  planInputs,
  planOutputs,
  positiveMiB,
  requestTimeoutInput,
  subprocessTimeoutInput,
  warnRegistryPort,
} from './common.js';

const spec = defineSpec({
  name: 'publish-terraform-registry',
  description:
    "Publishes a provider version's release archives into a static Terraform/OpenTofu provider registry in S3 (or a directory): signed, write-once, race-safe.",
  inputs: {
    namespace: { description: 'Registry namespace of the provider (the `ns` in `host/ns/name`).', required: true },
    name: { description: 'Provider type, e.g. `teleport` for terraform-provider-teleport.', required: true },
    version: {
      description: 'Version to publish, without a `v`.',
      defaultNote: 'parsed from a `terraform-provider-<name>-v<version>` tag in GITHUB_REF',
    },
    tarballs: {
      description:
        'Release archives: globs or paths, one per line (Teleport `-bin.tar.gz` or GoReleaser `.tar.gz`/`.zip` names). A path that exists as written is taken as written, glob characters and all.',
      type: 'list',
    },
    source: {
      description:
        'Instead of `tarballs`: an `s3://bucket/prefix` where the build staged the archives; those for this version are fetched.',
    },
    store: { description: 'Where the registry tree lives: `s3://bucket/prefix` or `file://dir`.', required: true },
    'registry-url': {
      description: 'Public base URL the tree is served from (e.g. the CloudFront URL); its host is the provider address host.',
      required: true,
    },
    ...signingInputs('ASCII-armored OpenPGP private key (or its base64) that signs SHA256SUMS.'),
    protocols: {
      description: 'Plugin protocol versions, e.g. `6.0`.',
      type: 'list',
      defaultNote: 'from terraform-registry-manifest.json in the archives, else read from the provider (`detect-protocols`), else 5.0',
    },
    'detect-protocols': {
      description:
        "Reading protocols from the provider, to decide them or check `protocols` and the manifest: `handshake` also runs the executable for this host through go-plugin's handshake (throwaway directory, no network, 10 s unless `subprocess-timeout` is given); `static` only reads the Go build information of every executable; `off` reads nothing.",
      choices: DETECT_MODES,
      default: 'handshake',
    },
    immutable: {
      description: 'A published version never changes; `false` for staging, where a republish replaces it.',
      type: 'boolean',
      default: 'true',
    },
    'max-binary-size': {
      description:
        'Largest provider executable accepted, in MiB; an archive declaring or inflating to more is refused before it is unpacked (a lying header, a gzip bomb).',
      type: 'number',
      default: '1024',
    },
    'dry-run': {
      description:
        'Build and print the plan (put / skip identical / conflict) without writing anything; the signature is planned from the key given (made when `signing-key` is given, else only planned).',
      type: 'boolean',
      default: 'false',
    },
    's3-endpoint': { description: 'S3-compatible endpoint URL (Ceph RGW, MinIO).', defaultNote: 'AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL' },
    ...requestTimeoutInput,
    ...subprocessTimeoutInput,
    ...planInputs,
  },
  branding: { icon: 'package', color: 'purple' },
  outputs: {
    version: { description: 'The version published.' },
    provider: { description: 'Provider address, `host/namespace/name`.' },
    platforms: { description: 'Platforms published, space-separated `os_arch`.' },
    'lock-hashes': {
      description:
        "Hashes for .terraform.lock.hcl, one per line, as `terraform providers lock` writes them for every platform: h1: for each platform, zh: for every SHA256SUMS line (the manifest's too).",
      type: 'list',
    },
    hashes: { description: 'JSON object: platform -> [h1, zh].', type: 'json' },
    subjects: {
      description:
        "What the version's provenance attests, one `<sha256>  <file>` line per zip and SHA256SUMS (`sha256sum` format: actions/attest-build-provenance's `subject-checksums` reads it from a file).",
      type: 'list',
    },
    provenance: {
      description:
        "Where the version's SLSA provenance statement is stored (`<store>/store/<ns>/<name>/<version>/relay-provenance.intoto.json`).",
    },
    ...planOutputs,
  },
});

export const publishTerraformRegistry = defineOperation(spec, async (inp, ctx: Context): Promise<Result> => {
  const { log, signal } = ctx;
  const name = checkName(inp.name, 'name');
  const namespace = checkName(inp.namespace, 'namespace');
  const versionText = inp.version ?? versionFromRef(ctx.env.GITHUB_REF, name);
  if (!versionText) badInput('version', `a version, or a terraform-provider-${name}-v<version> tag in GITHUB_REF`, ctx.env.GITHUB_REF);
  const version = checkVersion(versionText);
  const registryUrl = parseRegistryUrl(inp['registry-url']);
  warnRegistryPort(registryUrl, log);
  if (inp.tarballs.length > 0 === Boolean(inp.source)) badInput('tarballs', "either 'tarballs' or 'source', not both and not neither");
  const store = openStoreInput(inp.store, 'store', inp['s3-endpoint'], ctx);
  const key = await signerFromInputs(inp, log);
  const coords = { namespace, name, version };

  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-src-'));
  let rel: Release | undefined;
  const readBack = new PackageReadBack(storeReader(store, registryUrl), name, work, DEFAULTS.verifyParallel, signal);
  // A fresh version's zips go to the store while the next ones compress; a dry run or an approved plan writes nothing early.
  const ahead = new UploadAhead(store, readBack, {
    coords,
    registryUrl,
    immutable: inp.immutable,
    publicArmor: key.publicArmor,
    enabled: !inp['dry-run'] && ctx.record?.expected === undefined,
    log,
    signal,
  });
  try {
    const files = inp.source
      ? await log.group('Fetching archives', () =>
          fetchSource(openStoreInput(inp.source!, 'source', inp['s3-endpoint'], ctx), coords, work, log),
        )
      : await findTarballs(inp.tarballs, ctx.cwd);
    rel = await log.group(`Building ${name} ${version} (${files.length} archives)`, () =>
      buildRelease({
        coords,
        files,
        protocolsInput: inp.protocols,
        maxBinaryBytes: positiveMiB(inp['max-binary-size'], 'max-binary-size', DEFAULTS.maxBinaryBytes),
        key,
        registryUrl,
        immutable: inp.immutable,
        log,
        detectProtocols: (inp['detect-protocols'] ?? 'handshake') as DetectMode,
        handshakeTimeoutMs: ctx.limits?.subprocessMs,
        signal,
        env: ctx.env,
        inputs: ctx.record?.inputs,
        onChecked: (entry) => ahead.checked(entry),
        onPackage: (p) => ahead.add(p),
      }),
    );
    const plan = await log.group(`Planning against ${store.url}`, async () => {
      const p = await planRelease(store, rel!, { immutable: inp.immutable, publicArmor: key.publicArmor, heads: await ahead.heads() });
      logPlan(planRows(p), log);
      return p;
    });
    const rows = planRows(plan);
    ctx.record?.addPlan(rows);
    refuseConflicts(plan, store.url);
    ctx.record?.approve();
    const outputs = provenanceOutputs(rel.subjects, { provenance: `${store.url}/${rel.statementKeys[0]}` });
    if (inp['dry-run']) {
      log.info('dry run: nothing was written');
      return publishResult(rel, rows, true, { outputs });
    }
    await publishVerified(store, rel, plan, rows, {
      registryUrl,
      immutable: inp.immutable,
      publicArmor: key.publicArmor,
      log,
      signal,
      headings: { write: 'Publishing (each zip read back as it lands)', verify: 'Verifying what was written, as terraform init would' },
      ahead,
    });
    const statements = await readBackStatements(store, rel.statementKeys, rel.subjects);
    return await audited(ctx, publishResult(rel, rows, false, { outputs }), { store, provenance: statements.map(auditLink) });
  } finally {
    await ahead.settle();
    await readBack.idle();
    await fs.rm(work, { recursive: true, force: true });
    if (rel) await fs.rm(rel.tmpDir, { recursive: true, force: true });
  }
});
