import * as os from 'node:os';

/**
 * Who ran Relay, as provenance names it: the GitHub Actions workflow and run
 * (from the variables the face passed in Context.env), or this host when run
 * by hand. A run's own identifiers go only into fields a re-run may differ in
 * (the builder and the invocation); the fields a re-run compares never hold them.
 */
export interface Builder {
  /** SLSA builder.id: the workflow file at its ref (`<server>/<owner>/<repo>/.github/workflows/x.yml@refs/...`), or LOCAL_BUILDER. */
  id: string;
  /** SLSA metadata.invocationId: the run's URL (with its attempt), or `local:<host>`. */
  invocationId: string;
  /** The repository, ref and commit the workflow ran on (absent outside Actions). */
  source?: { repository: string; ref?: string; sha?: string; uri: string };
  /** The host, when run by hand. */
  host?: string;
}

const str = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);

export function builderOf(env: Record<string, string | undefined>, localBuilder: string, hostname: () => string = os.hostname): Builder {
  const runId = str(env.GITHUB_RUN_ID);
  const repository = str(env.GITHUB_REPOSITORY);
  if (!runId || !repository) {
    const host = hostname();
    return { id: localBuilder, invocationId: `local:${host}`, host };
  }
  const server = (str(env.GITHUB_SERVER_URL) ?? 'https://github.com').replace(/\/+$/, '');
  const attempt = str(env.GITHUB_RUN_ATTEMPT) ?? '1';
  const workflow = str(env.GITHUB_WORKFLOW_REF);
  const ref = str(env.GITHUB_REF);
  const sha = str(env.GITHUB_SHA);
  return {
    id: workflow ? `${server}/${workflow}` : `${server}/${repository}/actions`,
    invocationId: `${server}/${repository}/actions/runs/${runId}/attempts/${attempt}`,
    source: { repository, ...(ref && { ref }), ...(sha && { sha }), uri: `git+${server}/${repository}${ref ? `@${ref}` : ''}` },
  };
}
