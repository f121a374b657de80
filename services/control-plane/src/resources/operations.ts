import type { Operation } from './operation.ts';
import { serversOperations } from './servers/operations.ts';
import { workspaceFilesOperations } from './workspace-files/operations.ts';

/**
 * Every resource's operation table, in the order of the API's document: what `mountOperations` serves, what the
 * OpenAPI document describes (api-document.ts) and what in-process callers run (workspace apply).
 */
export const operationTables: Record<string, readonly Operation[]> = {
  servers: serversOperations,
  'workspace-files': workspaceFilesOperations,
};

export const allOperations: readonly Operation[] = Object.values(operationTables).flat();
