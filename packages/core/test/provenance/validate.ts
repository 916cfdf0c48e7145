// Validates Statements against the JSON Schemas of in-toto Statement v1 and
// SLSA provenance v1 (schemas/, transcribed from the specifications), with
// ajv: what a consumer's tooling would accept, not Relay's own parser.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import AjvModule from 'ajv';
import formatsModule from 'ajv-formats';

const here = path.dirname(fileURLToPath(import.meta.url));
const load = (name: string): Record<string, unknown> => JSON.parse(readFileSync(path.join(here, 'schemas', name), 'utf8'));

// ajv and ajv-formats are CommonJS: imported from ESM, the default is module.exports, whose `default` is the export.
const Ajv = AjvModule.default;
const addFormats = formatsModule.default;
const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, strictRequired: false });
addFormats(ajv);
// The SLSA schema refers to the in-toto one by its $id.
const intoto = ajv.compile(load('in-toto-statement-v1.schema.json'));
const slsa = ajv.compile(load('slsa-provenance-v1.schema.json'));

/** The schema errors of a document (empty when it validates), readable in a failed expectation. */
export function statementErrors(doc: unknown, kind: 'in-toto' | 'slsa'): string[] {
  const v = kind === 'slsa' ? slsa : intoto;
  return v(doc)
    ? []
    : (v.errors ?? []).map((e: { instancePath: string; message?: string }) => `${e.instancePath || '/'} ${e.message ?? ''}`);
}
