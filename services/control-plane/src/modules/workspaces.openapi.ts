import type { RouteDoc } from '../openapi/registry.ts';

/** The workspaces routes, for the OpenAPI document (services/control-plane/src/openapi/document.ts). */
export const workspacesRoutes: RouteDoc[] = [];
