import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Context, Report, Result } from '../context.js';
import { badInput } from '../errors.js';
import { defineOperation, type InputValues } from '../inputs/spec.js';
import { defineRunnable } from '../operation.js';
import { loadSigningKey } from '../signing/key.js';
import { checkConditionalWrites, openStore } from '../store/open.js';
import { executePlan } from './execute.js';
import { checkName, checkVersion, platformKey, versionFromRef } from './names.js';
import { planRelease, refuseConflicts, type Plan } from './plan.js';
import { buildRelease, fetchSource, findTarballs, withSlash, type Release } from './release.js';
import { storeReader, verifyRegistry } from './verify.js';

export const publishSpec = defineOperation({
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
      description: 'Release archives: globs or paths, one per line (Teleport `-bin.tar.gz` or GoReleaser `.tar.gz`/`.zip` names).',
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
    'signing-key': {
      description: 'ASCII-armored OpenPGP private key (or its base64) that signs SHA256SUMS. Pass it through a secret.',
      required: true,
      secret: true,
    },
    'signing-key-passphrase': { description: 'Passphrase of the signing key, if it is encrypted.', secret: true },
    protocols: {
      description: 'Plugin protocol versions, e.g. `6.0`.',
      type: 'list',
      defaultNote: 'from terraform-registry-manifest.json in the archives, else 5.0',
    },
    immutable: {
      description: 'A published version never changes; `false` for staging, where a republish replaces it.',
      type: 'boolean',
      default: 'true',
    },
    'dry-run': {
      description: 'Build, sign and print the plan (put / skip identical / conflict) without writing anything.',
      type: 'boolean',
      default: 'false',
    },
    's3-endpoint': { description: 'S3-compatible endpoint URL (Ceph RGW, MinIO).', defaultNote: 'AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL' },
  },
  outputs: {
    version: { description: 'The version published.' },
    provider: { description: 'Provider address, `host/namespace/name`.' },
    platforms: { description: 'Platforms published, space-separated `os_arch`.' },
    'lock-hashes': { description: 'Hashes for .terraform.lock.hcl, one per line (h1: and zh: for every platform).' },
    hashes: { description: 'JSON object: platform -> [h1, zh].' },
  },
});

type PublishInputs = InputValues<typeof publishSpec.inputs>;

export function parseRegistryUrl(text: string, input = 'registry-url'): URL {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    badInput(input, 'an http(s) URL such as https://registry.example.com', text);
  }
  if ((u.protocol !== 'https:' && u.protocol !== 'http:') || u.search || u.hash || u.username)
    badInput(input, 'an http(s) URL without query, fragment or credentials', text);
  return withSlash(u);
}

export function s3Endpoint(given: string | undefined, env: Context['env']): string | undefined {
  return given || env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
}

export const publishTerraformRegistry = defineRunnable(publishSpec, async (inp: PublishInputs, ctx: Context): Promise<Result> => {
  const { log } = ctx;
  const name = checkName(inp.name, 'name');
  const namespace = checkName(inp.namespace, 'namespace');
  const versionText = inp.version ?? versionFromRef(ctx.env.GITHUB_REF, name);
  if (!versionText) badInput('version', `a version, or a terraform-provider-${name}-v<version> tag in GITHUB_REF`, ctx.env.GITHUB_REF);
  const version = checkVersion(versionText);
  const registryUrl = parseRegistryUrl(inp['registry-url']);
  if (inp.tarballs.length > 0 === Boolean(inp.source)) badInput('tarballs', "either 'tarballs' or 'source', not both and not neither");
  const endpoint = s3Endpoint(inp['s3-endpoint'], ctx.env);
  const region = ctx.env.AWS_REGION || ctx.env.AWS_DEFAULT_REGION;
  const store = openStore(inp.store, 'store', { endpoint, cwd: ctx.cwd, region });
  const key = await loadSigningKey(inp['signing-key'], inp['signing-key-passphrase'], log);
  log.info(`signing with key ${key.keyId} (${key.algorithm})`);
  const coords = { namespace, name, version };

  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-src-'));
  let rel: Release | undefined;
  try {
    const files = inp.source
      ? await log.group('Fetching archives', () =>
          fetchSource(openStore(inp.source!, 'source', { endpoint, cwd: ctx.cwd, region }), name, version, work, log),
        )
      : await findTarballs(inp.tarballs, ctx.cwd);
    rel = await log.group(`Building ${name} ${version} (${files.length} archives)`, () =>
      buildRelease({ coords, files, protocolsInput: inp.protocols, key, registryUrl, immutable: inp.immutable, log }),
    );
    const plan = await log.group(`Planning against ${store.url}`, () => planRelease(store, rel!, inp.immutable, key.publicArmor));
    printPlan(plan, log);
    refuseConflicts(plan, store.url);
    if (inp['dry-run']) {
      log.info('dry run: nothing was written');
      return result(rel, registryUrl, plan, true, key.keyId);
    }
    await log.group('Checking the store honours conditional writes', () => checkConditionalWrites(store));
    await log.group('Publishing', () => executePlan(store, rel!, plan, inp.immutable, log));
    await log.group('Verifying what was written, as terraform init would', () =>
      verifyRegistry(
        storeReader(store, registryUrl),
        { root: registryUrl, namespace, name, versions: [version], mirrorHost: rel!.mirrorHost },
        log,
      ),
    );
    return result(rel, registryUrl, plan, false, key.keyId);
  } finally {
    await fs.rm(work, { recursive: true, force: true });
    if (rel) await fs.rm(rel.tmpDir, { recursive: true, force: true });
  }
});

function printPlan(plan: Plan, log: Context['log']): void {
  for (const i of [...plan.objects, plan.versions, plan.mirrorIndex])
    log.info(`${i.action.padEnd(8)} ${i.key}${i.action === 'put' ? '' : `  (${i.reason})`}`);
}

function result(rel: Release, registryUrl: URL, plan: Plan, dryRun: boolean, keyId: string): Result {
  const { coords, packages } = rel;
  const provider = `${registryUrl.host}/${coords.namespace}/${coords.name}`;
  const lockHashes = [...packages.map((p) => p.h1), ...packages.map((p) => `zh:${p.sha256}`)].sort();
  const lock = [
    `provider "${provider}" {`,
    `  version     = "${coords.version}"`,
    `  constraints = "${coords.version}"`,
    '  hashes = [',
    ...lockHashes.map((h) => `    "${h}",`),
    '  ]',
    '}',
  ].join('\n');
  const count = (a: string): number => plan.objects.filter((i) => i.action === a).length;
  const report: Report = {
    title: `${dryRun ? 'Dry run: ' : ''}${provider} ${coords.version}`,
    sections: [
      {
        heading: 'Summary',
        text: `${dryRun ? 'Would write' : 'Wrote'} ${count('put') + count('replace')} objects, ${count('skip')} already identical; versions index: ${plan.versions.action}. Signed by key ${keyId}; protocols ${rel.protocols.join(', ')}.`,
      },
      {
        heading: 'Platforms',
        table: {
          head: ['platform', 'file', 'bytes', 'zh (sha256)', 'h1'],
          rows: packages.map((p) => [platformKey(p), p.filename, String(p.size), p.sha256, p.h1]),
        },
      },
      {
        heading: 'Plan',
        table: {
          head: ['object', 'action', 'why'],
          rows: [...plan.objects, plan.versions, plan.mirrorIndex].map((i) => [i.key, i.action, i.reason]),
        },
      },
      { heading: '.terraform.lock.hcl', code: lock, lang: 'hcl' },
    ],
  };
  return {
    outputs: {
      version: coords.version,
      provider,
      platforms: packages.map(platformKey).join(' '),
      'lock-hashes': lockHashes.join('\n'),
      hashes: JSON.stringify(Object.fromEntries(packages.map((p) => [platformKey(p), [p.h1, `zh:${p.sha256}`]]))),
    },
    report,
  };
}
