import type { RouteDoc } from '../openapi/registry.ts';

/** The execution-records routes, for the OpenAPI document (services/control-plane/src/openapi/document.ts). */
export const executionRecordsRoutes: RouteDoc[] = [];
