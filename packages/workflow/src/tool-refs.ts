/**
 * How a workflow names a tool of its workspace (docs/adr/0039-any-tool-as-a-workflow-step.md). Arazzo names a source
 * description (`toolplane:mcp_servers/<server>`, `toolplane:external_mcp_servers/<name>`) and a step its tool by
 * `operationId`; Flower, which has no sources, writes the whole reference as its step's `request.url`:
 *
 * - `toolplane:mcp_servers/<server name or id>/tools/<tool>`: a tool of a hosted server of the workspace;
 * - `toolplane:external_mcp_servers/<name>/tools/<tool>`: a tool of an external MCP server registered in the workspace;
 * - `toolplane:connectors/<slug>[/instances/<name or id>]/operations/<operation_id>`: a connector's operation.
 *
 * The same string is the key of the tool's compiled plan in the catalog (`WorkflowPlan.tools`).
 */

type ToolRefKind = 'mcp_server' | 'external_mcp_server' | 'connector';

export interface ToolRef {
  kind: ToolRefKind;
  /** The hosted server (name or id), the external server's name, or the connector's slug. */
  owner: string;
  /** A connector's instance (name or id), when named. */
  instance?: string;
  /** The tool's name, or the connector's operation id. */
  tool: string;
}

const segment = '([^/?#]+)';
const patterns: [ToolRefKind, RegExp][] = [
  ['mcp_server', new RegExp(`^toolplane:mcp_servers/${segment}/tools/${segment}$`)],
  ['external_mcp_server', new RegExp(`^toolplane:external_mcp_servers/${segment}/tools/${segment}$`)],
  ['connector', new RegExp(`^toolplane:connectors/${segment}(?:/instances/${segment})?/operations/${segment}$`)],
];

/** The Arazzo source descriptions whose operations are tools (their steps become tool steps). */
export const toolSourcePattern = /^toolplane:(mcp_servers|external_mcp_servers)\/([^/?#]+)\/?$/;

const decode = (s: string): string | undefined => {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
};

/** The tool a reference names; undefined when it is not one of the forms above (or holds an expression). */
export function parseToolRef(url: string): ToolRef | undefined {
  if (/[$\s{}]/.test(url)) return undefined;
  for (const [kind, re] of patterns) {
    const m = re.exec(url);
    if (!m) continue;
    const parts = (kind === 'connector' ? [m[1], m[2], m[3]] : [m[1], undefined, m[2]]).map((p) =>
      p === undefined ? undefined : decode(p),
    );
    if (parts[0] === undefined || parts[2] === undefined || (kind === 'connector' && m[2] && parts[1] === undefined))
      return undefined;
    return { kind, owner: parts[0], ...(parts[1] !== undefined ? { instance: parts[1] } : {}), tool: parts[2] };
  }
  return undefined;
}

/** The reference of the tool `tool` of an Arazzo tool source (`toolplane:mcp_servers/<server>`). */
export function toolRef(sourceUrl: string, tool: string): string {
  return `${sourceUrl.replace(/\/+$/, '')}/tools/${encodeURIComponent(tool)}`;
}

/** The forms a tool reference takes, for messages. */
export const toolRefForms =
  'toolplane:mcp_servers/<server>/tools/<tool>, toolplane:external_mcp_servers/<name>/tools/<tool> or ' +
  'toolplane:connectors/<slug>[/instances/<name or id>]/operations/<operation_id>';

/**
 * The tool references of a Flower document's steps (`request.url` starting with `toolplane:`), with where each is
 * written: what a deployment resolves to compiled plans before the catalog is built. Nothing for other documents.
 */
export function flowerToolReferences(doc: unknown): { path: string; url: string }[] {
  if (!isRecord(doc) || !('flower' in doc) || !Array.isArray(doc.flows)) return [];
  const out: { path: string; url: string }[] = [];
  doc.flows.forEach((flow: unknown, fi) => {
    if (!isRecord(flow) || !Array.isArray(flow.steps)) return;
    flow.steps.forEach((step: unknown, si) => {
      const url = isRecord(step) && isRecord(step.request) ? step.request.url : undefined;
      if (typeof url === 'string' && url.startsWith('toolplane:'))
        out.push({ path: `/flows/${fi}/steps/${si}/request/url`, url });
    });
  });
  return out;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
