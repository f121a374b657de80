import type { RouteDoc } from '../openapi/registry.ts';

/** The connector-instances routes, for the OpenAPI document (services/control-plane/src/openapi/document.ts). */
export const connectorInstancesRoutes: RouteDoc[] = [];
