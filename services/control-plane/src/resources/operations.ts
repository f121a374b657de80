import { accessPoliciesOperations } from './access-policies/operations.ts';
import { apiCatalogOperations } from './api-catalog/operations.ts';
import { apiKeysOperations } from './api-keys/operations.ts';
import { connectorInstancesOperations } from './connector-instances/operations.ts';
import { connectorsOperations } from './connectors/operations.ts';
import { curatedConnectorsOperations } from './curated-connectors/operations.ts';
import { externalMcpServersOperations } from './external-mcp-servers/operations.ts';
import { externalUsersOperations } from './external-users/operations.ts';
import type { Operation } from './operation.ts';
import { quotasOperations } from './quotas/operations.ts';
import { debugSessionsOperations } from './debug-sessions/operations.ts';
import { deploymentsOperations } from './deployments/operations.ts';
import { executionRecordsOperations } from './execution-records/operations.ts';
import { secretsOperations } from './secrets/operations.ts';
import { serversOperations } from './servers/operations.ts';
import { serverToolsOperations } from './server-tools/operations.ts';
import { workspaceFilesOperations } from './workspace-files/operations.ts';

/**
 * Every resource's operation table, in the order of the API's document: what `mountOperations` serves, what the
 * OpenAPI document describes (api-document.ts) and what in-process callers run (workspace apply).
 */
export const operationTables: Record<string, readonly Operation[]> = {
  'api-keys': apiKeysOperations,
  'access-policies': accessPoliciesOperations,
  quotas: quotasOperations,
  connectors: connectorsOperations,
  'curated-connectors': curatedConnectorsOperations,
  'connector-instances': connectorInstancesOperations,
  'api-catalog': apiCatalogOperations,
  servers: serversOperations,
  'external-mcp-servers': externalMcpServersOperations,
  'external-users': externalUsersOperations,
  deployments: deploymentsOperations,
  secrets: secretsOperations,
  'debug-sessions': debugSessionsOperations,
  'execution-records': executionRecordsOperations,
  'server-tools': serverToolsOperations,
  'workspace-files': workspaceFilesOperations,
};

export const allOperations: readonly Operation[] = Object.values(operationTables).flat();
