import type { RouteDoc } from '../openapi/registry.ts';

/** The servers routes, for the OpenAPI document (services/control-plane/src/openapi/document.ts). */
export const serversRoutes: RouteDoc[] = [];
