import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { allOperations } from './resources/operations.ts';
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
const apiRoutes: RouteDoc[] = [...allOperations.map((o) => o.route), documentRoute];

/** A route with its access for keys limited to servers said explicitly (`refused` unless it says otherwise). */
function withAccess(route: RouteDoc): RouteDoc {
  return route.security?.length === 0 ? route : { ...route, 'x-server-limited-keys': accessOf(route) };
}

function accessOf(route: RouteDoc): ServerLimitedAccess {
  return route['x-server-limited-keys'] ?? 'refused';
}

/** The version of the management API the document describes. */
const apiVersion = '1.0.0';

/** Where the committed copy lives (scripts/gen-openapi.ts writes it). */
export const openApiDocumentPath = fileURLToPath(new URL('../../../docs/openapi.json', import.meta.url));

/** The OpenAPI 3.1 document of the management API (`GET /api/v1/openapi.json`, `docs/openapi.json`). */
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
