import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { accessPoliciesRoutes } from './resources/access-policies/openapi.ts';
import { apiCatalogRoutes } from './resources/api-catalog/openapi.ts';
import { apiKeysRoutes } from './resources/api-keys/openapi.ts';
import { connectorInstancesRoutes } from './resources/connector-instances/openapi.ts';
import { connectorsRoutes } from './resources/connectors/openapi.ts';
import { curatedConnectorsRoutes } from './resources/curated-connectors/openapi.ts';
import { debugSessionsRoutes } from './resources/debug-sessions/openapi.ts';
import { deploymentsRoutes } from './resources/deployments/openapi.ts';
import { executionRecordsRoutes } from './resources/execution-records/openapi.ts';
import { externalMcpServersRoutes } from './resources/external-mcp-servers/openapi.ts';
import { externalUsersRoutes } from './resources/external-users/openapi.ts';
import { secretsRoutes } from './resources/secrets/openapi.ts';
import { operationTables } from './resources/operations.ts';
import { serverToolsRoutes } from './resources/server-tools/openapi.ts';
import { workspaceFilesRoutes } from './resources/workspace-files/openapi.ts';
import type { OperationAccess } from './http/route-access.ts';
import { json, type RouteDoc, type ServerLimitedAccess } from './openapi/registry.ts';

const documentRoute: RouteDoc = {
  method: 'get',
  path: '/openapi.json',
  operationId: 'getOpenApiDocument',
  tags: ['meta'],
  summary: 'This document',
  security: [],
  responses: { 200: json('The OpenAPI 3.1 description of /api/v1.', z.object({}).passthrough()) },
};

/** Every documented route, in document order. */
const apiRoutes: RouteDoc[] = [
  ...operationTables.workspaces!.map((o) => o.route),
  ...apiKeysRoutes,
  ...accessPoliciesRoutes,
  ...connectorsRoutes,
  ...curatedConnectorsRoutes,
  ...connectorInstancesRoutes,
  ...apiCatalogRoutes,
  ...operationTables.servers!.map((o) => o.route),
  ...externalMcpServersRoutes,
  ...deploymentsRoutes,
  ...secretsRoutes,
  ...externalUsersRoutes,
  ...debugSessionsRoutes,
  ...executionRecordsRoutes,
  ...operationTables.stats!.map((o) => o.route),
  ...serverToolsRoutes,
  ...operationTables['audit-events']!.map((o) => o.route),
  ...workspaceFilesRoutes,
  documentRoute,
];

/** A route with its access for keys limited to servers said explicitly (`refused` unless it says otherwise). */
function withAccess(route: RouteDoc): RouteDoc {
  return route.security?.length === 0 ? route : { ...route, 'x-server-limited-keys': accessOf(route) };
}

function accessOf(route: RouteDoc): ServerLimitedAccess {
  return route['x-server-limited-keys'] ?? 'refused';
}

const changing = new Set(['post', 'put', 'patch', 'delete']);

/**
 * Every authenticated operation, what a key limited to servers may do with it, the scope it needs and what it
 * records in the audit trail (http/route-access.ts). An operation that may change something and declares no
 * `x-audit` stops the start.
 */
export function operationAccess(): OperationAccess[] {
  return apiRoutes
    .filter((r) => r.security?.length !== 0)
    .map((r) => {
      const audit = r['x-audit'];
      if (audit === undefined && changing.has(r.method))
        throw new Error(`${r.method.toUpperCase()} ${r.path} declares no x-audit (an action, or false)`);
      return {
        method: r.method,
        path: r.path,
        access: accessOf(r),
        scope: r['x-scope'] ?? 'management',
        query: Object.keys((r.request?.query as { shape?: object } | undefined)?.shape ?? {}),
        ...(audit ? { audit } : {}),
      };
    });
}

/** The OpenAPI 3.1 document of the management API (`GET /api/v1/openapi.json`, `docs/openapi.json`). */
/** The version of the management API the document describes. */
const apiVersion = '1.0.0';

/** Where the committed copy lives (scripts/gen-openapi.ts writes it). */
export const openApiDocumentPath = fileURLToPath(new URL('../../../docs/openapi.json', import.meta.url));

export function openApiDocument() {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'apiKey', {
    type: 'apiKey',
    in: 'header',
    name: 'x-api-key',
    description: 'A workspace API key (`tp_…`); its scopes decide what it may do (docs/api.md, "API keys").',
  });
  registry.registerComponent('securitySchemes', 'oauthToken', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description:
      'An OAuth access token of a signed-in user, where the deployment configures an issuer (`OAUTH_ISSUER`; ' +
      'docs/api.md, "Signing in with OAuth"): its audience is the control plane, a claim names the workspace, ' +
      'scopes `toolplane:<scope>` grant the API-key scopes (`toolplane:management` required).',
  });
  for (const route of apiRoutes) registry.registerPath(withAccess(route));
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Toolplane management API',
      version: apiVersion,
      description:
        'The control plane’s REST API: workspaces, API keys, access policies, connectors, MCP servers, ' +
        'deployments, secrets, end users, debug sessions and execution records. Errors are ' +
        '`application/problem+json` (`Problem`). Generated from the zod schemas that validate requests.',
    },
    servers: [{ url: '/api/v1', description: 'The control plane (`toolplane dev`: http://127.0.0.1:8081/api/v1)' }],
    security: [{ apiKey: [] }, { oauthToken: [] }],
  });
}

/** The document as committed and served: JSON, two-space indented, with a final newline. */
export function openApiDocumentText(): string {
  return JSON.stringify(openApiDocument(), null, 2) + '\n';
}
