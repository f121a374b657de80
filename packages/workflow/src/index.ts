// What the services use: the compiler (control plane), the engine (worker) and the IR types.
export type * from './ir.ts';
export { type SourceReference, unresolvedSources } from './arazzo.ts';
export { credentialsRefusal, hasUnboundCredentials } from './credentials.ts';
export { workflowCost } from './cost.ts';
export { compileWorkflowDocument } from './document.ts';
export { shapeJson } from './shape.ts';
export type { WorkflowTool } from './tools.ts';
export {
  type EngineDeps,
  HttpTransportError,
  runWorkflow,
  type ToolRequest,
  type ToolResponse,
  type TraceEntry,
  type WorkflowRunResult,
} from './engine.ts';
export { flowerToolReferences, parseToolRef, type ToolRef, toolRef, toolSourcePattern } from './tool-refs.ts';
