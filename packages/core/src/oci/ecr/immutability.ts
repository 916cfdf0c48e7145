import type { Logger } from '../../log/logger.js';
import { ecrRegistry } from '../ref/hosts.js';
import { ecrSdkClient, loadEcrSdk } from './client.js';
import type { AwsConfig } from './client.js';

/**
 * Whether the target repository refuses to move `tag` (ECR tag immutability,
 * with exclusion filters). Not a gate: the copy plan turns such a move into a
 * conflict. Undefined when the host is not ECR or the repository cannot be read.
 */
export async function ecrTagImmutability(
  host: string,
  repository: string,
  aws: AwsConfig,
  log: Logger,
): Promise<((tag: string) => boolean) | undefined> {
  const reg = ecrRegistry(host);
  if (!reg) return undefined;
  try {
    const { DescribeRepositoriesCommand } = await loadEcrSdk();
    const out = await (
      await ecrSdkClient('ecr', reg.region, aws)
    ).send(new DescribeRepositoriesCommand({ registryId: reg.account, repositoryNames: [repository] }));
    const repo = out.repositories?.[0];
    const filters = (repo?.imageTagMutabilityExclusionFilters ?? []).map(
      (f) =>
        new RegExp(
          `^${(f.filter ?? '')
            .split('*')
            .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
            .join('.*')}$`,
        ),
    );
    const excluded = (tag: string): boolean => filters.some((re) => re.test(tag));
    switch (repo?.imageTagMutability) {
      case 'IMMUTABLE':
        return () => true;
      case 'IMMUTABLE_WITH_EXCLUSION':
        return (tag) => !excluded(tag);
      case 'MUTABLE_WITH_EXCLUSION':
        return (tag) => excluded(tag);
      default:
        return () => false;
    }
  } catch (err) {
    // Without ecr:DescribeRepositories the registry's own refusal (TAG_INVALID) still becomes a conflict.
    log.debug(`DescribeRepositories ${repository}: ${(err as Error).message}`);
    return undefined;
  }
}
