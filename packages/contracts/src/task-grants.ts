import { z } from 'zod';

/**
 * A task grant as the edges and workers get it with the workspace's access (ADR 0108): what a person approved a task
 * may do. A narrowed token redeemed from it carries its id; each call made with that token is held to it by the
 * `task-grant` rule (`@toolplane/access`): the tools it covers, the bounds on their arguments (CEL over `args`), its
 * expiry and revocation; its budget of calls is a limit of the token's chain (`taskGrantLimit`), spent by every token
 * redeemed from it.
 */
const TaskGrantBound = z.object({
  /** Named in what an off-grant call's refusal or hold says. */
  name: z.string(),
  /** A CEL condition over `args` (and `tool`), compiled by the control plane when the grant was made. */
  condition: z.string(),
});

export const TaskGrant = z.object({
  id: z.string(),
  purpose: z.string(),
  /** The person it acts for: the one who approves an off-grant call it holds. */
  person: z.string(),
  tools: z.array(z.string()),
  bounds: z.array(TaskGrantBound),
  /** Calls the grant allows, across every token redeemed from it. */
  calls: z.number().int().nonnegative(),
  /** ISO instant. */
  expiresAt: z.string(),
  /** What an off-grant call gets: held for the person's approval, or refused. */
  offGrant: z.enum(['hold', 'refuse']),
  /** `log_only`: an off-grant call goes on, and the audit trail says what the grant would have done. */
  mode: z.enum(['enforced', 'log_only']),
  /** ISO instant; absent: not revoked. */
  revokedAt: z.string().optional(),
  /**
   * A sub-grant's ancestors (ADR 0113), nearest first: a token redeemed from it spends their budgets too, and a token
   * of one of them may redeem it. Absent: not derived from a grant.
   */
  parents: z.array(z.string()).optional(),
});
export type TaskGrant = z.infer<typeof TaskGrant>;

/** The limit of a narrowed token's chain that counts a grant's calls: one counter for every token redeemed from it. */
export const taskGrantLimit = (grant: Pick<TaskGrant, 'id' | 'calls'>) => ({
  jti: `grant:${grant.id}`,
  calls: grant.calls,
});
