import { accessPoliciesBackground } from './access-policies/background.ts';
import { apiKeysBackground } from './api-keys/background.ts';
import { approvalsBackground } from './approvals/background.ts';
import { auditEventsBackground } from './audit-events/background.ts';
import { auditExportersBackground } from './audit-exporters/background.ts';
import type { Background, BackgroundContext, ResourceBackground } from './background.ts';
import { debugSessionsBackground } from './debug-sessions/background.ts';
import { executionRecordsBackground } from './execution-records/background.ts';
import { externalMcpServersBackground } from './external-mcp-servers/background.ts';
import { externalUsersBackground } from './external-users/background.ts';
import { serversBackground } from './servers/background.ts';

/**
 * Every resource's background (background.ts), in the order `app.ts` starts and republishes them (and stops them in
 * reverse): the streams' consumers first (the records' group is made again before anything is republished), then
 * access policies before the servers' catalogs (a catalog is never served without its workspace's policies).
 */
const resourceBackgrounds = {
  'execution-records': executionRecordsBackground,
  'audit-events': auditEventsBackground,
  approvals: approvalsBackground,
  'access-policies': accessPoliciesBackground,
  servers: serversBackground,
  'api-keys': apiKeysBackground,
  'external-users': externalUsersBackground,
  'debug-sessions': debugSessionsBackground,
  'external-mcp-servers': externalMcpServersBackground,
  'audit-exporters': auditExportersBackground,
} satisfies Record<string, ResourceBackground>;

/** Each resource's background for one control plane, in the list's order. */
export function backgroundsFor(ctx: BackgroundContext): Background[] {
  return Object.values(resourceBackgrounds).map((declare) => declare(ctx));
}
