import type { Context, Result } from '../context.js';
import { HttpClient } from '../http/client.js';
import { defineSpec } from '../inputs/spec.js';
import { defineOperation } from '../operation.js';
import { checkName, checkVersion } from '../terraform/names.js';
import { httpReader, storeReader, verifyRegistry } from '../terraform/verify.js';
import { openStoreInput, parseRegistryUrl } from './common.js';

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
  },
  branding: { icon: 'check-circle', color: 'purple' },
  outputs: {
    versions: { description: 'Versions checked, space-separated.' },
    platforms: { description: 'Number of platform packages checked.' },
  },
});

export const verifyTerraformRegistry = defineOperation(spec, async (inp, ctx: Context): Promise<Result> => {
  const root = parseRegistryUrl(inp['registry-url']);
  const namespace = checkName(inp.namespace, 'namespace');
  const name = checkName(inp.name, 'name');
  const versions = inp.version ? [checkVersion(inp.version)] : [];
  const client = new HttpClient({ env: ctx.env, signal: ctx.signal, ...ctx.clients?.http, log: ctx.log });
  const reader = inp.store ? storeReader(openStoreInput(inp.store, 'store', inp['s3-endpoint'], ctx), root) : httpReader(client);
  const checks = await verifyRegistry(
    reader,
    { root, namespace, name, versions, mirrorHost: inp.mirror ? root.host : undefined },
    ctx.log,
  ).finally(() => client.close());
  const vs = [...new Set(checks.map((c) => c.version))];
  return {
    outputs: { versions: vs.join(' '), platforms: String(checks.length) },
    plan: [],
    report: {
      title: `Verified ${root.host}/${namespace}/${name}`,
      sections: [
        {
          heading: 'Checked',
          table: {
            head: ['version', 'platform', 'file', 'zh (sha256)', 'h1', 'signed by'],
            rows: checks.map((c) => [c.version, c.platform, c.filename, c.shasum, c.h1, c.keyId]),
          },
        },
      ],
    },
  };
});
