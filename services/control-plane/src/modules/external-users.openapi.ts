import type { RouteDoc } from '../openapi/registry.ts';

/** The external-users routes, for the OpenAPI document (services/control-plane/src/openapi/document.ts). */
export const externalUsersRoutes: RouteDoc[] = [];
