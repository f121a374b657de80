import { labelSources, outboundLabels, resultLabels } from '@toolplane/contracts';
import { z } from 'zod';
import { ApprovalApprovers } from '@toolplane/contracts';

// The answers of the session operations (operations.ts).

const PublishedRule = z
  .strictObject({
    id: z.string(),
    name: z.string().optional(),
    after: z.array(z.enum(resultLabels)),
    toolLabels: z.array(z.enum(outboundLabels)),
    action: z.enum(['require_approval', 'refuse']),
    approval: z
      .strictObject({
        version: z.string().describe('A digest of the rule and its approval rule: a change leaves older requests.'),
        approvers: ApprovalApprovers,
        approvals: z.number().int(),
        expiresInSeconds: z.number().int(),
      })
      .optional(),
    enforce: z.boolean(),
  })
  .meta({ id: 'SessionRule' });

export const SessionSettingsAnswer = z
  .strictObject({
    configured: z.boolean().describe('false: the workspace keeps no session (no settings; older workspaces).'),
    ttlSeconds: z.number().int().nullable(),
    rules: z.array(PublishedRule),
    updatedAt: z.iso.datetime().nullable(),
  })
  .meta({ id: 'SessionSettings' });

export const SessionAnswer = z
  .strictObject({
    scope: z.string(),
    labels: z
      .array(
        z.strictObject({
          label: z.enum(resultLabels),
          source: z.enum(labelSources),
          tool: z.string(),
          serverId: z.string(),
          invocationId: z.string().describe('The execution record of the result that brought the label.'),
          at: z.iso.datetime(),
          detector: z.string().optional().describe('The guardrail detector that found it (`source: guardrail`).'),
        }),
      )
      .describe('Each label the session holds, with the latest result that brought it; never a value.'),
    calls: z.array(
      z.strictObject({
        serverId: z.string(),
        tool: z.string(),
        count: z.number().int(),
        firstAt: z.iso.datetime(),
        lastAt: z.iso.datetime(),
      }),
    ),
  })
  .meta({ id: 'Session' });
