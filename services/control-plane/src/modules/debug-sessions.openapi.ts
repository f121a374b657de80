import type { RouteDoc } from '../openapi/registry.ts';

/** The debug-sessions routes, for the OpenAPI document (services/control-plane/src/openapi/document.ts). */
export const debugSessionsRoutes: RouteDoc[] = [];
