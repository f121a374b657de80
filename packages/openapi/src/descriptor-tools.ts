import type {
  CatalogTool,
  ConnectorDescriptor,
  HttpOperationPlan,
  JsonSchema,
  Operation,
  OperationParameter,
  RouteMapping,
  ToolDefinition,
} from '@toolplane/contracts';

/** A catalog tool executed as one HTTP operation. */
export type HttpCatalogTool = CatalogTool & { plan: HttpOperationPlan };

export interface ConnectorInstanceBinding {
  /** Replaces the scheme, host and port of every endpoint (e.g. a sandbox or the local example). */
  baseUrl?: string | undefined;
  /** Secret name in the store for each credential field key of the descriptor's authentication. */
  secretNames: Record<string, string>;
  /** Identifies the credential holder for `rate_limits` scopes (`per_account` = this instance). */
  rateLimitOwner?: string | undefined;
}

const jsonTypes: Record<OperationParameter['field_type'], string> = {
  string: 'string',
  secret: 'string',
  integer: 'integer',
  number: 'number',
  boolean: 'boolean',
  array: 'array',
  object: 'object',
};

function parameterSchema(p: OperationParameter): JsonSchema {
  const schema: JsonSchema = { type: jsonTypes[p.field_type] };
  if (p.field_type === 'array') schema.items = {};
  if (p.description) schema.description = p.description;
  if (p.default_value !== undefined) schema.default = p.default_value;
  return schema;
}

/** MCP tool annotations inferred from the HTTP method (overridable per mapping in later versions). */
export function annotationsFor(method: string): ToolDefinition['annotations'] {
  return {
    readOnlyHint: method === 'GET' || method === 'HEAD',
    destructiveHint: method === 'DELETE',
    idempotentHint: method === 'GET' || method === 'HEAD' || method === 'PUT' || method === 'DELETE',
    openWorldHint: true,
  };
}

export function rebaseUrl(endpoint: string, baseUrl: string | undefined): string {
  if (!baseUrl) return endpoint;
  // Placeholders are kept verbatim: only the origin is replaced.
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(endpoint);
  const rest = m ? endpoint.slice(m[0].length) : endpoint;
  return baseUrl.replace(/\/+$/, '') + rest;
}

function toolFor(descriptor: ConnectorDescriptor, op: Operation, mapping: RouteMapping, binding: ConnectorInstanceBinding): HttpCatalogTool {
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  const params = op.parameters.map((p) => {
    const arg = mapping.parameter_mappings[p.name] ?? p.name;
    properties[arg] = parameterSchema(p);
    if ((p.required || p.location === 'path') && p.default_value === undefined) required.push(arg);
    return { arg, name: p.name, in: p.location, ...(p.default_value !== undefined ? { default: p.default_value } : {}) };
  });
  const inputSchema: JsonSchema = { type: 'object', properties, additionalProperties: false };
  if (required.length > 0) inputSchema.required = required;

  const auth = op.auth_type_ref
    ? descriptor.authentication.find((a) => a.type === op.auth_type_ref)
    : descriptor.authentication[0];
  let authHeaders = op.auth_headers;
  let authPlan: HttpOperationPlan['auth'];
  const referenced = new Set<string>();
  if (Object.keys(authHeaders).length === 0 && auth) {
    // Built-in methods when the operation names no header templates.
    const firstSecret = auth.fields.find((f) => f.secret)?.key ?? auth.fields[0]?.key;
    if (auth.type === 'bearer' && firstSecret) authPlan = { kind: 'bearer', token: firstSecret };
    if (auth.type === 'basic') authPlan = { kind: 'basic', username: 'username', password: 'password' };
    if (auth.type === 'oauth2_client_credentials' && auth.token_url) {
      authPlan = { kind: 'oauth2_client_credentials', tokenUrl: auth.token_url, scopes: auth.scopes ?? [], clientId: 'client_id', clientSecret: 'client_secret' };
    }
    if (authPlan) {
      authHeaders = { Authorization: '{__authorization}' };
      for (const [k, v] of Object.entries(authPlan)) if (k !== 'kind' && k !== 'tokenUrl' && k !== 'scopes' && typeof v === 'string') referenced.add(v);
    }
  }
  for (const template of Object.values(authHeaders)) {
    for (const m of template.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) referenced.add(m[1]!);
  }
  const secrets: Record<string, string> = {};
  for (const field of auth?.fields ?? []) {
    const name = binding.secretNames[field.key];
    if (name && referenced.has(field.key)) secrets[field.key] = name;
  }

  const plan: HttpOperationPlan = {
    kind: 'http',
    method: op.method,
    url: rebaseUrl(op.endpoint, binding.baseUrl),
    params,
    authHeaders,
    secrets,
    ...(authPlan ? { auth: authPlan } : {}),
  };
  if (descriptor.rate_limits.length > 0 && binding.rateLimitOwner) {
    // Every operation of the connector shares the account's budget.
    plan.rateLimits = descriptor.rate_limits.map((r, i) => ({
      key: `${binding.rateLimitOwner}:${r.scope}:${i}`,
      limit: r.limit,
      intervalSeconds: r.interval_seconds,
    }));
  }
  return {
    tool: {
      name: mapping.mcp_tool_name,
      title: op.summary,
      description: mapping.mcp_tool_description,
      inputSchema,
      annotations: { title: op.summary, ...annotationsFor(op.method) },
    },
    plan,
  };
}

/**
 * The tools of a connector descriptor: one per route mapping (selective exposure: unmapped
 * operations are not tools). The descriptor must already be validated.
 */
export function compileDescriptorTools(descriptor: ConnectorDescriptor, binding: ConnectorInstanceBinding): HttpCatalogTool[] {
  const mappings = descriptor.mcp_config?.route_mappings ?? [];
  return mappings.map((mapping) => {
    const op = descriptor.operations.find((o) => o.operation_id === mapping.operation_id);
    if (!op) throw new Error(`unvalidated descriptor: unknown operation_id ${mapping.operation_id}`);
    return toolFor(descriptor, op, mapping, binding);
  });
}

/** Credential field keys the descriptor declares, with whether each is required. */
export function credentialFields(descriptor: ConnectorDescriptor): { key: string; required: boolean; secret: boolean }[] {
  const seen = new Map<string, { key: string; required: boolean; secret: boolean }>();
  for (const auth of descriptor.authentication) {
    for (const f of auth.fields) if (!seen.has(f.key)) seen.set(f.key, { key: f.key, required: f.required, secret: f.secret });
  }
  return [...seen.values()];
}
export { descriptorToOpenApi } from './descriptor-openapi.ts';
