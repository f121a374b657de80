import type { CatalogTool, HttpOperationPlan, ToolDefinition } from '@toolplane/contracts';

/**
 * What the descriptor compiler (descriptor-tools.ts, descriptor-openapi.ts) and the OpenAPI compiler
 * (openapi-tools.ts) share, in a module of its own so that none of them imports another in a cycle.
 */

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
