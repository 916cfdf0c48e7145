export { publishTerraformRegistry, publishSpec } from './publish.js';
export { verifyTerraformRegistry, verifySpec } from './verify-op.js';
export { verifyRegistry, httpReader, storeReader } from './verify.js';
export * as layout from './layout.js';
