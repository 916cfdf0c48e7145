import type { Context, Result } from '../context.js';
import { HttpClient } from '../http/client.js';
import type { Store } from '../store/store.js';
import { IntegrityError } from '../errors.js';
import { defineSpec } from '../inputs/spec.js';
import { defineOperation } from '../operation.js';
import { checkName, checkVersion } from '../terraform/names.js';
import { httpReader, storeReader, verifyRegistry, type PlatformCheck } from '../terraform/verify.js';
import { describeChain } from '../audit/chain.js';
import { auditedVersions } from '../audit/read.js';
import { verifyProvenance, type VersionProvenance } from '../terraform/provenance.js';
import { AUDIT_PREFIX } from '../audit/write.js';
import type { ReportSection } from '../report/report.js';
import { httpOptions, openStoreInput, parseRegistryUrl, requestTimeoutInput } from './common.js';

const spec = defineSpec({
  name: 'verify-terraform-registry',
  description:
    'Walks a provider registry exactly as terraform init does and applies its checks (discovery, versions, download documents, SHA256SUMS, signature, zip, OpenTofu packages, network mirror).',
  inputs: {
    'registry-url': { description: 'Base URL the registry is served from; fetched over HTTP unless `store` is given.', required: true },
    namespace: { description: 'Registry namespace of the provider.', required: true },
    name: { description: 'Provider type.', required: true },
    version: { description: 'Check only this version.', defaultNote: 'every listed version' },
    store: {
      description:
        'Read the tree from this store (`s3://bucket/prefix` or `file://dir`) instead of over HTTP, as if served at registry-url.',
    },
    mirror: { description: 'Also check the static network mirror.', type: 'boolean', default: 'true' },
    's3-endpoint': { description: 'S3-compatible endpoint URL.', defaultNote: 'AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL' },
    ...requestTimeoutInput,
  },
  branding: { icon: 'check-circle', color: 'purple' },
  outputs: {
    versions: { description: 'Versions checked, space-separated.' },
    platforms: { description: 'Number of platform packages checked.' },
    unattested: {
      description:
        'Versions checked that carry no provenance statement (`relay-provenance.intoto.json`), space-separated. A statement whose subjects differ from the files served fails the run instead.',
    },
    'audit-chain': {
      description:
        "The state of the audit records' chain (read from `store` only): `intact: N records, head <key> (sha256 …)`, `no chain: …` for records older than chaining, or `no records`. A broken chain (a record deleted, altered or put in another's place) fails the run, naming the record.",
    },
  },
});

export const verifyTerraformRegistry = defineOperation(spec, async (inp, ctx: Context): Promise<Result> => {
  const root = parseRegistryUrl(inp['registry-url']);
  const namespace = checkName(inp.namespace, 'namespace');
  const name = checkName(inp.name, 'name');
  const versions = inp.version ? [checkVersion(inp.version)] : [];
  const client = new HttpClient({ env: ctx.env, signal: ctx.signal, ...httpOptions(ctx), log: ctx.log });
  const store = inp.store ? openStoreInput(inp.store, 'store', inp['s3-endpoint'], ctx) : undefined;
  const reader = store ? storeReader(store, root, { servedCurrent: true }) : httpReader(client);
  let checks: PlatformCheck[];
  let found: VersionProvenance[];
  try {
    checks = await verifyRegistry(reader, { root, namespace, name, versions, mirrorHost: inp.mirror ? root.host : undefined }, ctx.log);
    // Each version's statements are held against the very files the walk checked (served zips, SHA256SUMS).
    found = await verifyProvenance(reader, root, { namespace, name }, checks);
  } finally {
    client.close();
  }
  const vs = [...new Set(checks.map((c) => c.version))];
  const unattested = found.filter((p) => p.provenance === 'none').map((p) => p.version);
  if (unattested.length)
    ctx.log.warn(`no provenance statement for ${namespace}/${name} ${unattested.join(', ')} (published before Relay wrote them)`);
  const auditRecords = await auditSection(store, `${namespace}/${name}`, vs, ctx);
  return {
    outputs: {
      versions: vs.join(' '),
      platforms: String(checks.length),
      unattested: unattested.join(' '),
      'audit-chain': auditRecords.chain,
    },
    plan: [],
    report: {
      title: `Verified ${root.host}/${namespace}/${name}`,
      status: 'done',
      counts: `${checks.length} packages of ${vs.length} ${vs.length === 1 ? 'version' : 'versions'} verified (${vs.join(', ')})`,
      sections: [
        {
          heading: 'Checked: files and hashes',
          table: {
            head: ['version', 'platform', 'file', 'zh (sha256)', 'h1', 'signed by'],
            rows: checks.map((c) => [c.version, c.platform, c.filename, c.shasum, c.h1, c.keyId]),
          },
          collapsed: true,
        },
        {
          heading: 'Provenance',
          table: {
            head: ['version', 'SLSA provenance', 'promotion statement'],
            rows: found.map((p) => [p.version, describe(p.provenance), describe(p.promotion)]),
          },
        },
        ...auditRecords.sections,
      ],
    },
  };
});

/**
 * Every version checked must have an audit record: one missing means a run
 * listed it and stopped before recording (a re-run of that publish writes
 * the record as a repair), or it was written without Relay. A failure, never
 * only a warning. And the chain the records form: a broken one is evidence
 * that the trail was tampered with, and fails the run naming the first broken link.
 */
async function auditSection(
  store: Store | undefined,
  provider: string,
  versions: string[],
  ctx: Context,
): Promise<{ chain: string; sections: ReportSection[] }> {
  if (!store)
    return { chain: '', sections: [{ heading: 'Audit records', text: 'not checked: they are listed from the store (give `store`)' }] };
  const found = await auditedVersions(store, ctx.signal);
  const chain = describeChain(found.chain);
  if (found.chain.state === 'broken') throw new IntegrityError(`audit records of ${store.url}: chain ${chain}`);
  ctx.log.info(`audit chain: ${chain}`);
  const have = found.versions.get(provider) ?? new Set<string>();
  const unaudited = versions.filter((v) => !have.has(v));
  for (const key of found.unreadable) ctx.log.warn(`${store.url}/${key} is not an audit record Relay can read`);
  if (unaudited.length)
    throw new IntegrityError(
      `${store.url}: no audit record under ${AUDIT_PREFIX} names ${provider} ${unaudited.join(', ')} (a publish stopped before recording it, or it was written without Relay; re-running that publish records it as a repair)`,
    );
  const text = `every version checked has one (${found.records} ${found.records === 1 ? 'record' : 'records'} under audit/)`;
  return {
    chain,
    sections: [
      { heading: 'Audit records', text },
      { heading: 'Audit chain', text: chain },
    ],
  };
}

const describe = (s: 'checked' | 'none'): string => (s === 'checked' ? 'present; its subjects are the files served' : 'none');
