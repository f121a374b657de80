import { observeApprovalsPending } from '@toolplane/telemetry';
import type { ResourceBackground } from '../background.ts';
import type { Db } from '../../db/client.ts';
import { applyApprovalsRetention } from './retention.ts';

/**
 * The requests waiting for a decision over every workspace, and the oldest one's wait: one scan of the pending
 * requests' partial index (`approvals_pending_idx`), which holds only requests not yet decided.
 */
async function pendingApprovals(db: Db): Promise<{ count: number; oldestSeconds: number }> {
  const [row] = await db.$queryRaw<{ count: number; oldest: number | null }[]>`
    SELECT count(*)::int AS count, EXTRACT(EPOCH FROM (now() - min(requested_at)))::float8 AS oldest
      FROM approvals
     WHERE state = 'pending' AND expires_at > now()`;
  return { count: row?.count ?? 0, oldestSeconds: Math.max(0, row?.oldest ?? 0) };
}

/**
 * Ended approval requests older than APPROVALS_RETENTION_DAYS deleted (the edges' requests arrive as audit events);
 * the requests waiting for a decision reported at each scrape (`toolplane_approvals_pending`, alert
 * ToolplaneApprovalsWaiting).
 */
export const approvalsBackground: ResourceBackground = ({ deps, ingestPool }) => ({
  retention: async (now) => ({
    approvals: await applyApprovalsRetention(ingestPool, now, deps.env.APPROVALS_RETENTION_DAYS),
  }),
  serve: () => observeApprovalsPending(() => pendingApprovals(deps.db)),
});
