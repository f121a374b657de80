import { createHash } from 'node:crypto';
import type { ApprovalRule } from '@toolplane/contracts';
import { approvalRuleVersion, type StoredApprovalRule } from '../../catalog/approvals.ts';
import type { Db, Tx } from '../../db/client.ts';

/**
 * An access policy's `onFalse: "require_approval"` (ADR 0049): a call its condition is false for runs once someone
 * its rule names approved exactly that call. The rule's version digests the policy, its condition and the rule, so
 * editing any of them leaves the requests made under the old grant unusable (an approval of them is a 409, a retry
 * asks anew).
 */

interface PolicyOutcome {
  id: string;
  condition: string | null;
  onFalse: string;
  approval: unknown;
}

/** The rule a policy's false condition requires, as the edges apply it (with its version); null: it refuses. */
export function policyApproval(row: PolicyOutcome): ApprovalRule | null {
  if (row.onFalse !== 'require_approval' || row.approval === null || row.condition === null) return null;
  const rule = row.approval as StoredApprovalRule;
  const version = createHash('sha256')
    .update(JSON.stringify(['access_policy', row.id, row.condition, approvalRuleVersion(rule)]))
    .digest('base64url')
    .slice(0, 22);
  return { version, approvers: rule.approvers, approvals: rule.approvals, expiresInSeconds: rule.expiresInSeconds };
}

/** Whether some policy of the workspace requires, for this server's tool, the rule of that version now. */
export async function policyRuleInForce(
  db: Db | Tx,
  call: { workspaceId: string; serverId: string; tool: string; ruleVersion: string },
): Promise<boolean> {
  const rows = await db.accessPolicy.findMany({
    where: { workspaceId: call.workspaceId, onFalse: 'require_approval' },
    select: { id: true, servers: true, tools: true, condition: true, onFalse: true, approval: true },
  });
  return rows.some(
    (r) =>
      (r.servers.includes('*') || r.servers.includes(call.serverId)) &&
      (r.tools.includes('*') || r.tools.includes(call.tool)) &&
      policyApproval(r)?.version === call.ruleVersion,
  );
}
