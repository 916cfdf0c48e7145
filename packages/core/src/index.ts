export * from './errors.js';
export * from './context.js';
export * from './operation.js';
export * from './defaults.js';
export * from './inputs/spec.js';
export * from './inputs/dotenv.js';
export * from './inputs/variables.js';
export * from './log/logger.js';
export * from './log/terminal.js';
export * from './report/plan.js';
export * from './report/plan-hash.js';
export * from './report/plan-diff.js';
export * from './report/recorder.js';
export * from './report/render.js';
export * from './report/outcome.js';
export * from './report/fit.js';
export * from './operations/index.js';
export * from './terraform/index.js';
export * from './oci/index.js';
export * from './iam/index.js';
export * from './audit/index.js';
export {
  fillInputs,
  RELEASE_ENVIRONMENT_VARIABLE,
  RELEASE_FILE_VARIABLE,
  type InputOrigins,
  type ReleaseFileChoice,
} from './release-file/apply.js';
export { takesReleaseFile, releaseFileJsonSchema } from './release-file/schema.js';
export { parseReleaseFile, loadReleaseFile } from './release-file/load.js';
export { contentTypeFor } from './terraform/layout.js';
export { generateThrowawayKey } from './signing/key.js';
export { HttpClient } from './http/client.js';
export { VERSION } from './version.js';
export { redact } from './log/redact.js';
export { redactValue } from './log/redact-value.js';
export { inert, printable } from './log/inert.js';
export { jsonPieces } from './json.js';
export { runController } from './concurrency.js';
