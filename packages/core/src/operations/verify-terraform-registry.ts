import type { Context, Result } from '../context.js';
import { HttpClient } from '../http/client.js';
import type { Store } from '../store/store.js';
import { IntegrityError } from '../errors.js';
import { defineSpec } from '../inputs/spec.js';
import { defineOperation } from '../operation.js';
import { checkName, checkVersion } from '../terraform/names.js';
import { httpReader, storeReader, verifyRegistry } from '../terraform/verify.js';
import { describeChain } from '../audit/chain.js';
import { auditedVersions } from '../audit/read.js';
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
    'audit-chain': {
      description:
        "The state of the audit records' chain (read from `store` only): `intact: N records, head <key> (sha256 …)`, `no chain: …` for records older than chaining, or `no records`. A broken chain (a record deleted, altered or put in another's place) fails the run, naming the record.",
    },
    unaudited: {
      description: 'Versions checked that no audit record under `audit/` names, space-separated (read from `store` only; empty over HTTP).',
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
  const reader = store ? storeReader(store, root) : httpReader(client);
  const checks = await verifyRegistry(
    reader,
    { root, namespace, name, versions, mirrorHost: inp.mirror ? root.host : undefined },
    ctx.log,
  ).finally(() => client.close());
  const vs = [...new Set(checks.map((c) => c.version))];
  const audit = await auditSection(store, `${namespace}/${name}`, vs, ctx);
  return {
    outputs: { versions: vs.join(' '), platforms: String(checks.length), unaudited: audit.unaudited.join(' '), 'audit-chain': audit.chain },
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
        ...audit.sections,
      ],
    },
  };
});

/**
 * Which versions no audit record names: a warning, not a failure (versions
 * published before records existed have none). And the chain the records
 * form: a broken one is evidence that the trail was tampered with, and fails
 * the run naming the first broken link.
 */
async function auditSection(
  store: Store | undefined,
  provider: string,
  versions: string[],
  ctx: Context,
): Promise<{ unaudited: string[]; chain: string; sections: ReportSection[] }> {
  if (!store) {
    const text = 'not checked: they are listed from the store (give `store`)';
    return { unaudited: [], chain: '', sections: [{ heading: 'Audit records', text }] };
  }
  const found = await auditedVersions(store, ctx.signal);
  const chain = describeChain(found.chain);
  if (found.chain.state === 'broken') throw new IntegrityError(`audit records of ${store.url}: chain ${chain}`);
  ctx.log.info(`audit chain: ${chain}`);
  const have = found.versions.get(provider) ?? new Set<string>();
  const unaudited = versions.filter((v) => !have.has(v));
  for (const key of found.unreadable) ctx.log.warn(`${store.url}/${key} is not an audit record Relay can read`);
  if (unaudited.length)
    ctx.log.warn(`no audit record names ${provider} ${unaudited.join(', ')} (published without Relay, or before it kept records)`);
  const text = unaudited.length
    ? `no record for ${unaudited.join(', ')}; ${versions.length - unaudited.length} of ${versions.length} versions recorded (${found.records} ${found.records === 1 ? 'record' : 'records'} under audit/)`
    : `every version checked has one (${found.records} ${found.records === 1 ? 'record' : 'records'} under audit/)`;
  return {
    unaudited,
    chain,
    sections: [
      { heading: 'Audit records', text },
      { heading: 'Audit chain', text: chain },
    ],
  };
}
