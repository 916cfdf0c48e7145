import type { OutputValue, Result } from '../context.js';
import { redactValue } from '../log/redact-value.js';
import type { ChainLink } from './chain.js';
import { countActions, type PlanAction, type PlanRow } from '../report/plan.js';
import { planHash } from '../report/plan-hash.js';
import type { RecordedInput, Recovers, RunRecord } from '../report/recorder.js';
import { VERSION } from '../version.js';

/**
 * The audit record of one run that changed something: what (every object of
 * the plan with its action and result, and the digests the run produced),
 * from where (the non-secret inputs, redacted), who (the actor, the workflow,
 * the run, the approvers), when, with which Relay, bound to which plan. One
 * JSON document per run, written once: into the registry store next to what
 * was published (`audit/<yyyy>/<mm>/<time>-<run>.json`), or for image
 * operations to the file the workflow uploads as an artifact.
 *
 * Shaped after what promotion tools record (the in-toto Promotion Record's
 * source, destination, digest, time and builder; kpromo's one record per
 * promotion): docs/architecture.md and the README "Audit records" say how
 * it is read.
 */
export const AUDIT_SCHEMA = 'relay-audit/v1';

/** One approval of the run's environment, as RELAY_APPROVERS passes it. */
export interface Approval {
  login: string;
  state?: string;
  comment?: string;
  environments?: string[];
}

export interface AuditRecord {
  schema: typeof AUDIT_SCHEMA;
  operation: string;
  /** When the record was made: the writes had finished. */
  time: string;
  /** Its place in the store's chain of records (audit/chain.ts): the record before it, by key and sha256. */
  chain: ChainLink;
  tool: { name: 'relay'; version: string; action?: string };
  /**
   * What the run made true, by name: `provider` and `version` for a provider
   * (verify-terraform-registry matches these), `digest` and `images` for an image.
   */
  subject: Record<string, OutputValue>;
  who: { actor?: string; triggeringActor?: string; approvers: Approval[] };
  /** The GitHub Actions run; absent for a run by hand (then `who.actor` is the local user). */
  run?: {
    repository?: string;
    workflowRef?: string;
    workflowSha?: string;
    ref?: string;
    sha?: string;
    event?: string;
    job?: string;
    id: string;
    attempt?: string;
    url?: string;
  };
  /** The non-secret inputs given: where from and where to. */
  inputs: Record<string, RecordedInput>;
  plan: {
    /** sha256 of the plan (as `plan-hash` and `expect-plan`). */
    sha256: string;
    /** Whether the run was bound to an approved plan (expect-plan given, and matched). */
    approved: boolean;
    counts: Record<PlanAction, number>;
    /** Every object with its action, why, and result: before (why) and after (result). */
    rows: PlanRow[];
  };
  outputs: Record<string, OutputValue>;
  /** A replay (`relay replay`): the run it recovers, by its run document (README "Recovery"). */
  recovers?: Recovers;
  /** The in-toto statements stored next to what the run wrote (docs/provenance.md), by store key and sha256 of the stored bytes. */
  provenance?: { key: string; sha256: string; predicateType: string }[];
}

const str = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);

/**
 * Approvers from RELAY_APPROVERS: the JSON of GitHub's
 * `GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals` (what the
 * reusable workflows pass), a JSON array of logins, or logins separated by
 * commas, spaces or newlines.
 */
export function parseApprovers(text: string | undefined): Approval[] {
  const t = text?.trim();
  if (!t) return [];
  if (t.startsWith('[')) {
    try {
      const arr = JSON.parse(t) as unknown[];
      return arr.flatMap((a): Approval[] => {
        if (typeof a === 'string') return a ? [{ login: a }] : [];
        if (a === null || typeof a !== 'object') return [];
        const o = a as { user?: { login?: unknown }; login?: unknown; state?: unknown; comment?: unknown; environments?: unknown };
        const login = typeof o.user?.login === 'string' ? o.user.login : typeof o.login === 'string' ? o.login : undefined;
        if (!login) return [];
        const envs = Array.isArray(o.environments)
          ? o.environments
              .map((e) => (typeof e === 'string' ? e : (e as { name?: unknown })?.name))
              .filter((e): e is string => typeof e === 'string')
          : undefined;
        return [
          {
            login,
            ...(typeof o.state === 'string' && { state: o.state }),
            ...(typeof o.comment === 'string' && o.comment !== '' && { comment: o.comment }),
            ...(envs?.length && { environments: envs }),
          },
        ];
      });
    } catch {
      // not JSON after all: a list of logins
    }
  }
  return t
    .split(/[\s,]+/)
    .filter((l) => l !== '')
    .map((login) => ({ login }));
}

/** Who ran it and where, from the environment the face passed (GitHub Actions' default variables, RELAY_APPROVERS). */
export function whoAndRun(env: Record<string, string | undefined>): Pick<AuditRecord, 'who' | 'run'> {
  const approvers = parseApprovers(env.RELAY_APPROVERS);
  const id = str(env.GITHUB_RUN_ID);
  if (!id) return { who: { ...(str(env.USER ?? env.LOGNAME) && { actor: str(env.USER ?? env.LOGNAME)! }), approvers } };
  const server = str(env.GITHUB_SERVER_URL) ?? 'https://github.com';
  const repository = str(env.GITHUB_REPOSITORY);
  const attempt = str(env.GITHUB_RUN_ATTEMPT);
  const url = repository ? `${server}/${repository}/actions/runs/${id}${attempt ? `/attempts/${attempt}` : ''}` : undefined;
  const run = {
    repository,
    workflowRef: str(env.GITHUB_WORKFLOW_REF),
    workflowSha: str(env.GITHUB_WORKFLOW_SHA),
    ref: str(env.GITHUB_REF),
    sha: str(env.GITHUB_SHA),
    event: str(env.GITHUB_EVENT_NAME),
    job: str(env.GITHUB_JOB),
    id,
    attempt,
    url,
  };
  return {
    who: { actor: str(env.GITHUB_ACTOR), triggeringActor: str(env.GITHUB_TRIGGERING_ACTOR), approvers },
    run: JSON.parse(JSON.stringify(run)) as AuditRecord['run'],
  };
}

/** The subject by default: the outputs that name what was written. */
export function subjectOf(outputs: Record<string, OutputValue>): Record<string, OutputValue> {
  return Object.fromEntries(['provider', 'version', 'digest', 'images'].filter((k) => k in outputs).map((k) => [k, outputs[k]!]));
}

/** A record before it has its place in a chain (appendAuditRecord gives it one). */
export type UnchainedRecord = Omit<AuditRecord, 'chain'>;

/** The record's text at its place in the chain: `chain` after `time`, secrets and credentials redacted. */
export function renderAuditRecord(record: UnchainedRecord, link: ChainLink, redact: (text: string) => string): string {
  const { schema, operation, time, ...rest } = record;
  // Redacted as values: the JSON text's escaping would hide a secret holding `"` or `\\` from text redaction.
  return JSON.stringify(redactValue({ schema, operation, time, chain: link, ...rest }, redact), null, 2) + '\n';
}

/** The record of a finished run, from the run's record (inputs, binding), its result and the environment. */
export function buildAuditRecord(
  operation: string,
  res: Result,
  record: RunRecord | undefined,
  env: Record<string, string | undefined>,
  subject?: Record<string, OutputValue>,
  now = new Date(),
): UnchainedRecord {
  const action = str(env.GITHUB_ACTION_REPOSITORY) && `${env.GITHUB_ACTION_REPOSITORY}@${env.GITHUB_ACTION_REF ?? ''}`;
  const { 'plan-hash': _hash, ...outputs } = res.outputs;
  return {
    schema: AUDIT_SCHEMA,
    operation,
    time: now.toISOString(),
    tool: { name: 'relay', version: VERSION, ...(action && { action }) },
    subject: subject ?? subjectOf(res.outputs),
    ...whoAndRun(env),
    inputs: { ...(record?.inputs ?? {}) },
    plan: {
      sha256: planHash(res.plan),
      approved: record?.expected !== undefined && record.approved === record.expected,
      counts: countActions(res.plan),
      rows: res.plan,
    },
    outputs,
    ...(record?.recovers && { recovers: record.recovers }),
  };
}
