import { IntegrityError } from '../errors.js';
import { VERSION } from '../version.js';
import type { Builder } from './builder.js';
import {
  descriptors,
  parseStatement,
  PUBLISH_BUILD_TYPE,
  renderStatement,
  SLSA_PROVENANCE_V1,
  STATEMENT_TYPE,
  type NamedDigest,
  type ResourceDescriptor,
  type Statement,
} from './statement.js';

/**
 * The SLSA provenance v1 Statement of one provider publish: the subjects are
 * what the version serves (every zip and SHA256SUMS, which lists the
 * manifest), the resolved dependencies the release archives it was repacked
 * from (and the commit the workflow ran on), the external parameters the
 * non-secret inputs. No timestamp: a re-run of the same publish renders the
 * same statement except for its builder and invocation, and keeps the one
 * already stored (sameProvenance).
 */

export interface SlsaPredicate {
  buildDefinition: {
    buildType: string;
    externalParameters: Record<string, unknown>;
    internalParameters?: Record<string, unknown>;
    resolvedDependencies?: ResourceDescriptor[];
  };
  runDetails: {
    builder: { id: string; version?: Record<string, string> };
    metadata?: { invocationId?: string };
  };
}

export interface PublishProvenance {
  provider: { namespace: string; name: string; version: string };
  /** Every zip and SHA256SUMS, as stored. */
  subjects: NamedDigest[];
  /** The release archives repacked, as given. */
  sources: NamedDigest[];
  /** The non-secret inputs (RunRecord.inputs), less those that only say how to run (dry-run, time limits). */
  inputs: Record<string, unknown>;
  builder: Builder;
}

/** Inputs that change how a run goes, never what it builds: left out so a dry run, a retry with more time and the apply agree. */
const RUN_ONLY_INPUTS = new Set(['dry-run', 'request-timeout', 'subprocess-timeout']);

export function publishStatement(p: PublishProvenance): Statement<SlsaPredicate> {
  const inputs = Object.fromEntries(Object.entries(p.inputs).filter(([k]) => !RUN_ONLY_INPUTS.has(k)));
  const src = p.builder.source;
  return {
    _type: STATEMENT_TYPE,
    subject: descriptors(p.subjects),
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: PUBLISH_BUILD_TYPE,
        externalParameters: {
          provider: p.provider,
          inputs,
          ...(src && { workflow: { repository: src.repository, ...(src.ref && { ref: src.ref }) } }),
        },
        internalParameters: { relay: VERSION, ...(p.builder.host && { host: p.builder.host }) },
        resolvedDependencies: [...descriptors(p.sources), ...(src?.sha ? [{ uri: src.uri, digest: { gitCommit: src.sha } }] : [])],
      },
      runDetails: {
        builder: { id: p.builder.id, version: { relay: VERSION } },
        metadata: { invocationId: p.builder.invocationId },
      },
    },
  };
}

export const renderPublishStatement = (p: PublishProvenance): Buffer => renderStatement(publishStatement(p));

/** Reads a publish's provenance Statement (SLSA v1, Relay's build type); `where` names it in the refusal. */
export function parsePublishStatement(where: string, bytes: Buffer): Statement<SlsaPredicate> {
  const s = parseStatement(where, bytes, SLSA_PROVENANCE_V1) as Statement<Partial<SlsaPredicate>>;
  if (s.predicate.buildDefinition?.buildType !== PUBLISH_BUILD_TYPE) {
    throw new IntegrityError(`${where}: buildType is not ${PUBLISH_BUILD_TYPE}`);
  }
  return s as Statement<SlsaPredicate>;
}

/**
 * Whether a stored statement may stay in place of ours: the same subjects and
 * the same archives (and, unless `anyRef`, the same repository and ref); only
 * the run differs. A write-once version passes `anyRef`, as the build record
 * does (terraform/record.ts sameBuild). Returns why, or undefined.
 */
export function sameProvenance(existing: Buffer, ours: Buffer, anyRef: boolean): string | undefined {
  let a: Statement<SlsaPredicate>, b: Statement<SlsaPredicate>;
  try {
    a = parsePublishStatement('', existing);
    b = parsePublishStatement('', ours);
  } catch {
    return undefined;
  }
  const key = (s: Statement<SlsaPredicate>): string => {
    const d = s.predicate.buildDefinition;
    const archives = (d.resolvedDependencies ?? []).filter((r) => r.digest?.sha256);
    const ext = d.externalParameters as { provider?: unknown; workflow?: unknown };
    return JSON.stringify([s.subject, archives, ext.provider, ...(anyRef ? [] : [ext.workflow ?? null])]);
  };
  if (key(a) !== key(b)) return undefined;
  return `same build already attested (${a.predicate.runDetails.metadata?.invocationId ?? a.predicate.runDetails.builder.id})`;
}
