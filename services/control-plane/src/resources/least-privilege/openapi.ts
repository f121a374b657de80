import { z } from 'zod';
import { PRINCIPALS_MAX } from './aggregate.ts';

const Principal = z
  .strictObject({
    type: z.enum(['api_key', 'external_user']),
    id: z.string().describe('The API key’s id, or the person’s name.'),
    name: z.string().describe('The API key’s name (its id for a key deleted since), or the person’s name.'),
  })
  .meta({ id: 'LeastPrivilegePrincipal' });

const ServerRef = { id: z.string(), name: z.string().nullable().describe('Null for a server deleted since.') };

const Policy = z
  .strictObject({
    name: z.string(),
    description: z.string(),
    principals: z.array(z.strictObject({ type: z.enum(['api_key', 'external_user']), value: z.string() })),
    servers: z.array(z.string()).describe('One server id.'),
    tools: z.array(z.string()),
  })
  .meta({ id: 'LeastPrivilegePolicy' });

const QuotaProposal = z
  .strictObject({
    window: z.enum(['hour', 'day']),
    peak: z
      .number()
      .int()
      .describe('The most calls that ran (reached the upstream) in one UTC hour or day of the period.'),
    peakAt: z.iso.datetime().describe('The start of that hour or day.'),
    quota: z
      .strictObject({
        name: z.string(),
        description: z.string(),
        match: z.strictObject({ apiKeys: z.array(z.string()).optional(), people: z.array(z.string()).optional() }),
        counts: z.literal('calls'),
        limit: z.number().int().describe('`peak × margin`, rounded up.'),
        window: z.enum(['hour', 'day']),
        enforce: z.literal(true),
      })
      .describe('A `POST /quotas` body.'),
  })
  .meta({ id: 'LeastPrivilegeQuota' });

const Entry = z
  .strictObject({
    principal: Principal,
    calls: z.number().int().describe('Calls in the period that ran (reached the upstream).'),
    refused: z
      .number()
      .int()
      .describe(
        'Calls never sent: refused by a rule, held for an approval, over a quota, unconfirmed (outcome `rejected`, and `access.*`).',
      ),
    granted: z
      .strictObject({
        unrestricted: z.boolean().describe('An API key no policy names: it may call every tool.'),
        grantedBy: z.array(z.string()).describe('The policies naming the principal.'),
        servers: z.array(z.strictObject({ id: z.string(), name: z.string(), tools: z.array(z.string()) })),
      })
      .describe('What the principal may call now (`decideAccess`), tools of the servers’ live catalogs.'),
    used: z.strictObject({
      servers: z.array(
        z.strictObject({
          ...ServerRef,
          tools: z.array(
            z.strictObject({
              tool: z.string(),
              calls: z.number().int(),
              errors: z.number().int().describe('Of `calls`, those whose outcome is not `success`.'),
              refused: z.number().int(),
            }),
          ),
        }),
      ),
    }),
    unused: z
      .strictObject({
        servers: z.array(z.strictObject({ id: z.string(), name: z.string() })),
        tools: z.array(z.strictObject({ serverId: z.string(), serverName: z.string(), tool: z.string() })),
      })
      .describe('Granted servers and tools no call used in the period.'),
    policies: z
      .array(Policy)
      .describe(
        'The narrowest policies allowing every call made: one per server used (`POST /access_policies` bodies).',
      ),
    quotas: z.array(QuotaProposal),
    findings: z
      .array(
        z.strictObject({
          serverId: z.string(),
          serverName: z.string().nullable(),
          tool: z.string(),
          detector: z.string().describe('`secrets:*` or `pii:*`.'),
          on: z.enum(['result', 'arguments']),
          calls: z.number().int(),
          lastAt: z.iso.datetime(),
        }),
      )
      .describe('Guardrail findings of secrets-like values and personal data, per tool and detector.'),
  })
  .meta({ id: 'LeastPrivilegeEntry' });

export const LeastPrivilege = z
  .strictObject({
    period: z.strictObject({ from: z.iso.datetime(), to: z.iso.datetime() }),
    margin: z.number(),
    principals: z.array(Entry).describe(`The busiest first; at most ${PRINCIPALS_MAX}.`),
    truncated: z.boolean().describe(`More than ${PRINCIPALS_MAX} principals: narrow the period or name one.`),
  })
  .meta({ id: 'LeastPrivilege' });

export const LeastPrivilegeProposal = z
  .strictObject({
    principal: Principal,
    files: z
      .array(z.strictObject({ path: z.string(), content: z.string() }))
      .describe('Workspace files (`access-policies/*.yaml`, `quotas/*.yaml`) for `POST /workspace_files/plan`.'),
    notes: z.array(z.string()).describe('What else to do for the proposal to take effect, and what was left out.'),
  })
  .meta({ id: 'LeastPrivilegeProposal' });
