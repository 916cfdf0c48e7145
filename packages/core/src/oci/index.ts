export { copyImage, copyImageSpec, runCopyImage } from './copy-image.js';
export type { OciDeps } from './copy-image.js';
export { promoteEcrImage, promoteEcrImageSpec, runPromoteEcrImage } from './promote-ecr-image.js';
export { parseReference, formatReference } from './reference.js';
export type { Reference } from './reference.js';
export { copyImage as copyOciImage } from './copy.js';
export type { CopyRequest, CopyResult } from './copy.js';
export { OciSession } from './session.js';
export type { OciSessionOptions } from './session.js';
