import { z } from 'zod';
import { proposedFiles } from '../workspace-files/schemas.ts';

/** The most calls one backtest replays (the answer says when the period held more). */
export const MAX_CALLS = 200_000;
/** The longest period one backtest covers. */
export const MAX_DAYS = 31;

export const BacktestBody = z
  .strictObject({
    files: proposedFiles(
      'The proposed change as workspace files (`access-policies/`, `quotas/`, `guardrails/`, `session.yaml`, ' +
        '`mcp-servers/`: their `confirmTools` and `approvalTools` only; docs/gitops.md): each replaces the rule of its name, or adds one ' +
        '(`session.yaml`: the session settings).',
    ),
    from: z.iso.datetime({ offset: true }).describe('The period’s start (included).'),
    to: z.iso
      .datetime({ offset: true })
      .describe(`The period’s end (excluded); at most ${MAX_DAYS} days after \`from\`.`),
    maxCalls: z
      .number()
      .int()
      .min(1)
      .max(MAX_CALLS)
      .default(MAX_CALLS)
      .describe(`The most recorded calls to replay, oldest first (default and most: ${MAX_CALLS}).`),
  })
  .meta({ id: 'BacktestRequest' });
export type BacktestBody = z.output<typeof BacktestBody>;
