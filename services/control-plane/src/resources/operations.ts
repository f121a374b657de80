import { debugSessionsOperations } from './debug-sessions/operations.ts';
import { deploymentsOperations } from './deployments/operations.ts';
import { executionRecordsOperations } from './execution-records/operations.ts';
import type { Operation } from './operation.ts';
import { secretsOperations } from './secrets/operations.ts';
import { serversOperations } from './servers/operations.ts';

/**
 * Every resource's operation table, in the order of the API's document: what `mountOperations` serves, what the
 * OpenAPI document describes (api-document.ts) and what in-process callers run (workspace apply).
 */
export const operationTables: Record<string, readonly Operation[]> = {
  servers: serversOperations,
  deployments: deploymentsOperations,
  secrets: secretsOperations,
  'debug-sessions': debugSessionsOperations,
  'execution-records': executionRecordsOperations,
};

export const allOperations: readonly Operation[] = Object.values(operationTables).flat();
