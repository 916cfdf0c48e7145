import type { Context, Result } from '../context.js';
import { defineSpec } from '../inputs/spec.js';
import { defineOperation } from '../operation.js';
import { DEFAULTS } from '../defaults.js';
import { openOciSession, signatureInputs } from './oci-session.js';
import { signaturePolicy } from '../oci/signatures/policy.js';
import { audited } from '../audit/write.js';
import { auditFileInput, openStoreInput, planInputs, planOutputs, requestTimeoutInput, subprocessTimeoutInput } from './common.js';

const spec = defineSpec({
  name: 'mirror-artifact',
  description:
    'Mirrors first-party images, unchanged (same digests, signatures and referrers), to the third-party registries of their tier, and Terraform provider versions, byte-identical from the registry store, to GitHub releases: the source read once, content everywhere before any tag moves or release is published, every mirror read back; `check` reports drift.',
  inputs: {
    config: { description: 'Path of the mirror file (YAML: targets, tiers, images, providers).', required: true, positional: 0 },
    version: {
      description: 'Mirror only this version (a tag, with or without a leading v), e.g. the tag just promoted.',
      defaultNote: 'every tag the file names',
    },
    tiers: { description: 'Limit to these tiers, one per line.', type: 'list', defaultNote: 'every tier' },
    mode: {
      description:
        '`sync` copies what is missing; `check` writes nothing and reports each mirror ok, missing, moved, incomplete or unreachable (exit 4 on drift).',
      default: 'sync',
      choices: ['sync', 'check'],
    },
    'dry-run': {
      description: 'sync: probe and plan (and refuse what would be refused) without writing anything.',
      type: 'boolean',
      default: 'false',
    },
    parallel: {
      description: 'Source blobs in flight at once, each streamed to every target lacking it.',
      type: 'number',
      default: String(DEFAULTS.mirrorParallel),
    },
    shard: { description: 'Mirror only this share of the (image, tag) list, `i/n`, so a workflow matrix splits a large file.' },
    'fail-fast': { description: 'Stop at the first failed target instead of finishing the others.', type: 'boolean', default: 'false' },
    ...signatureInputs,
    ...requestTimeoutInput,
    ...subprocessTimeoutInput,
    ...planInputs,
    ...auditFileInput,
    'insecure-registries': { description: 'Registry hosts (host[:port]) spoken to over plain HTTP; loopback always may.', type: 'list' },
  },
  branding: { icon: 'copy', color: 'green' },
  namesVariables: "the mirror file's username-env, password-env and token-env",
  outputs: {
    status: { description: 'How the run ended: done, no-op, dry-run, failed (some target failed: exit 3) or drift (check: exit 4).' },
    targets: { description: 'JSON object per target: status, counts, capability probe, requests made, labels, bytes moved.', type: 'json' },
    results: { description: 'JSON: one row per (image, tag, target) with its status and one-line reason.', type: 'json' },
    digests: { description: 'References written, one per line (`registry/repo:tag@digest`).', type: 'list' },
    counts: { description: 'JSON: rows per status, and bytes read from the sources.', type: 'json' },
    ...planOutputs,
  },
});

export const mirrorArtifact = defineOperation(spec, async (inp, ctx: Context): Promise<Result> => {
  // Loaded when run: the mirror code and its YAML and semver parsers are not part of every command's start-up.
  const { runMirror } = await import('../mirror/run.js');
  const signatures = await signaturePolicy(inp, ctx.cwd);
  const res = await runMirror(
    {
      config: inp.config,
      ...(inp.version !== undefined && { version: inp.version }),
      tiers: inp.tiers,
      mode: inp.mode as 'sync' | 'check',
      dryRun: inp['dry-run'],
      parallel: inp.parallel,
      ...(inp.shard !== undefined && { shard: inp.shard }),
      failFast: inp['fail-fast'],
      ...(signatures && { signatures }),
    },
    ctx,
    (credentials) => openOciSession(ctx, { insecureRegistries: inp['insecure-registries'], credentials }),
    (url, field) => openStoreInput(url, field, undefined, ctx),
  );
  return audited(ctx, res, { file: inp['audit-file'] });
});
