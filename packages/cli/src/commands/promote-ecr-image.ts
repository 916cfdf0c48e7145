import { promoteEcrImage, type Operation } from '@relay/core';

/**
 * `relay promote-ecr-image <source> <destination>`: the same operation the
 * action runs (gates, copy, verify), with AWS credentials from the usual chain.
 */
export const promoteEcrImageCommand = promoteEcrImage as unknown as Operation;
