export { parseReference, formatReference } from './reference.js';
export type { Reference } from './reference.js';
