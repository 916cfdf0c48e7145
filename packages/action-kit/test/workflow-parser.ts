import { build } from 'esbuild';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

type Parser = typeof import('@actions/workflow-parser');

/**
 * @actions/workflow-parser, bundled once per test run with esbuild. The
 * package is ESM and imports its JSON schema without an import attribute,
 * which Node refuses (ERR_IMPORT_ASSERTION_TYPE_MISSING) and jest only
 * tolerates with a deprecation warning; bundled, the schema is inlined.
 */
let loaded: Promise<Parser> | undefined;
export function workflowParser(): Promise<Parser> {
  loaded ??= (async () => {
    const out = await build({
      stdin: {
        contents: "export * from '@actions/workflow-parser';",
        resolveDir: new URL('../../../', import.meta.url).pathname,
        loader: 'js',
      },
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      write: false,
      logLevel: 'silent',
      // CommonJS dependencies require() Node built-ins; ESM has no require, so give the bundle one.
      banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    });
    const file = join(mkdtempSync(join(tmpdir(), 'relay-workflow-parser-')), 'parser.mjs');
    writeFileSync(file, out.outputFiles[0]!.text);
    return (await import(pathToFileURL(file).href)) as Parser;
  })();
  return loaded;
}

/** Every error the parser and the template conversion find in one workflow file (schema, expressions, contexts). */
export async function validateWorkflow(name: string, content: string): Promise<string[]> {
  const p = await workflowParser();
  const parsed = p.parseWorkflow({ name, content }, new p.NoOperationTraceWriter());
  const errors = parsed.context.errors.getErrors().map((e) => e.message);
  if (parsed.value) {
    const template = await p.convertWorkflowTemplate(parsed.context, parsed.value);
    for (const e of template.errors ?? []) if (!errors.includes(e.Message)) errors.push(e.Message);
  }
  return errors;
}
