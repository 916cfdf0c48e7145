import { runAction } from '@relay/action-kit';
import { promoteEcrImage } from '@relay/core';

await runAction(promoteEcrImage);
