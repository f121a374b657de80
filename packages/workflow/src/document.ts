import { ValidationError } from '@toolplane/errors';
import { loadDocument } from '@toolplane/openapi';
import { type ArazzoCompileOptions, compileArazzo } from './arazzo.ts';
import { isObject } from './compile-common.ts';
import { type CompileResult, compileFlower } from './flower.ts';
import { type WorkflowTool, workflowTools } from './tools.ts';

export interface CompiledWorkflowDocument extends CompileResult {
  tools: WorkflowTool[];
}

/**
 * Compiles a workflow document (text in YAML or JSON, or already parsed): Flower when it has a
 * `flower` field, Arazzo when it has `arazzo`. Throws ValidationError listing every problem.
 */
export function compileWorkflowDocument(
  definition: unknown,
  options: ArazzoCompileOptions = {},
): CompiledWorkflowDocument {
  const doc = typeof definition === 'string' ? loadDocument(definition) : definition;
  if (!isObject(doc))
    throw new ValidationError('the workflow document must be an object', [
      { path: '', message: 'expected a mapping at the top level' },
    ]);
  let result: CompileResult;
  if ('flower' in doc) result = compileFlower(doc);
  else if ('arazzo' in doc) result = compileArazzo(doc, options);
  else {
    throw new ValidationError('not a workflow document', [
      { path: '', message: 'a workflow document has a "flower" (Flower 0.1) or an "arazzo" (Arazzo 1.0) field' },
    ]);
  }
  return { ...result, tools: workflowTools(result.ir) };
}
