import { z } from 'zod';

/** The longest a task grant may live (30 days): a grant is for one task, not a standing right. */
export const MAX_TASK_GRANT_SECONDS = 30 * 86_400;

const Bound = z.strictObject({
  name: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe('Named in what an off-grant call’s refusal or hold says; default: the condition’s text.'),
  condition: z
    .string()
    .min(1)
    .max(2000)
    .describe('A CEL condition over `args` (and `tool`), e.g. `args.order_id == "4411" && args.amount <= 50`.'),
});

export const CreateTaskGrantBody = z.strictObject({
  parent: z
    .uuid()
    .optional()
    .describe(
      'The grant this one derives from (a sub-grant, ADR 0113): it can only narrow it, and is held to its bounds too.',
    ),
  purpose: z.string().min(1).max(2000).describe('What the task is for, in words (shown to the person it acts for).'),
  person: z.string().min(1).max(200).describe('The external user it acts for: who approves the calls it holds.'),
  tools: z.array(z.string().min(1).max(200)).min(1).max(500).describe('The tools it covers, by name.'),
  bounds: z.array(Bound).max(50).default([]).describe('Bounds on the covered calls’ arguments: every one must hold.'),
  calls: z.number().int().min(0).max(1_000_000).describe('Calls it allows, across every token redeemed from it.'),
  expiresAt: z.iso.datetime({ offset: true }).describe('When it ends (at most 30 days ahead).'),
  offGrant: z
    .enum(['hold', 'refuse'])
    .describe('What an off-grant call gets: held for the person’s approval, or refused.'),
  mode: z
    .enum(['enforced', 'log_only'])
    .default('enforced')
    .describe('`log_only`: off-grant calls go on, and the audit trail says what the grant would have done.'),
});
export type CreateTaskGrantBody = z.output<typeof CreateTaskGrantBody>;

export const TaskGrantParams = z.object({ id: z.string().describe('The task grant’s id.') });
