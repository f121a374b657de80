import { z } from 'zod';
import { ExternalMcpServer } from '../external-mcp-servers/openapi.ts';

/** A header a registry server's remote declares (its value is never shown). */
const DeclaredHeader = z.strictObject({
  name: z.string(),
  description: z.string().optional(),
  isRequired: z.boolean(),
  isSecret: z.boolean(),
});

export const RegistrySettings = z
  .strictObject({
    id: z.uuid().describe('The workspace’s id.'),
    sourceUrl: z.string().nullable().describe('The workspace’s own registry; null: the default.'),
    namespace: z.string().nullable().describe('The workspace’s own namespace; null: the default.'),
    effective: z.strictObject({
      sourceUrl: z.string().describe('The registry searched and added from (`MCP_REGISTRY_URL` by default).'),
      namespace: z.string().describe('The namespace of the servers in `GET /registry/v0.1/servers`.'),
    }),
  })
  .meta({ id: 'RegistrySettings' });

const RegistrySearchEntry = z
  .strictObject({
    name: z.string().describe('Its registry name (`io.github.acme/weather`).'),
    version: z.string().describe('Its latest version.'),
    description: z.string(),
    title: z.string().optional(),
    websiteUrl: z.string().optional(),
    remote: z
      .strictObject({ type: z.string(), url: z.string(), headers: z.array(DeclaredHeader) })
      .nullable()
      .describe('The remote `add` would attach (streamable HTTP first); null when none fits.'),
    unsupported: z.string().nullable().describe('Why it cannot be added (packages only, a URL template); else null.'),
    externalServerId: z.uuid().nullable().describe('The workspace’s external MCP server at one of its URLs, or null.'),
  })
  .meta({ id: 'RegistrySearchEntry' });

export const RegistrySearchPage = z
  .strictObject({
    data: z.array(RegistrySearchEntry),
    nextCursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last.'),
    source: z.strictObject({ url: z.string() }),
  })
  .meta({ id: 'RegistrySearchPage' });

const PlannedHeader = DeclaredHeader.extend({
  state: z
    .enum(['given', 'from_registry', 'to_fill'])
    .describe('Its value: from the request, the registry’s fixed one (not secret), or still to set.'),
}).strict();

export const RegistryAddResult = z
  .strictObject({
    id: z.uuid().describe('The external MCP server’s id (`externalMcpServer.id`).'),
    externalMcpServer: ExternalMcpServer,
    registry: z.strictObject({ source: z.string(), name: z.string(), version: z.string() }),
    remote: z.strictObject({ type: z.string(), url: z.string() }),
    headers: z.array(PlannedHeader).describe('Every header the remote declares.'),
    toFill: z
      .array(PlannedHeader.extend({ set: z.string().describe('The request that sets it.') }).strict())
      .describe('The headers without a value yet: set them (secrets) before the server can be listed.'),
  })
  .meta({ id: 'RegistryAddResult' });

/** The served registry's shapes: the registry API's `ServerResponse` and `ServerList`, as Toolplane fills them. */
const ServedServer = z
  .strictObject({
    server: z.strictObject({
      name: z.string(),
      description: z.string(),
      title: z.string(),
      version: z.string(),
      remotes: z.array(
        z.strictObject({ type: z.literal('streamable-http'), url: z.string(), headers: z.array(DeclaredHeader) }),
      ),
    }),
    _meta: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'RegistryServerResponse' });

export const ServedServerList = z
  .strictObject({
    servers: z.array(ServedServer),
    metadata: z.strictObject({ count: z.number().int(), nextCursor: z.string().optional() }),
  })
  .meta({ id: 'RegistryServerList' });

export { ServedServer };
