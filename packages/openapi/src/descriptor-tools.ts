import type { CatalogTool, ConnectorDescriptor, HttpOperationPlan, ToolDefinition } from '@toolplane/contracts';
import { descriptorToOpenApi } from './descriptor-openapi.ts';
import { compileTools } from './openapi-tools.ts';

/** A catalog tool executed as one HTTP operation. */
export type HttpCatalogTool = CatalogTool & { plan: HttpOperationPlan };

export interface ConnectorInstanceBinding {
  /**
   * Replaces the scheme, host and port of every descriptor endpoint (e.g. a sandbox or the local example);
   * for OpenAPI documents, the server URL (a relative server URL such as `/api` is kept after it).
   */
  baseUrl?: string | undefined;
  /** Secret name in the store for each credential field key of the descriptor's authentication. */
  secretNames: Record<string, string>;
  /** Identifies the credential holder for `rate_limits` scopes (`per_account` = this instance). */
  rateLimitOwner?: string | undefined;
}

/** MCP tool annotations inferred from the HTTP method (overridable per mapping: OpenApiToolOptions.mappings[].annotations). */
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

/**
 * The tools of a connector descriptor: one per route mapping (selective exposure: unmapped
 * operations are not tools). The descriptor must already be validated.
 *
 * Seed 001: "the platform generates an OpenAPI spec from the descriptor; a server is created from the
 * OpenAPI spec". The tools are compiled from `descriptorToOpenApi(descriptor)` by the OpenAPI compiler
 * in descriptor mode: `in: body` parameters are properties of one JSON object, defaults are sent by the
 * worker, header templates (`auth_headers`) are kept verbatim and only the built-in methods (bearer,
 * basic, OAuth2 client credentials) are computed.
 */
export function compileDescriptorTools(
  descriptor: ConnectorDescriptor,
  binding: ConnectorInstanceBinding,
): HttpCatalogTool[] {
  const mappings = descriptor.mcp_config?.route_mappings ?? [];
  if (mappings.length === 0) return [];
  // The document is keyed by path + method (origins become servers): two operations on one method and
  // path, even on different hosts, cannot share a document; each gets its own then.
  const routes = descriptor.operations.map(
    (o) => `${o.method} ${o.endpoint.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '')}`,
  );
  const distinct = new Set(routes).size === routes.length;
  const tools = distinct
    ? compileTools(descriptorToOpenApi(descriptor), { mappings, binding }, true)
    : mappings.map((m) => {
        const op = descriptor.operations.find((o) => o.operation_id === m.operation_id);
        if (!op) throw new Error(`unvalidated descriptor: unknown operation_id ${m.operation_id}`);
        return compileTools(
          descriptorToOpenApi({ ...descriptor, operations: [op] }),
          { mappings: [m], binding },
          true,
        )[0]!;
      });
  return tools.map((t, i) => {
    const op = descriptor.operations.find((o) => o.operation_id === mappings[i]!.operation_id)!;
    // The descriptor's parameter order (the OpenAPI document lists body properties after the others).
    const order = (name: string): number => op.parameters.findIndex((p) => p.name === name);
    t.plan.params.sort((a, b) => order(a.name) - order(b.name));
    if (descriptor.rate_limits.length > 0 && binding.rateLimitOwner) {
      // Every operation of the connector shares the account's budget.
      t.plan.rateLimits = descriptor.rate_limits.map((r, j) => ({
        key: `${binding.rateLimitOwner}:${r.scope}:${j}`,
        limit: r.limit,
        intervalSeconds: r.interval_seconds,
      }));
    }
    return t;
  });
}

/** Credential field keys the descriptor declares, with whether each is required. */
export function credentialFields(
  descriptor: ConnectorDescriptor,
): { key: string; required: boolean; secret: boolean }[] {
  const seen = new Map<string, { key: string; required: boolean; secret: boolean }>();
  for (const auth of descriptor.authentication) {
    for (const f of auth.fields)
      if (!seen.has(f.key)) seen.set(f.key, { key: f.key, required: f.required, secret: f.secret });
  }
  return [...seen.values()];
}
export { descriptorToOpenApi } from './descriptor-openapi.ts';
