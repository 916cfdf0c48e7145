import {
  envName,
  EXPECT_PLAN,
  RELEASE_ENVIRONMENT_VARIABLE,
  RELEASE_FILE_VARIABLE,
  takesReleaseFile,
  type InputSpec,
  type OperationSpec,
} from '@relay/core';
import { REPORT_OUTPUT } from './docs.js';
import { ENV_SECRET } from './run-action.js';

/**
 * Reusable workflows (`on: workflow_call`) generated from the operation specs,
 * as github/codeql-action generates its `__*.yml` checks: one
 * `.github/workflows/reusable-<operation>.yml` per operation, its inputs and
 * secrets from the same declaration as the CLI flags and action.yml. A unit
 * test (packages/action-kit/test/workflows.test.ts) fails when a committed file
 * differs from what this renders; `UPDATE_WORKFLOWS=1 pnpm test:unit` rewrites
 * them.
 *
 * Shape: an operation with `dry-run` (it writes) gets two jobs, and the duties
 * are separated. `plan` runs it as a dry run with the reader role
 * (`plan-role-to-assume`) and no secret at all (a signature is planned from the
 * key's fingerprint), shows the plan in the job summary, uploads the run
 * document as an artifact and outputs the plan hash. `apply` waits for it, runs
 * in the `environment` (required: its reviewers approve the plan they saw, its
 * secrets are released to this job alone, and the writer role trusts its
 * subject alone) and passes the hash as `expect-plan`, so the operation refuses
 * when what it would now do differs from what was approved. Both jobs start with
 * a shell step that refuses an empty environment (and, for apply, a missing plan
 * hash) before any step holds a credential. Before it runs, the apply job
 * reads who approved the run (RELAY_APPROVERS, for the audit record); an
 * image operation's audit record (RELAY_AUDIT_FILE) is kept as an artifact.
 * A read-only operation gets one
 * job, `run`. Relay's own action is `$/actions/<name>`: the action of the
 * repository and commit the reusable workflow itself runs from, whoever calls
 * it (GitHub's self-repository syntax; `./` would resolve in the caller's
 * checkout).
 */

const words = (s: string): readonly string[] => s.split(/\s+/);

/** Third-party actions, pinned by commit (tags move); `inputs` are those of the pinned action.yml, for the tests. */
export const PINNED_ACTIONS = {
  checkout: {
    repo: 'actions/checkout',
    sha: '3d3c42e5aac5ba805825da76410c181273ba90b1',
    version: 'v7.0.1',
    inputs: words(
      'repository ref token ssh-key ssh-known-hosts ssh-strict ssh-user persist-credentials path clean filter sparse-checkout sparse-checkout-cone-mode fetch-depth fetch-tags show-progress lfs submodules set-safe-directory github-server-url allow-unsafe-pr-checkout',
    ),
  },
  'configure-aws-credentials': {
    repo: 'aws-actions/configure-aws-credentials',
    sha: 'e6de054238d6b7531b4efff3b6587d9aade6a06c',
    version: 'v6.2.3',
    inputs: words(
      'aws-region aws-profile overwrite-aws-profile role-to-assume aws-access-key-id aws-secret-access-key aws-session-token web-identity-token-file role-chaining audience http-proxy no-proxy mask-aws-account-id role-duration-seconds role-external-id role-session-name role-skip-session-tagging transitive-tag-keys inline-session-policy managed-session-policies output-credentials output-env-credentials unset-current-credentials disable-retry retry-max-attempts special-characters-workaround use-existing-credentials allowed-account-ids force-skip-oidc action-timeout-s custom-tags sts-endpoint',
    ),
  },
  'upload-artifact': {
    repo: 'actions/upload-artifact',
    sha: 'bbbca2ddaa5d8feaa63e36b76fdaad77386f024f',
    version: 'v7.0.0',
    inputs: words('name path if-no-files-found retention-days compression-level overwrite include-hidden-files archive'),
  },
  'download-artifact': {
    repo: 'actions/download-artifact',
    sha: '3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c',
    version: 'v8.0.1',
    inputs: words('name artifact-ids path pattern merge-multiple github-token repository run-id skip-decompress digest-mismatch'),
  },
  'attest-build-provenance': {
    repo: 'actions/attest-build-provenance',
    sha: 'a2bbfa25375fe432b6a289bc6b6cd05ecd0c4c32',
    version: 'v4.1.0',
    inputs: words(
      'subject-path subject-digest subject-name subject-checksums predicate-type predicate predicate-path push-to-registry create-storage-record show-summary github-token',
    ),
  },
  'setup-node': {
    repo: 'actions/setup-node',
    sha: '820762786026740c76f36085b0efc47a31fe5020',
    version: 'v7.0.0',
    inputs: words(
      'node-version node-version-file architecture check-latest registry-url scope token cache package-manager-cache cache-dependency-path mirror mirror-token',
    ),
  },
} as const;

export type PinnedAction = keyof typeof PINNED_ACTIONS;

/** `uses:` text of a pinned action: the commit, and the release it is, in a comment. */
export function pinned(name: PinnedAction): string {
  const a = PINNED_ACTIONS[name];
  return `${a.repo}@${a.sha} # ${a.version}`;
}

/** Where a reusable workflow lives, relative to the repository root. */
export const workflowFile = (operation: string): string => `.github/workflows/reusable-${operation}.yml`;

/**
 * Per-operation choices the spec does not carry. `concurrency`: the inputs
 * that name what the operation writes (one provider in one store, one image
 * repository, one mirror file), so two runs writing it queue instead of
 * interleaving; default, every required input that is not a secret.
 * `envSecrets`: the operation reads credentials from variables its inputs
 * name (the mirror file's `username-env`), so the workflow takes them as one
 * dotenv secret. `workflow: false`: no reusable workflow (nothing to run in CI).
 */
export const WORKFLOW_OPTIONS: Record<
  string,
  { concurrency?: string[]; envSecrets?: boolean; workflow?: false; attest?: 'image' | 'files' }
> = {
  'publish-terraform-registry': { concurrency: ['namespace', 'name', 'store'], attest: 'files' },
  'promote-terraform-provider': { concurrency: ['namespace', 'name', 'store'], attest: 'files' },
  'copy-image': { concurrency: ['destination'], attest: 'image' },
  'promote-ecr-image': { concurrency: ['destination'], attest: 'image' },
  'mirror-artifact': { concurrency: ['config'], envSecrets: true },
  'iam-policy': { workflow: false },
};

/** Operations that get a reusable workflow. */
export function hasWorkflow(spec: OperationSpec): boolean {
  return WORKFLOW_OPTIONS[spec.name]?.workflow !== false;
}

/** The input a writing operation takes in the apply job: the hash of the approved plan (declared in @relay/core). */
export { EXPECT_PLAN };

/** The input naming the audit record's file: the workflow sets it (RELAY_AUDIT_FILE) and uploads the file. */
export const AUDIT_FILE = 'audit-file';

/** Inputs the workflow sets itself, never the caller. */
export const WORKFLOW_SET_INPUTS: readonly string[] = [EXPECT_PLAN, AUDIT_FILE];

type CommonInput = { description: string; type: 'string' | 'boolean' | 'number'; required?: true; default?: string | boolean | number };

/** Inputs every generated workflow adds to the operation's own; `writing` ones only to a workflow that writes. */
export const COMMON_INPUTS: Record<string, CommonInput & { only?: 'writing' | 'reading' }> = {
  environment: {
    description:
      'GitHub environment the writing job runs in (required, never empty: a writing job outside an environment is refused before any step holds a credential). Its required reviewers approve the plan the dry-run job shows, its secrets (signing key, registry credentials) are released to that job alone, and its name is the only OIDC subject the writer role trusts (`repo:OWNER/REPO:environment:NAME`).',
    type: 'string',
    required: true,
    only: 'writing',
  },
  'release-file': {
    description:
      "The release file (e.g. `.relay/release.yml`, in the checkout): the operation's inputs come from its section for `environment`, as `relay <operation> --release-file FILE --environment NAME` reads them by hand. An input given here overrides it.",
    type: 'string',
    default: '',
    only: 'writing',
  },
  'plan-role-to-assume': {
    description:
      'ARN of the reader role the plan (dry-run) job assumes through GitHub OIDC: read-only, trusted by ref (`relay iam-policy` prints it as the reader). Empty: the plan runs without AWS credentials (enough against a public store or registry).',
    type: 'string',
    default: '',
    only: 'writing',
  },
  'role-to-assume': {
    description:
      'ARN of the IAM role to assume through GitHub OIDC (aws-actions/configure-aws-credentials); `relay iam-policy` prints its policies. In a workflow that writes, the writer role: assumed only by the job in `environment`, which is the only subject it should trust. Empty: no AWS credentials are configured.',
    type: 'string',
    default: '',
  },
  'aws-region': {
    description: 'AWS region for the credentials and S3 (ECR Public is always us-east-1).',
    type: 'string',
    default: 'us-east-1',
  },
  checkout: {
    description: 'Check out the calling repository at the calling commit first (for paths the inputs name), without persisting the token.',
    type: 'boolean',
    default: true,
  },
  'download-artifact': {
    description:
      'Name of an artifact of the calling run to download into the workspace first (e.g. the release tarballs a build job uploaded).',
    type: 'string',
    default: '',
  },
  'runs-on': { description: 'Runner label for the jobs.', type: 'string', default: 'ubuntu-latest' },
  'timeout-minutes': {
    description:
      "Each job's time limit, in minutes: a hung job is cancelled then instead of after GitHub's 6 hours (Relay's own request and subprocess limits still apply within it).",
    type: 'number',
    default: 60,
  },
};

/** The workflow input naming the release file (with `environment`, which names its section). */
export const RELEASE_FILE_INPUT = 'release-file';

/**
 * A writing workflow whose operation takes a release file: every input of the
 * operation is then an optional override (no default, booleans and numbers as
 * text, '' for "not given"), so that what the caller leaves out comes from the
 * release file, else from the spec's default, as it does by hand.
 */
export function fromReleaseFile(spec: OperationSpec): boolean {
  return isWriting(spec) && takesReleaseFile(spec);
}

/** Where the action leaves its run document (action-kit writes it when RELAY_REPORT_FILE is set). */
export const REPORT_FILE = '${{ runner.temp }}/relay-report.json';

/** Where an image operation writes its audit record in the workflow (RELAY_AUDIT_FILE). */
export const AUDIT_FILE_PATH = '${{ runner.temp }}/relay-audit.json';

/** The dotenv secret of operations with `envSecrets` (and of the hand-written image workflows); the action reads it. */
export { ENV_SECRET };

/** The workflow_call secret of a secret input: its RELAY_* name, so that `secrets: inherit` and environment secrets work too. */
export const secretName = (input: string): string => envName(input);

const q = (s: string): string => JSON.stringify(s);

/**
 * Keeps Relay's run document as a file named by its content, and outputs the
 * plan hash: sha256 (hex) of the canonical JSON of the plan rows without
 * `result`, sorted, exactly as `planHash` in packages/core/src/report/plan-hash.ts
 * (a unit test runs both). Node, because every runner that runs Relay has it.
 */
export const KEEP_REPORT_SCRIPT = `// Relay: keep the run document under a name made from its content, and output the plan
// hash (sha256 of the canonical JSON of the plan rows without "result", sorted, as planHash in @relay/core).
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const env = process.env;
if (!fs.existsSync(env.RELAY_REPORT_FILE)) {
  console.log('::error::Relay left no run document: see the step above');
  process.exit(1);
}
const text = fs.readFileSync(env.RELAY_REPORT_FILE, 'utf8');
const report = JSON.parse(text);
const canon = (v) =>
  Array.isArray(v)
    ? '[' + v.map((x) => (x === undefined ? 'null' : canon(x))).join(',') + ']'
    : v !== null && typeof v === 'object'
      ? '{' + Object.keys(v).sort().filter((k) => v[k] !== undefined).map((k) => JSON.stringify(k) + ':' + canon(v[k])).join(',') + '}'
      : JSON.stringify(v) ?? 'null';
const sha256 = (s) => createHash('sha256').update(s).digest('hex');
const planHash = sha256('[' + (report.plan || []).map(({ result, ...row }) => canon(row)).sort().join(',') + ']');
const name = 'relay-' + report.operation + '-' + env.RELAY_STAGE + '-' + sha256(text).slice(0, 16);
const file = path.join(path.dirname(env.RELAY_REPORT_FILE), name + '.json');
fs.writeFileSync(file, JSON.stringify({ ...report, planHash }, null, 2) + '\\n');
fs.appendFileSync(env.GITHUB_OUTPUT, 'plan-hash=' + planHash + '\\nname=' + name + '\\nfile=' + file + '\\n');
if (env.RELAY_STAGE === 'plan') {
  fs.appendFileSync(
    env.GITHUB_STEP_SUMMARY,
    '\\n### Plan hash\\n\\n\`' + planHash + '\`\\n\\nApproving the \`' + env.RELAY_ENVIRONMENT + '\` environment applies this plan and no other: ' +
      'the apply job passes the hash as \`expect-plan\`, and Relay refuses if the plan it recomputes differs ' +
      '(the store or a registry changed since). The run document is the artifact \`' + name + '\`.\\n',
  );
}
`;

/**
 * Reads who approved the run's environment (GitHub's
 * `GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals`, which needs
 * `actions: read`) into RELAY_APPROVERS, which Relay puts in the audit record.
 * A failure is a warning: the record then names no approver, and says so.
 */
export const APPROVERS_SCRIPT = `// Relay: who approved this run's environment -> RELAY_APPROVERS (JSON) for the audit record.
const fs = require('node:fs');
const { randomBytes } = require('node:crypto');
const env = process.env;
const url = env.GITHUB_API_URL + '/repos/' + env.GITHUB_REPOSITORY + '/actions/runs/' + env.GITHUB_RUN_ID + '/approvals';
const headers = { authorization: 'Bearer ' + env.GH_TOKEN, accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28' };
// One deadline over the request and its body (Relay's request-timeout default): a stalled API never holds the job.
fetch(url, { headers, signal: AbortSignal.timeout(55000) })
  .then(async (r) => {
    if (!r.ok) throw new Error('HTTP ' + r.status + ' from ' + url);
    const approvals = (await r.json()).map((a) => ({
      login: a.user && a.user.login,
      state: a.state,
      comment: a.comment || undefined,
      environments: (a.environments || []).map((e) => e.name),
    }));
    const eof = 'RELAY_' + randomBytes(16).toString('hex');
    fs.appendFileSync(env.GITHUB_ENV, 'RELAY_APPROVERS<<' + eof + '\\n' + JSON.stringify(approvals) + '\\n' + eof + '\\n');
    console.log('approved by: ' + (approvals.map((a) => a.login + ' (' + a.state + ')').join(', ') || 'nobody (no approval was required)'));
  })
  // The error's text is data in the annotation (encoded as escapeData does), never a command of its own.
  .catch((e) => console.log('::warning::could not read who approved this run (' + String(e.message).replace(/%/g, '%25').replace(/\\r/g, '%0D').replace(/\\n/g, '%0A') + '); the audit record names no approver'));
`;

/** The step that sets RELAY_APPROVERS in an apply job (only a job in an environment has approvals). */
export function approversStep(condition?: string): string[] {
  return [
    '      - name: Who approved',
    ...(condition ? [`        if: ${condition}`] : []),
    '        env:',
    '          GH_TOKEN: ${{ github.token }}',
    '        shell: node {0}',
    '        run: |',
    ...indent(APPROVERS_SCRIPT, 10),
  ];
}

const indent = (text: string, n: number): string[] =>
  text
    .replace(/\n$/, '')
    .split('\n')
    .map((l) => (l === '' ? '' : ' '.repeat(n) + l));

/** The description of an input in workflow_call: the spec's, its default note, its choices, list form. */
function inputDescription(s: InputSpec): string {
  return [
    s.description,
    s.type === 'list' && !/one per line/i.test(s.description) ? ' One per line.' : '',
    s.choices ? ` One of: ${s.choices.join(', ')}.` : '',
    s.defaultNote ? ` Default: ${s.defaultNote}.` : '',
  ].join('');
}

/**
 * The workflow_call input type of a spec input: boolean and number as such; list (newline-separated) and string as
 * string. A number without a default is a string too: workflow_call turns an unset number into 0, which the action
 * would take as given (and refuse), where an empty string is "not given".
 */
export function workflowInputType(s: InputSpec): 'boolean' | 'number' | 'string' {
  return s.type === 'boolean' ? 'boolean' : s.type === 'number' && s.default !== undefined ? 'number' : 'string';
}

/** What an optional override says about the value it stands in for. */
function overrideNote(s: InputSpec): string {
  const fallback = s.default !== undefined ? `, else ${s.default}` : s.required ? '; required there if not here' : '';
  return ` Empty: from the release file${fallback}.${s.type === 'boolean' ? ' Give true or false.' : ''}`;
}

function yamlDefault(s: InputSpec): string | undefined {
  if (s.default === undefined) return undefined;
  const t = workflowInputType(s);
  if (t === 'boolean') return s.default === 'true' ? 'true' : 'false';
  if (t === 'number') return String(Number(s.default));
  return q(s.default);
}

/** Spec inputs the caller gives (all but the plan hash and the audit file, which the workflow sets). */
function callerInputs(spec: OperationSpec): [string, InputSpec][] {
  return Object.entries(spec.inputs).filter(([name]) => !WORKFLOW_SET_INPUTS.includes(name));
}

/** An operation that writes its audit record to a file (image operations): the workflow keeps the file. */
export function auditsToFile(spec: OperationSpec): boolean {
  return AUDIT_FILE in spec.inputs;
}

export function isWriting(spec: OperationSpec): boolean {
  return 'dry-run' in spec.inputs;
}

function concurrencyInputs(spec: OperationSpec): string[] {
  const names =
    WORKFLOW_OPTIONS[spec.name]?.concurrency ??
    callerInputs(spec)
      .filter(([, s]) => s.required && !s.secret)
      .map(([n]) => n);
  for (const n of names) if (!(n in spec.inputs)) throw new Error(`${spec.name}: concurrency input '${n}' is not an input`);
  return names;
}

/**
 * The first step of every job of a writing workflow, before any step that holds a credential: it refuses a job
 * outside an environment (no reviewers, and a subject the writer role must not trust) and an apply job without
 * the plan hash it is bound to. Shell only, and the values come in through `env`, never into the script text.
 */
export function guardStep(stage: 'plan' | 'apply'): string[] {
  return [
    '      - name: Require an approved environment' + (stage === 'apply' ? ' and the planned hash' : ''),
    '        env:',
    '          RELAY_ENVIRONMENT: ${{ inputs.environment }}',
    ...(stage === 'apply' ? ['          RELAY_PLAN_HASH: ${{ needs.plan.outputs.plan-hash }}'] : []),
    '        shell: bash',
    '        run: |',
    '          if [ -z "$RELAY_ENVIRONMENT" ]; then',
    '            echo "::error::input environment is empty: a writing job runs only in a GitHub environment, whose reviewers approve the plan and whose secrets and writer role only that job can use (give e.g. environment: production)"',
    '            exit 1',
    '          fi',
    ...(stage === 'apply'
      ? [
          '          if ! printf %s "$RELAY_PLAN_HASH" | grep -Eq \'^[0-9a-f]{64}$\'; then',
          '            echo "::error::the plan job gave no plan hash: the apply job writes only the plan that was approved"',
          '            exit 1',
          '          fi',
        ]
      : []),
  ];
}

/** Steps every job takes before Relay runs; `role` is the input naming the role it assumes. */
function prepareSteps(spec: OperationSpec, role = 'role-to-assume'): string[] {
  const out = [
    '      - name: Check out the calling repository',
    '        if: inputs.checkout',
    `        uses: ${pinned('checkout')}`,
    '        with:',
    '          persist-credentials: false',
    '      - name: Download ${{ inputs.download-artifact }}',
    "        if: inputs.download-artifact != ''",
    `        uses: ${pinned('download-artifact')}`,
    '        with:',
    '          name: ${{ inputs.download-artifact }}',
    '      - name: AWS credentials through OIDC',
    `        if: inputs.${role} != ''`,
    `        uses: ${pinned('configure-aws-credentials')}`,
    '        with:',
    `          role-to-assume: \${{ inputs.${role} }}`,
    '          aws-region: ${{ inputs.aws-region }}',
    `          role-session-name: relay-${spec.name.slice(0, 40)}-\${{ github.run_id }}`,
  ];
  return out;
}

/**
 * The step running Relay's action with every caller input, and `extra` (dry-run, expect-plan) on top. Without
 * `secrets` (the plan job) no secret input is passed at all: the plan is made from public keys and fingerprints.
 */
function relayStep(spec: OperationSpec, title: string, extra: Record<string, string>, audit = false, secrets = true): string[] {
  const out = [
    `      - name: ${q(title)}`,
    '        id: relay',
    `        uses: $/actions/${spec.name}`,
    '        env:',
    `          RELAY_REPORT_FILE: ${REPORT_FILE}`,
    ...(audit ? [`          RELAY_AUDIT_FILE: ${AUDIT_FILE_PATH}`] : []),
    // The release file and its environment: the action reads every input `with:` leaves empty from it.
    ...(fromReleaseFile(spec)
      ? [
          `          ${RELEASE_FILE_VARIABLE}: \${{ inputs.${RELEASE_FILE_INPUT} }}`,
          `          ${RELEASE_ENVIRONMENT_VARIABLE}: \${{ inputs.environment }}`,
        ]
      : []),
    // Read by Relay itself, with the parser and rules of the CLI's --secrets-file; never in the plan job.
    ...(secrets && WORKFLOW_OPTIONS[spec.name]?.envSecrets ? [`          ${ENV_SECRET}: \${{ secrets.${ENV_SECRET} }}`] : []),
    '        with:',
  ];
  for (const [name, s] of callerInputs(spec)) {
    if (name in extra || (s.secret && !secrets)) continue;
    out.push(`          ${name}: \${{ ${s.secret ? `secrets.${secretName(name)}` : `inputs.${name}`} }}`);
  }
  for (const [name, value] of Object.entries(extra)) out.push(`          ${name}: ${value}`);
  return out;
}

/**
 * After the operation wrote, GitHub's build-provenance attestation of what it wrote, by the job that wrote it
 * (stored with GitHub: `gh attestation verify <zip> --repo <caller>`, or `oci://<image>@<digest>`). An image: the
 * written digest. A provider: every zip and SHA256SUMS, from the `subjects` output (sha256sum lines) written to a
 * file through `env`, never into the script text; the zips themselves are gone with Relay's temporary directory.
 */
export function attestSteps(spec: OperationSpec): string[] {
  const kind = WORKFLOW_OPTIONS[spec.name]?.attest;
  if (kind === 'files')
    return [
      '      - name: Subjects to attest',
      '        id: subjects',
      "        if: ${{ success() && steps.relay.outputs.subjects != '' }}",
      '        env:',
      '          SUBJECTS: ${{ steps.relay.outputs.subjects }}',
      '        shell: bash',
      '        run: |',
      '          printf \'%s\\n\' "$SUBJECTS" > "$RUNNER_TEMP/relay-subjects.sha256"',
      '          echo "file=$RUNNER_TEMP/relay-subjects.sha256" >> "$GITHUB_OUTPUT"',
      '      - name: Attest the zips and SHA256SUMS (GitHub artifact attestation)',
      "        if: ${{ success() && steps.subjects.outputs.file != '' }}",
      `        uses: ${pinned('attest-build-provenance')}`,
      '        with:',
      '          subject-checksums: ${{ steps.subjects.outputs.file }}',
    ];
  if (kind !== 'image') return [];
  return [
    '      - name: Attest the image (GitHub artifact attestation)',
    "        if: ${{ success() && steps.relay.outputs.digest != '' }}",
    `        uses: ${pinned('attest-build-provenance')}`,
    '        with:',
    '          subject-name: ${{ inputs.destination }}',
    '          subject-digest: ${{ steps.relay.outputs.digest }}',
  ];
}

/** Keeps the run document (artifact) and, for the plan, the hash and summary; with `audit`, the audit record too. */
function keepSteps(spec: OperationSpec, stage: 'plan' | 'apply' | 'run', audit = false): string[] {
  const cond = "        if: ${{ !cancelled() && steps.relay.outcome != 'skipped' }}";
  return [
    `      - name: ${stage === 'plan' ? 'Plan hash and run document' : 'Run document'}`,
    '        id: keep',
    cond,
    '        env:',
    `          RELAY_REPORT_FILE: ${REPORT_FILE}`,
    `          RELAY_STAGE: ${stage}`,
    ...(stage === 'plan' ? ['          RELAY_ENVIRONMENT: ${{ inputs.environment }}'] : []),
    '        shell: node {0}',
    '        run: |',
    ...indent(KEEP_REPORT_SCRIPT, 10),
    '      - name: Upload the run document',
    cond,
    `        uses: ${pinned('upload-artifact')}`,
    '        with:',
    '          name: ${{ steps.keep.outputs.name }}',
    '          path: ${{ steps.keep.outputs.file }}',
    '          if-no-files-found: error',
    '          overwrite: true',
    ...(audit ? auditUploadStep() : []),
  ];
}

/** Uploads the audit record an image operation wrote (none after a dry run or a no-op: nothing was written). */
export function auditUploadStep(): string[] {
  return [
    '      - name: Upload the audit record',
    "        if: ${{ !cancelled() && steps.relay.outcome == 'success' }}",
    `        uses: ${pinned('upload-artifact')}`,
    '        with:',
    '          name: ${{ steps.keep.outputs.name }}-audit',
    `          path: ${AUDIT_FILE_PATH}`,
    '          if-no-files-found: ignore',
    '          overwrite: true',
  ];
}

const JOB_PERMISSIONS = ['    permissions:', '      contents: read', '      id-token: write'];
/** A writing job also reads who approved its run (`actions: read`, for the audit record). */
const APPLY_PERMISSIONS = [...JOB_PERMISSIONS, '      actions: read'];

function jobOutputs(spec: OperationSpec): string[] {
  return [
    '    outputs:',
    ...Object.keys(spec.outputs).map((o) => `      ${o}: \${{ steps.relay.outputs.${o} }}`),
    '      report: ${{ steps.relay.outputs.report }}',
  ];
}

/** `.github/workflows/reusable-<name>.yml`, rendered from the operation's spec. */
export function renderReusableWorkflow(spec: OperationSpec): string {
  const writing = isWriting(spec);
  const common = Object.keys(COMMON_INPUTS);
  for (const name of Object.keys(spec.inputs))
    if (common.includes(name)) throw new Error(`${spec.name}: input '${name}' collides with a workflow input of the same name`);
  const out = [
    `# Generated from the ${spec.name} spec (packages/core/src/operations) by packages/action-kit/src/workflows.ts;`,
    '# the unit tests fail when it drifts. Regenerate with: UPDATE_WORKFLOWS=1 pnpm test:unit',
    '#',
    `# ${spec.description}`,
    '# Call it from a job (pin the commit of a release; `permissions` must grant what its jobs ask):',
    `#   uses: your-org/relay/${workflowFile(spec.name)}@<commit> # vX.Y.Z`,
    ...(writing
      ? [
          '# A dry-run job computes the plan first with the reader role and no secrets (job summary, artifact, hash); the',
          '# write job then waits for the `environment` approval (required) and refuses unless its own plan has the same',
          '# hash (`expect-plan`). Keep the secrets as secrets of that environment and call with `secrets: inherit`.',
        ]
      : []),
    `name: ${q(`relay: ${spec.name}`)}`,
    '',
    'on:',
    '  workflow_call:',
    '    inputs:',
  ];
  const overrides = fromReleaseFile(spec);
  for (const [name, s] of callerInputs(spec)) {
    if (s.secret) continue;
    const def = overrides ? undefined : yamlDefault(s);
    out.push(
      `      ${name}:`,
      `        description: ${q(inputDescription(s) + (overrides ? overrideNote(s) : ''))}`,
      `        type: ${overrides ? 'string' : workflowInputType(s)}`,
      `        required: ${Boolean(s.required) && def === undefined && !overrides}`,
    );
    if (def !== undefined) out.push(`        default: ${def}`);
  }
  for (const [name, c] of Object.entries(COMMON_INPUTS)) {
    if (c.only && c.only !== (writing ? 'writing' : 'reading')) continue;
    out.push(
      `      ${name}:`,
      `        description: ${q(c.description)}`,
      `        type: ${c.type}`,
      `        required: ${Boolean(c.required)}`,
    );
    if (c.default !== undefined) out.push(`        default: ${typeof c.default === 'string' ? q(c.default) : String(c.default)}`);
  }
  const secrets = callerInputs(spec).filter(([, s]) => s.secret);
  const envSecrets = WORKFLOW_OPTIONS[spec.name]?.envSecrets;
  if (secrets.length || envSecrets) {
    out.push('    secrets:');
    for (const [name, s] of secrets)
      out.push(
        `      ${secretName(name)}:`,
        `        description: ${q(`${name}: ${s.description}${s.required ? ' Required by the operation, which refuses to run without it.' : ''} ${writing ? `Read only by the apply job: keep it as a secret ${secretName(name)} of the environment and call with \`secrets: inherit\` (environment secrets reach a called workflow only so).` : `Pass it mapped, or name a secret ${secretName(name)} and call with \`secrets: inherit\`.`}`)}`,
        '        required: false',
      );
    if (envSecrets)
      out.push(
        `      ${ENV_SECRET}:`,
        `        description: ${q("Variables for the operation, one `NAME=value` per line (dotenv): the credentials its inputs name by variable, e.g. the mirror file's `username-env`/`password-env`/`token-env`. Each value is masked; GITHUB_*, RUNNER_*, AWS_* and names that change how programs run are refused." + (writing ? ' Read only by the apply job (keep it as an environment secret, `secrets: inherit`); the plan job reads the targets anonymously.' : ''))}`,
        '        required: false',
      );
  }
  const job = writing ? 'apply' : 'run';
  out.push('    outputs:');
  for (const [name, o] of Object.entries(spec.outputs))
    out.push(`      ${name}:`, `        description: ${q(o.description)}`, `        value: \${{ jobs.${job}.outputs.${name} }}`);
  out.push('      report:', `        description: ${q(REPORT_OUTPUT)}`, `        value: \${{ jobs.${job}.outputs.report }}`);
  out.push('', 'permissions: {}', '', 'jobs:');

  const keys = concurrencyInputs(spec);
  const concurrency = keys.length
    ? [
        '    concurrency:',
        `      group: relay-${spec.name}-${keys.map((k) => `\${{ inputs.${k} }}`).join('-')}`,
        '      cancel-in-progress: false',
        '      queue: max',
      ]
    : [];
  if (writing) {
    out.push(
      '  plan:',
      '    name: Plan (dry run, reader role, no secrets)',
      '    runs-on: ${{ inputs.runs-on }}',
      '    timeout-minutes: ${{ inputs.timeout-minutes }}',
      ...JOB_PERMISSIONS,
      '    outputs:',
      '      plan-hash: ${{ steps.keep.outputs.plan-hash }}',
      '    steps:',
      ...guardStep('plan'),
      ...prepareSteps(spec, 'plan-role-to-assume'),
      ...relayStep(spec, `${spec.name} (dry run)`, { 'dry-run': 'true' }, false, false),
      ...keepSteps(spec, 'plan'),
      '',
      '  apply:',
      '    name: Apply (in the environment, after approval)',
      '    needs: plan',
      "    if: ${{ !cancelled() && needs.plan.result == 'success' }}",
      '    runs-on: ${{ inputs.runs-on }}',
      '    timeout-minutes: ${{ inputs.timeout-minutes }}',
      '    environment: ${{ inputs.environment }}',
      ...concurrency,
      ...APPLY_PERMISSIONS,
      ...(WORKFLOW_OPTIONS[spec.name]?.attest ? ['      attestations: write'] : []),
      ...jobOutputs(spec),
      '    steps:',
      ...guardStep('apply'),
      ...prepareSteps(spec),
      ...approversStep(),
      ...relayStep(spec, spec.name, { [EXPECT_PLAN]: '${{ needs.plan.outputs.plan-hash }}' }, auditsToFile(spec)),
      ...attestSteps(spec),
      ...keepSteps(spec, 'apply', auditsToFile(spec)),
    );
  } else {
    out.push(
      '  run:',
      `    name: ${q(spec.name)}`,
      '    runs-on: ${{ inputs.runs-on }}',
      '    timeout-minutes: ${{ inputs.timeout-minutes }}',
      ...JOB_PERMISSIONS,
      ...jobOutputs(spec),
      '    steps:',
      ...prepareSteps(spec),
      ...relayStep(spec, spec.name, {}),
      ...keepSteps(spec, 'run'),
    );
  }
  return out.join('\n') + '\n';
}
