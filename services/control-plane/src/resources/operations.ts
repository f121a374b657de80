import { auditEventsOperations } from './audit-events/operations.ts';
import type { Operation } from './operation.ts';
import { serversOperations } from './servers/operations.ts';
import { statsOperations } from './stats/operations.ts';
import { workspacesOperations } from './workspaces/operations.ts';

/**
 * Every resource's operation table, in the order of the API's document: what `mountOperations` serves, what the
 * OpenAPI document describes (api-document.ts) and what in-process callers run (workspace apply).
 */
export const operationTables: Record<string, readonly Operation[]> = {
  workspaces: workspacesOperations,
  servers: serversOperations,
  stats: statsOperations,
  'audit-events': auditEventsOperations,
};

export const allOperations: readonly Operation[] = Object.values(operationTables).flat();
