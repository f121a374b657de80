import { z } from 'zod';

/**
 * Approvals by someone else ("four eyes", ADR 0049): a call of a tool named in its server's `approvalTools` runs only
 * once an approver the rule names granted exactly that call (caller, server, tool, arguments, rule version), once.
 * The rule travels in the catalog on each tool it governs (`CatalogTool.approval`); a pending request lives in Redis
 * under one key per call binding (`approvalKey`), written by the edges and decided by the control plane.
 */

/**
 * Who may approve: API key ids, OAuth subjects (`sub`), signed-in users by a group their token names (the control
 * plane's `OAUTH_GROUPS_CLAIM`), external users (people) by name. At least one in all.
 */
export const ApprovalApprovers = z.strictObject({
  apiKeys: z.array(z.string().min(1).max(200)).max(100).optional(),
  subjects: z.array(z.string().min(1).max(500)).max(100).optional(),
  groups: z.array(z.string().min(1).max(500)).max(100).optional(),
  people: z.array(z.string().min(1).max(200)).max(100).optional(),
});
export type ApprovalApprovers = z.infer<typeof ApprovalApprovers>;

/** The longest a request may wait for its approvers (30 days). */
export const MAX_APPROVAL_SECONDS = 30 * 86_400;

/** A server's approval rule as the edges apply it to each tool of its `approvalTools`. */
export const ApprovalRule = z.object({
  /** Changes whenever the rule does (a digest of approvers, approvals and expiry): older approvals no longer count. */
  version: z.string(),
  approvers: ApprovalApprovers,
  /** How many distinct approvers must grant a request. */
  approvals: z.number().int().positive(),
  /** How long a request (and the approval it gets) lives. */
  expiresInSeconds: z.number().int().positive(),
});
export type ApprovalRule = z.infer<typeof ApprovalRule>;

/** What becomes of a request: waiting, approved (not yet run), refused, past its time, or run (its approval spent). */
export const approvalStates = ['pending', 'granted', 'denied', 'expired', 'executed'] as const;
export type ApprovalState = (typeof approvalStates)[number];

/**
 * Hash: one call binding's approval request (`id`, `state`, `expiresAt` epoch ms, `comment` of a denial). `binding`
 * is SHA-256 of the caller, server, tool, arguments digest and rule version (`approvalBinding` on the edge). One key
 * per script, carrying the workspace as its hash tag.
 */
export function approvalKey(prefix: string, workspaceId: string, binding: string): string {
  return `${prefix}:approval:{ap:${workspaceId}}:${binding}`;
}

/**
 * Sorted set: the binding keys of one caller's undecided requests for one tool (score: each request's expiry, epoch
 * ms), what caps them. `caller` is SHA-256 of the caller, server and tool. Beside the requests, in their slot.
 */
export function approvalPendingKey(prefix: string, workspaceId: string, caller: string): string {
  return `${prefix}:approval:{ap:${workspaceId}}:pending:${caller}`;
}
