/**
 * Registry hosts that Relay treats specially, recognised by name alone: Docker
 * Hub (its aliases and the name people write), private ECR (account and region
 * in the host) and ECR Public.
 */

/** Where Docker Hub's API answers; references to docker.io resolve here. */
export const DOCKER_HUB = 'registry-1.docker.io';
/** Every name Docker Hub goes by, in references and in docker's config.json. */
export const DOCKER_HUB_ALIASES: ReadonlySet<string> = new Set(['docker.io', 'index.docker.io', DOCKER_HUB]);

/** The host as people write it: Docker Hub as docker.io, any other as is. */
export function displayHost(host: string): string {
  return DOCKER_HUB_ALIASES.has(host) ? 'docker.io' : host;
}

const ECR_HOST = /^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?(?::\d+)?$/;
export const ECR_PUBLIC_HOST = 'public.ecr.aws';

/** Account and region of a private ECR registry host. */
export function ecrRegistry(host: string): { account: string; region: string } | undefined {
  const m = ECR_HOST.exec(host);
  return m ? { account: m[1] as string, region: m[2] as string } : undefined;
}

export function isEcrPublic(host: string): boolean {
  return host === ECR_PUBLIC_HOST;
}
