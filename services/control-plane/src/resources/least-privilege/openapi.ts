import { z } from 'zod';
import { PRINCIPALS_MAX } from './aggregate.ts';

const Principal = z
  .object({
    type: z.enum(['api_key', 'external_user']),
    id: z.string().describe('The API key’s id, or the person’s name.'),
    name: z.string().describe('The API key’s name (its id for a key deleted since), or the person’s name.'),
  })
  .strict()
  .meta({ id: 'LeastPrivilegePrincipal' });

const ServerRef = { id: z.string(), name: z.string().nullable().describe('Null for a server deleted since.') };

const Policy = z
  .object({
    name: z.string(),
    description: z.string(),
    principals: z.array(z.object({ type: z.enum(['api_key', 'external_user']), value: z.string() }).strict()),
    servers: z.array(z.string()).describe('One server id.'),
    tools: z.array(z.string()),
  })
  .strict()
  .meta({ id: 'LeastPrivilegePolicy' });

const QuotaProposal = z
  .object({
    window: z.enum(['hour', 'day']),
    peak: z
      .number()
      .int()
      .describe('The most calls that ran (reached the upstream) in one UTC hour or day of the period.'),
    peakAt: z.iso.datetime().describe('The start of that hour or day.'),
    quota: z
      .object({
        name: z.string(),
        description: z.string(),
        match: z.object({ apiKeys: z.array(z.string()).optional(), people: z.array(z.string()).optional() }).strict(),
        counts: z.literal('calls'),
        limit: z.number().int().describe('`peak × margin`, rounded up.'),
        window: z.enum(['hour', 'day']),
        enforce: z.literal(true),
      })
      .strict()
      .describe('A `POST /quotas` body.'),
  })
  .strict()
  .meta({ id: 'LeastPrivilegeQuota' });

const Entry = z
  .object({
    principal: Principal,
    calls: z.number().int().describe('Calls in the period that ran (reached the upstream).'),
    refused: z
      .number()
      .int()
      .describe(
        'Calls never sent: refused by a rule, held for an approval, over a quota, unconfirmed (outcome `rejected`, and `access.*`).',
      ),
    granted: z
      .object({
        unrestricted: z.boolean().describe('An API key no policy names: it may call every tool.'),
        grantedBy: z.array(z.string()).describe('The policies naming the principal.'),
        servers: z.array(z.object({ id: z.string(), name: z.string(), tools: z.array(z.string()) }).strict()),
      })
      .strict()
      .describe('What the principal may call now (`decideAccess`), tools of the servers’ live catalogs.'),
    used: z
      .object({
        servers: z.array(
          z
            .object({
              ...ServerRef,
              tools: z.array(
                z
                  .object({
                    tool: z.string(),
                    calls: z.number().int(),
                    errors: z.number().int().describe('Of `calls`, those whose outcome is not `success`.'),
                    refused: z.number().int(),
                  })
                  .strict(),
              ),
            })
            .strict(),
        ),
      })
      .strict(),
    unused: z
      .object({
        servers: z.array(z.object({ id: z.string(), name: z.string() }).strict()),
        tools: z.array(z.object({ serverId: z.string(), serverName: z.string(), tool: z.string() }).strict()),
      })
      .strict()
      .describe('Granted servers and tools no call used in the period.'),
    policies: z
      .array(Policy)
      .describe(
        'The narrowest policies allowing every call made: one per server used (`POST /access_policies` bodies).',
      ),
    quotas: z.array(QuotaProposal),
    findings: z
      .array(
        z
          .object({
            serverId: z.string(),
            serverName: z.string().nullable(),
            tool: z.string(),
            detector: z.string().describe('`secrets:*` or `pii:*`.'),
            on: z.enum(['result', 'arguments']),
            calls: z.number().int(),
            lastAt: z.iso.datetime(),
          })
          .strict(),
      )
      .describe('Guardrail findings of secrets-like values and personal data, per tool and detector.'),
  })
  .strict()
  .meta({ id: 'LeastPrivilegeEntry' });

export const LeastPrivilege = z
  .object({
    period: z.object({ from: z.iso.datetime(), to: z.iso.datetime() }).strict(),
    margin: z.number(),
    principals: z.array(Entry).describe(`The busiest first; at most ${PRINCIPALS_MAX}.`),
    truncated: z.boolean().describe(`More than ${PRINCIPALS_MAX} principals: narrow the period or name one.`),
  })
  .strict()
  .meta({ id: 'LeastPrivilege' });

export const LeastPrivilegeProposal = z
  .object({
    principal: Principal,
    files: z
      .array(z.object({ path: z.string(), content: z.string() }).strict())
      .describe('Workspace files (`access-policies/*.yaml`, `quotas/*.yaml`) for `POST /workspace_files/plan`.'),
    notes: z.array(z.string()).describe('What else to do for the proposal to take effect, and what was left out.'),
  })
  .strict()
  .meta({ id: 'LeastPrivilegeProposal' });
