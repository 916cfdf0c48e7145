import { copyImage, type Operation } from '@relay/core';

/**
 * `relay copy-image <source> <destination>`: the bare copy engine. Flags,
 * RELAY_* variables and --help come from its input spec; credentials as the
 * action takes them (docker config.json, native ECR / ECR Public, or the
 * *-username/*-password inputs).
 */
export const copyImageCommand = copyImage as unknown as Operation;
