import { accessPoliciesOperations } from './access-policies/operations.ts';
import { apiCatalogOperations } from './api-catalog/operations.ts';
import { apiKeysOperations } from './api-keys/operations.ts';
import { changeRequestsOperations } from './change-requests/operations.ts';
import { approvalsOperations } from './approvals/operations.ts';
import { auditEventsOperations } from './audit-events/operations.ts';
import { auditExportersOperations } from './audit-exporters/operations.ts';
import { connectorInstancesOperations } from './connector-instances/operations.ts';
import { connectorsOperations } from './connectors/operations.ts';
import { curatedConnectorsOperations } from './curated-connectors/operations.ts';
import { debugSessionsOperations } from './debug-sessions/operations.ts';
import { enterpriseIdpsOperations } from './enterprise-idps/operations.ts';
import { deploymentsOperations } from './deployments/operations.ts';
import { eventSubscriptionsOperations } from './event-subscriptions/operations.ts';
import { executionRecordsOperations } from './execution-records/operations.ts';
import { externalMcpServersOperations } from './external-mcp-servers/operations.ts';
import { externalUsersOperations } from './external-users/operations.ts';
import { guardrailsOperations } from './guardrails/operations.ts';
import { leastPrivilegeOperations } from './least-privilege/operations.ts';
import { backtestOperations } from './backtest/operations.ts';
import type { Operation } from './operation.ts';
import { quotasOperations } from './quotas/operations.ts';
import { reachabilityOperations } from './reachability/operations.ts';
import { registryOperations } from './registry/operations.ts';
import { roleMappingsOperations } from './role-mappings/operations.ts';
import { scimTokenOperations } from './scim-token/operations.ts';
import { secretsOperations } from './secrets/operations.ts';
import { serverToolsOperations } from './server-tools/operations.ts';
import { serversOperations } from './servers/operations.ts';
import { sessionsOperations } from './sessions/operations.ts';
import { taskGrantsOperations } from './task-grants/operations.ts';
import { statsOperations } from './stats/operations.ts';
import { usageOperations } from './usage/operations.ts';
import { workspaceFilesOperations } from './workspace-files/operations.ts';
import { workspacesOperations } from './workspaces/operations.ts';

/**
 * Every resource's operation table, in the order of the API's document: what `mountOperations` serves (http-app.ts),
 * what the OpenAPI document describes (api-document.ts) and what in-process callers run (workspace apply).
 */
const operationTables = {
  workspaces: workspacesOperations,
  'api-keys': apiKeysOperations,
  'role-mappings': roleMappingsOperations,
  'access-policies': accessPoliciesOperations,
  quotas: quotasOperations,
  guardrails: guardrailsOperations,
  sessions: sessionsOperations,
  approvals: approvalsOperations,
  'task-grants': taskGrantsOperations,
  'change-requests': changeRequestsOperations,
  connectors: connectorsOperations,
  'curated-connectors': curatedConnectorsOperations,
  'connector-instances': connectorInstancesOperations,
  'api-catalog': apiCatalogOperations,
  servers: serversOperations,
  'external-mcp-servers': externalMcpServersOperations,
  registry: registryOperations,
  deployments: deploymentsOperations,
  secrets: secretsOperations,
  'external-users': externalUsersOperations,
  'scim-token': scimTokenOperations,
  'enterprise-idps': enterpriseIdpsOperations,
  'debug-sessions': debugSessionsOperations,
  'execution-records': executionRecordsOperations,
  'event-subscriptions': eventSubscriptionsOperations,
  stats: statsOperations,
  usage: usageOperations,
  'least-privilege': leastPrivilegeOperations,
  backtest: backtestOperations,
  reachability: reachabilityOperations,
  'server-tools': serverToolsOperations,
  'audit-events': auditEventsOperations,
  'audit-exporters': auditExportersOperations,
  'workspace-files': workspaceFilesOperations,
} satisfies Record<string, readonly Operation[]>;

export const allOperations: readonly Operation[] = Object.values(operationTables).flat();
