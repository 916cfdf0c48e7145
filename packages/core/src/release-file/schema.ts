import type { InputSpec, OperationSpec } from '../inputs/spec.js';
import { toJsonSchema, type ObjectSchema, type Schema } from '../mirror/schema.js';
import { EXPECT_PLAN } from '../operation.js';
import { OPERATIONS } from '../operations/index.js';

/**
 * The release file's schema, built from the operation specs (the one
 * declaration of inputs), so that a new input is at once a field the file may
 * set: per environment, per operation, its non-secret inputs. Secrets never
 * belong in a checked-in file; `dry-run` and `expect-plan` are decisions of one
 * run, not of a release. The JSON Schema is shipped at
 * packages/core/schemas/release-file.schema.json (drift-tested).
 */
export const RELEASE_FILE_SCHEMA_ID = 'https://relay.dev/schemas/release-file.schema.json';

/** The placeholders a value may use (README "Recovery"). */
export const RELEASE_PLACEHOLDERS = ['version', 'name', 'namespace', 'environment'] as const;

/** Inputs a release file may not set, whatever the operation. */
const PER_RUN: readonly string[] = ['dry-run', EXPECT_PLAN];

/** Whether an input may be set in a release file. */
export function inReleaseFile(s: InputSpec, name: string): boolean {
  return !s.secret && !PER_RUN.includes(name);
}

/** Whether an operation takes a release file: one with an `environment` input of its own (iam-policy) does not. */
export function takesReleaseFile(spec: OperationSpec): boolean {
  return !Object.hasOwn(spec.inputs, 'environment') && !Object.hasOwn(spec.inputs, 'release-file');
}

function inputSchema(s: InputSpec): Schema {
  const description = s.description;
  switch (s.type) {
    case 'boolean':
      return { type: 'boolean', description };
    case 'number':
      return { type: 'integer', description };
    case 'list':
      return { type: 'array', description, items: { type: 'string' } };
    default:
      return { type: 'string', description, ...(s.choices && { enum: s.choices }) };
  }
}

function operationSchema(spec: OperationSpec): ObjectSchema {
  return {
    type: 'object',
    description: spec.description,
    properties: Object.fromEntries(
      Object.entries(spec.inputs)
        .filter(([name, s]) => inReleaseFile(s, name))
        .map(([name, s]) => [name, { schema: inputSchema(s) }]),
    ),
  };
}

/** The whole file: `version: 1`, and `environments: {<name>: {<operation>: {<input>: value}}}`; `x-…` keys for anchors. */
export function releaseFileSchema(): ObjectSchema {
  const ops = OPERATIONS.map((o) => o.spec as OperationSpec).filter(takesReleaseFile);
  return {
    type: 'object',
    description: `Relay release file: the non-secret inputs of each operation, per environment, read by the reusable workflows and the CLI alike. Values may use \${${RELEASE_PLACEHOLDERS.join('}, ${')}}.`,
    ignoredKeys: '^x-',
    properties: {
      version: { required: true, schema: { type: 'integer', description: 'The file format: 1.', minimum: 1, maximum: 1 } },
      environments: {
        required: true,
        schema: {
          type: 'map',
          description:
            'Per environment (staging, production, …: the GitHub environment the writing job runs in), the inputs of each operation.',
          keyPattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$',
          keyExpected: 'an environment name (letters, digits, _ . -)',
          values: {
            type: 'object',
            description: 'The operations run in this environment, each with its inputs.',
            ignoredKeys: '^x-',
            properties: Object.fromEntries(ops.map((spec) => [spec.name, { schema: operationSchema(spec) }])),
          },
        },
      },
    },
  };
}

export function releaseFileJsonSchema(): Record<string, unknown> {
  return toJsonSchema(releaseFileSchema(), { id: RELEASE_FILE_SCHEMA_ID, title: 'Relay release file' });
}
