import * as fs from 'node:fs/promises';
import { audited } from '../audit/write.js';
import type { Context, Result } from '../context.js';
import { badInput } from '../errors.js';
import { defineSpec } from '../inputs/spec.js';
import { defineOperation } from '../operation.js';
import { signerFromInputs, signingInputs } from './signer.js';
import { checkName, checkVersion } from '../terraform/names.js';
import { planRelease, refuseConflicts } from '../terraform/plan.js';
import { checkSameHashes, promotionSections, stagedRelease } from '../terraform/promote.js';
import { normaliseRef } from '../terraform/record.js';
import type { Release } from '../terraform/release.js';
import { logPlan, planRows, publishResult } from '../terraform/report.js';
import { publishVerified } from '../terraform/publish-verified.js';
import { auditLink, PROMOTION_NAME, PROVENANCE_NAME, provenanceOutputs, readBackStatements } from '../terraform/provenance.js';
import { openStoreInput, parseRegistryUrl, planInputs, planOutputs, requestTimeoutInput, warnRegistryPort } from './common.js';

const spec = defineSpec({
  name: 'promote-terraform-provider',
  description:
    "Promotes a provider version from a staging registry to production byte for byte: staging verified completely, its build record checked, the zips, SHA256SUMS and manifest copied unchanged and SHA256SUMS signed with production's key, so h1: and zh: stay the same.",
  inputs: {
    from: { description: 'The staging registry store the version is promoted from: `s3://bucket/prefix` or `file://dir`.', required: true },
    store: { description: 'The production registry store: `s3://bucket/prefix` or `file://dir`.', required: true },
    'registry-url': {
      description: 'Public base URL production is served from; its host is the provider address host.',
      required: true,
    },
    namespace: { description: 'Registry namespace of the provider.', required: true },
    name: { description: 'Provider type, e.g. `teleport` for terraform-provider-teleport.', required: true },
    version: { description: 'Version to promote, without a `v`; staging must list it.', required: true },
    ...signingInputs("Production's ASCII-armored OpenPGP private key (or its base64): it signs the same SHA256SUMS again."),
    'expect-ref': {
      description:
        "The git ref staging's build record must name: a tag name or a full ref (`refs/heads/main`); `*` accepts any (the record is still shown and its files still checked). A version last written to staging from another ref (a release candidate carrying the same version) is refused.",
      defaultNote: 'the tag `terraform-provider-<name>-v<version>`',
    },
    immutable: {
      description: 'A production version never changes: one that exists with different content is a conflict.',
      type: 'boolean',
      default: 'true',
    },
    'dry-run': {
      description:
        'Verify staging and print the plan (put / skip identical / conflict) without writing anything; the signature is planned from the key given (made when `signing-key` is given, else only planned).',
      type: 'boolean',
      default: 'false',
    },
    's3-endpoint': { description: 'S3-compatible endpoint URL (Ceph RGW, MinIO).', defaultNote: 'AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL' },
    ...requestTimeoutInput,
    ...planInputs,
  },
  branding: { icon: 'arrow-up-circle', color: 'purple' },
  outputs: {
    version: { description: 'The version promoted.' },
    provider: { description: 'Provider address in production, `host/namespace/name`.' },
    platforms: { description: 'Platforms promoted, space-separated `os_arch`.' },
    'lock-hashes': {
      description:
        "Hashes for .terraform.lock.hcl, one per line, the same as staging's (h1: for every platform, zh: for every SHA256SUMS line).",
      type: 'list',
    },
    hashes: { description: 'JSON object: platform -> [h1, zh].', type: 'json' },
    'build-ref': { description: "The git ref staging's build record names (what was promoted)." },
    subjects: {
      description:
        'What production now serves and its statements attest, one `<sha256>  <file>` line per zip and SHA256SUMS (`sha256sum` format, for `subject-checksums`).',
      type: 'list',
    },
    provenance: {
      description: "Where staging's SLSA provenance statement, copied unchanged, is stored in production; empty when staging had none.",
    },
    promotion: {
      description: 'Where the promotion statement (from staging to production, the approvers, the plan hash) is stored in production.',
    },
    ...planOutputs,
  },
});

export const promoteTerraformProvider = defineOperation(spec, async (inp, ctx: Context): Promise<Result> => {
  const { log, signal } = ctx;
  const name = checkName(inp.name, 'name');
  const namespace = checkName(inp.namespace, 'namespace');
  const version = checkVersion(inp.version);
  const registryUrl = parseRegistryUrl(inp['registry-url']);
  warnRegistryPort(registryUrl, log);
  const expectRef = inp['expect-ref'] ?? `terraform-provider-${name}-v${version}`;
  if (!/^(\*|[^\s*]+)$/.test(expectRef.trim())) badInput('expect-ref', 'a tag name, a full ref such as refs/heads/main, or *', expectRef);
  const from = openStoreInput(inp.from, 'from', inp['s3-endpoint'], ctx);
  const store = openStoreInput(inp.store, 'store', inp['s3-endpoint'], ctx);
  if (from.url === store.url) badInput('from', "the staging store, another than 'store'", inp.from);
  const key = await signerFromInputs(inp, log);
  const coords = { namespace, name, version };

  let rel: Release | undefined;
  try {
    const built = await log.group(`Verifying ${name} ${version} in staging (${from.url}), expecting ${normaliseRef(expectRef)}`, () =>
      stagedRelease({ from, coords, expectRef, key, registryUrl, store: store.url, immutable: inp.immutable, log, env: ctx.env }),
    );
    rel = built.rel;
    const { staged } = built;
    const plan = await log.group(`Planning against ${store.url}`, async () => {
      const p = await planRelease(store, rel!, { immutable: inp.immutable, publicArmor: key.publicArmor });
      logPlan(planRows(p), log);
      return p;
    });
    const rows = planRows(plan);
    ctx.record?.addPlan(rows);
    refuseConflicts(plan, store.url);
    // The promotion statement names the plan it executes, so its bytes are rendered once the plan is complete.
    const hash = ctx.record?.approve();
    if (hash) built.bindPromotion(hash, ctx.record?.expected !== undefined);
    const keyUrl = (k: string | undefined): string => (k ? `${store.url}/${k}` : '');
    const stored = {
      provenance: keyUrl(rel.statementKeys.find((k) => k.endsWith(PROVENANCE_NAME))),
      promotion: keyUrl(rel.statementKeys.find((k) => k.endsWith(PROMOTION_NAME))),
    };
    const same = (dryRun: boolean): string =>
      `h1: and zh: in production ${dryRun ? 'will equal' : 'equal'} staging's for all ${rel!.packages.length} platforms (the same zips and SHA256SUMS, ${dryRun ? 'to be re-signed' : 're-signed'} by key ${key.keyId}; staging's by ${staged.signedBy.join(', ')}): lock files made against staging keep working.`;
    const result = (dryRun: boolean): Result =>
      publishResult(rel!, rows, dryRun, {
        summary: `${dryRun ? 'Would promote' : 'Promoted'} ${version} from ${from.url}, built from ${staged.record.ref ?? 'an unrecorded ref'}. ${same(dryRun)}`,
        sections: promotionSections(staged, 'staging'),
        outputs: { 'build-ref': staged.record.ref ?? '', ...provenanceOutputs(rel!.subjects, stored) },
      });
    if (inp['dry-run']) {
      log.info('dry run: nothing was written');
      return result(true);
    }
    const prod = await publishVerified(store, rel, plan, rows, {
      registryUrl,
      immutable: inp.immutable,
      publicArmor: key.publicArmor,
      log,
      signal,
      headings: {
        write: 'Publishing to production (each zip read back as it lands)',
        verify: 'Verifying production, as terraform init would',
      },
    });
    checkSameHashes(staged.checks, prod);
    log.info(same(false));
    const res = result(false);
    const statements = await readBackStatements(store, rel.statementKeys, rel.subjects);
    return await audited(ctx, res, {
      store,
      provenance: statements.map(auditLink),
      subject: { provider: res.outputs.provider!, version, 'build-ref': staged.record.ref ?? '', from: from.url },
    });
  } finally {
    if (rel) await fs.rm(rel.tmpDir, { recursive: true, force: true });
  }
});
