import type { CatalogTool, HttpOperationPlan, RateLimitPlan, ToolDefinition } from '@toolplane/contracts';

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

/** Who holds a connector instance's budget: the descriptor's `per_account` scope is the instance. */
export function instanceRateLimitOwner(instanceId: string): string {
  return `connector-instance:${instanceId}`;
}

/**
 * The one key function of a connector's `rate_limits` (each entry: a scope, a limit and an interval in seconds): every upstream call of an operation of the
 * instance (`owner`, instanceRateLimitOwner) spends the same buckets, one per entry, whether it is a plain tool call
 * (descriptor and OpenAPI connectors) or a workflow step calling the instance's operation. The worker adds the
 * calling external user, if any (services/worker/src/rate-limits.ts). Undefined when there is nothing to enforce.
 */
export function connectorRateLimits(
  rateLimits: readonly { scope: string; limit: number; interval_seconds: number }[] | undefined,
  owner: string | undefined,
): RateLimitPlan[] | undefined {
  if (!rateLimits?.length || !owner) return undefined;
  return rateLimits.map((r, i) => ({
    key: `${owner}:${r.scope}:${i}`,
    limit: r.limit,
    intervalSeconds: r.interval_seconds,
  }));
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
