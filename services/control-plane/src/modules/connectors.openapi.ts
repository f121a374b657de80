import type { RouteDoc } from '../openapi/registry.ts';

/** The connectors routes, for the OpenAPI document (services/control-plane/src/openapi/document.ts). */
export const connectorsRoutes: RouteDoc[] = [];
