import type { RouteDoc } from '../openapi/registry.ts';

/** The secrets routes, for the OpenAPI document (services/control-plane/src/openapi/document.ts). */
export const secretsRoutes: RouteDoc[] = [];
