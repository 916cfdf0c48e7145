export { actionsOf, awsRegistry, grantsFor, NEEDS, OPERATION_RESOURCES, s3Location } from './grants.js';
export type { ActionNeed, Grant, Resources, S3Location, Use } from './grants.js';
export { identityPolicy, subjects, trustPolicy, writeOnceBucketPolicy } from './policy.js';
export type { PolicyDocument, Statement, TrustOptions } from './policy.js';
export { renderPermissions } from './render.js';
