import type { RouteDoc } from '../openapi/registry.ts';

/** The deployments routes, for the OpenAPI document (services/control-plane/src/openapi/document.ts). */
export const deploymentsRoutes: RouteDoc[] = [];
