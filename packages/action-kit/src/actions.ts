import { promoteEcrImage, publishTerraformRegistry, type Operation } from '@relay/core';

/** Every action in actions/<name>: its operation and its Marketplace branding. */
export const ACTIONS: Record<string, { op: Operation; branding: { icon: string; color: string } }> = {
  'publish-terraform-registry': { op: publishTerraformRegistry as unknown as Operation, branding: { icon: 'package', color: 'purple' } },
  'promote-ecr-image': { op: promoteEcrImage as unknown as Operation, branding: { icon: 'upload-cloud', color: 'orange' } },
};
