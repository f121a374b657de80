import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from './api.ts';

/** A tool an instance gives, with its input schema when it could be found. */
export interface ToolInfo {
  name: string;
  description: string;
  inputSchema: Record<string, unknown> | null;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The input schemas of a connector's tools from its OpenAPI document (`GET /connectors/{id}/openapi.json`):
 * the operation each tool maps to (descriptor `route_mappings`, else the tool's own name), its parameters
 * and JSON body as one object schema.
 */
function schemasFromOpenApi(doc: Json, descriptor: Json, tools: string[]): Map<string, Json> {
  const mappings = isObject(descriptor.mcp_config) ? descriptor.mcp_config.route_mappings : undefined;
  const operationOf = new Map<string, string>();
  if (Array.isArray(mappings))
    for (const m of mappings)
      if (isObject(m) && typeof m.mcp_tool_name === 'string' && typeof m.operation_id === 'string')
        operationOf.set(m.mcp_tool_name, m.operation_id);
  const operations = new Map<string, Json>();
  for (const item of Object.values(isObject(doc.paths) ? doc.paths : {}))
    if (isObject(item))
      for (const op of Object.values(item))
        if (isObject(op) && typeof op.operationId === 'string') operations.set(op.operationId, op);
  const out = new Map<string, Json>();
  for (const tool of tools) {
    const op = operations.get(operationOf.get(tool) ?? tool);
    if (!op) continue;
    const properties: Json = {};
    const required: string[] = [];
    for (const p of Array.isArray(op.parameters) ? op.parameters : []) {
      if (!isObject(p) || typeof p.name !== 'string') continue;
      properties[p.name] = { ...(isObject(p.schema) ? p.schema : {}), 'x-in': p.in, description: p.description };
      if (p.required === true) required.push(p.name);
    }
    const body = isObject(op.requestBody) && isObject(op.requestBody.content) ? op.requestBody.content : {};
    const media = Object.values(body).find(isObject);
    if (media && isObject(media.schema)) {
      const schema = media.schema;
      if (isObject(schema.properties)) Object.assign(properties, schema.properties);
      if (Array.isArray(schema.required)) required.push(...schema.required.filter((r) => typeof r === 'string'));
    }
    out.set(tool, { type: 'object', properties, ...(required.length ? { required } : {}) });
  }
  return out;
}

/**
 * The tools of a connector instance: names from its connector (`GET /connectors/{id}`), definitions from a
 * server already exposing all of the instance's tools (`GET /mcp_manager/{id}/config`), else input schemas
 * derived from the connector's OpenAPI document.
 */
export async function instanceTools(
  client: ManagementClient,
  instance: Schemas['ConnectorInstance'],
): Promise<ToolInfo[]> {
  const connector = await unwrap(client.GET('/connectors/{id}', { params: { path: { id: instance.connector_id } } }));
  const servers = await unwrap(client.GET('/mcp_manager', { params: { query: { limit: 100 } } }));
  const full = servers.data.find(
    (s) => s.connectorInstanceId === instance.id && s.mode === 'NORMAL' && s.selectedTools.length === 0,
  );
  const definitions = new Map<string, Schemas['ToolDefinition']>();
  if (full) {
    const config = await unwrap(client.GET('/mcp_manager/{id}/config', { params: { path: { id: full.id } } }));
    for (const t of config.tools) definitions.set(t.name, t);
  }
  let derived = new Map<string, Json>();
  if (connector.tools.some((t) => !definitions.has(t))) {
    const doc = await unwrap(
      client.GET('/connectors/{id}/openapi.json', { params: { path: { id: instance.connector_id } } }),
    );
    derived = schemasFromOpenApi(doc as Json, connector.descriptor, connector.tools);
  }
  const descriptions = new Map<string, string>();
  const mappings = isObject(connector.descriptor.mcp_config) ? connector.descriptor.mcp_config.route_mappings : [];
  if (Array.isArray(mappings))
    for (const m of mappings)
      if (isObject(m) && typeof m.mcp_tool_name === 'string' && typeof m.mcp_tool_description === 'string')
        descriptions.set(m.mcp_tool_name, m.mcp_tool_description);
  return connector.tools.map((name) => {
    const def = definitions.get(name);
    return {
      name,
      description: def?.description ?? descriptions.get(name) ?? '',
      inputSchema: def?.inputSchema ?? derived.get(name) ?? null,
    };
  });
}
