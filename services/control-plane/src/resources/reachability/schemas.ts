import { z } from 'zod';
import { proposedFiles } from '../workspace-files/schemas.ts';

const Name = z.string().min(1).max(200);

export const ReachabilityBody = z
  .strictObject({
    server: Name.describe('The MCP server: its id or name.'),
    tool: Name.describe('The tool’s name, as callers see it.'),
    principal: z
      .strictObject({
        api_key: Name.optional().describe('An API key’s id: the key calling alone.'),
        external_user: Name.optional().describe(
          'A person’s name: acting through the workspace’s own credential (an API key no policy names).',
        ),
        external_group: Name.optional().describe('A SCIM group’s name: each of its members, as `external_user`.'),
      })
      .refine((p) => Object.keys(p).length === 1, 'name exactly one of api_key, external_user, external_group')
      .optional()
      .describe('Whom to ask about (default: every key, person and group member the access policies name).'),
    change: z
      .strictObject({
        files: proposedFiles(
          'The proposed change as workspace files, as `POST /governance/backtest` takes them (`access-policies/`, ' +
            '`mcp-servers/`: their `confirmTools` and `approvalTools`; the other kinds change nothing here).',
        ),
      })
      .optional()
      .describe('A proposed change: the answer adds what it lets through that the rules now refuse (`change`).'),
  })
  .meta({ id: 'ReachabilityRequest' });
export type ReachabilityBody = z.output<typeof ReachabilityBody>;
