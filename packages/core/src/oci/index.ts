export { parseReference, formatReference } from './ref/reference.js';
export type { Reference } from './ref/reference.js';
