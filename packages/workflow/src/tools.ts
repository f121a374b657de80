import type { JsonSchemaObject, WorkflowDocumentIR, WorkflowIR } from './ir.ts';

/** The MCP tool a flow / workflow becomes (structurally a `ToolDefinition` of @toolplane/contracts). */
export interface WorkflowTool {
  /** The flow / workflow id it runs. */
  workflowId: string;
  name: string;
  title?: string;
  description: string;
  inputSchema: JsonSchemaObject;
  outputSchema: JsonSchemaObject;
}

const maxToolNameLength = 64;

/** `[A-Za-z0-9_-]`, at most 64 characters (what MCP clients accept everywhere). */
export function sanitiseToolName(id: string): string {
  const cleaned = id.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, maxToolNameLength);
  return cleaned === '' ? 'workflow' : cleaned;
}

function outputSchema(w: WorkflowIR): JsonSchemaObject {
  const properties: Record<string, unknown> = {};
  for (const [name] of w.outputs) properties[name] = {};
  return { type: 'object', properties, additionalProperties: false };
}

function describe(w: WorkflowIR, doc: WorkflowDocumentIR): string {
  const text = [w.description, w.summary].find((p): p is string => typeof p === 'string' && p.trim() !== '');
  if (text) return text.trim();
  return doc.title ? `${doc.title}: ${w.id}` : w.id;
}

/** One tool per flow / workflow; names are made unique (`_2`, `_3`…) when sanitising makes two collide. */
export function workflowTools(doc: WorkflowDocumentIR): WorkflowTool[] {
  const used = new Set<string>();
  return doc.workflows.map((w) => {
    const base = sanitiseToolName(w.id);
    let name = base;
    for (let n = 2; used.has(name); n++) {
      const suffix = `_${n}`;
      name = base.slice(0, maxToolNameLength - suffix.length) + suffix;
    }
    used.add(name);
    const tool: WorkflowTool = {
      workflowId: w.id,
      name,
      description: describe(w, doc),
      inputSchema: w.inputSchema,
      outputSchema: outputSchema(w),
    };
    if (w.summary && w.description) tool.title = w.summary;
    return tool;
  });
}
