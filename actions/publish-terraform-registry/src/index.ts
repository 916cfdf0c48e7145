import { runAction } from '@relay/action-kit';
import { publishTerraformRegistry } from '@relay/core';

await runAction(publishTerraformRegistry);
