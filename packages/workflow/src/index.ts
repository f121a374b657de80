export type * from './ir.ts';
export { type ArazzoCompileOptions, compileArazzo, type SourceReference } from './arazzo.ts';
export { type CompileResult, compileFlower } from './flower.ts';
export { type CompiledWorkflowDocument, compileWorkflowDocument } from './document.ts';
export { maxToolNameLength, sanitiseToolName, type WorkflowTool, workflowTools } from './tools.ts';
export {
  type Clock,
  defaultLimits,
  type EngineDeps,
  type EngineLimits,
  type HttpRequest,
  type HttpResponse,
  HttpTransportError,
  runWorkflow,
  systemClock,
  type TraceEntry,
  type TransportFailure,
  type WorkflowErrorCode,
  type WorkflowRunError,
  type WorkflowRunResult,
} from './engine.ts';
export { ExpressionError, evaluateString, normaliseConfigName, parseCondition, type Scope } from './expressions.ts';
