import { z } from 'zod';

const timestamp = z.iso.datetime();

/** A registered server is addressed by its id or its name. */
export const ExternalServerParams = z.object({ id: z.string().describe('The registered server’s id, or its name.') });

/** A registered external MCP server as the API shows it (`present` in registry.ts): header names, never values. */
export const ExternalMcpServer = z
  .object({
    id: z.uuid(),
    name: z.string().describe('What hosted servers name it by (`externalMcpServers[].name`).'),
    url: z.string(),
    headerNames: z.array(z.string()).describe('The headers sent to it; their values are secrets, never shown.'),
    tools: z
      .array(z.object({ name: z.string(), title: z.string().optional(), description: z.string() }).strict())
      .describe('The tools it listed last (at registration, at a change, at each refresh).'),
    listedAt: timestamp.nullable(),
    listError: z.string().nullable().describe('Why the last listing failed; null when it succeeded.'),
    autoAccept: z.boolean().describe('true: every change it lists is published at once, without review.'),
    onChange: z
      .enum(['keep_pinned', 'withhold'])
      .describe('While a change of an item is held: its pinned version served, or the item withheld.'),
    notifyWebhookUrl: z.string().nullable().describe('Where each refresh that holds changes POSTs them.'),
    heldChanges: z.number().int().describe('How many changes wait for review (`GET …/changes`).'),
    usedBy: z.array(z.object({ id: z.uuid(), name: z.string() }).strict()).describe('The hosted servers using it.'),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .strict()
  .meta({ id: 'ExternalMcpServer' });

/** A held change of a registered server: a new item, or a new definition of a pinned one, field by field. */
export const ExternalMcpServerChange = z
  .object({
    id: z.uuid(),
    kind: z.enum(['tool', 'resource', 'resource_template', 'prompt', 'event']),
    name: z.string().describe('A tool’s or prompt’s name, a resource’s URI, a resource template’s URI template.'),
    change: z.enum(['added', 'changed']),
    fields: z
      .array(z.object({ field: z.string(), before: z.unknown(), after: z.unknown() }).strict())
      .describe('Each pinned field that differs: its pinned value (null for a new item) and the listed one.'),
    heldAt: timestamp,
  })
  .strict()
  .meta({ id: 'ExternalMcpServerChange' });

export const ExternalMcpServerDecision = ExternalMcpServerChange.extend({
  decision: z.enum(['accepted', 'rejected']),
}).meta({ id: 'ExternalMcpServerDecision' });

export const ExternalServerChangeParams = ExternalServerParams.extend({
  changeId: z.uuid().describe('The held change’s id.'),
});
