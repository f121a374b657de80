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
    usedBy: z.array(z.object({ id: z.uuid(), name: z.string() }).strict()).describe('The hosted servers using it.'),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .strict()
  .meta({ id: 'ExternalMcpServer' });
