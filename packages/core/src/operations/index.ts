import type { AnyOperation } from '../operation.js';
import { copyImage } from './copy-image.js';
import { iamPolicy } from './iam-policy.js';
import { mirrorArtifact } from './mirror-artifact.js';
import { promoteEcrImage } from './promote-ecr-image.js';
import { promoteTerraformProvider } from './promote-terraform-provider.js';
import { publishTerraformRegistry } from './publish-terraform-registry.js';
import { verifyTerraformRegistry } from './verify-terraform-registry.js';

/**
 * Every operation Relay has. The CLI's commands and --help, the actions and
 * their action.yml, the README tables and the drift tests all iterate this
 * list: adding an operation is one file here plus its domain code.
 */
export const OPERATIONS = [
  publishTerraformRegistry,
  promoteTerraformProvider,
  verifyTerraformRegistry,
  copyImage,
  promoteEcrImage,
  iamPolicy,
  mirrorArtifact,
] as const satisfies readonly AnyOperation[];

export type OperationName = (typeof OPERATIONS)[number]['spec']['name'];

export function findOperation(name: string): AnyOperation | undefined {
  return OPERATIONS.find((o) => o.spec.name === name);
}

export {
  copyImage,
  iamPolicy,
  mirrorArtifact,
  promoteEcrImage,
  promoteTerraformProvider,
  publishTerraformRegistry,
  verifyTerraformRegistry,
};
