import { apiCatalogOperations } from './api-catalog/operations.ts';
import { connectorInstancesOperations } from './connector-instances/operations.ts';
import { connectorsOperations } from './connectors/operations.ts';
import { curatedConnectorsOperations } from './curated-connectors/operations.ts';
import type { Operation } from './operation.ts';
import { serversOperations } from './servers/operations.ts';
import { serverToolsOperations } from './server-tools/operations.ts';

/**
 * Every resource's operation table, in the order of the API's document: what `mountOperations` serves, what the
 * OpenAPI document describes (api-document.ts) and what in-process callers run (workspace apply).
 */
export const operationTables: Record<string, readonly Operation[]> = {
  connectors: connectorsOperations,
  'curated-connectors': curatedConnectorsOperations,
  'connector-instances': connectorInstancesOperations,
  'api-catalog': apiCatalogOperations,
  servers: serversOperations,
  'server-tools': serverToolsOperations,
};

export const allOperations: readonly Operation[] = Object.values(operationTables).flat();
