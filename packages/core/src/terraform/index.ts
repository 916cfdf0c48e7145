export { verifyRegistry, httpReader, storeReader } from './verify.js';
export * as layout from './layout.js';
