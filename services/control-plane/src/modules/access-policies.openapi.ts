import type { RouteDoc } from '../openapi/registry.ts';

/** The access-policies routes, for the OpenAPI document (services/control-plane/src/openapi/document.ts). */
export const accessPoliciesRoutes: RouteDoc[] = [];
