import { ApprovalApprovers, ToolDefinition } from '@toolplane/contracts';
import { z } from 'zod';

const timestamp = z.iso.datetime();

/** Servers are addressed by id or by name. */
export const ServerParams = z.object({ id: z.string().describe('The server’s id, or its name.') });

const mode = z.enum(['SMART', 'NORMAL']);

/** What a server shows of an external MCP server it merges in (header values are secrets: only their names). */
const externalShape = {
  name: z.string(),
  url: z.string(),
  tools: z.array(z.string()).describe('The tools taken from it; [] = all of them.'),
  headerNames: z.array(z.string()),
};

/** An external MCP server merged into a server, configured on it (`externalMcpConfigs`). */
const ExternalMcpConfig = z.object(externalShape).strict().meta({ id: 'ExternalMcpConfig' });

/** A registered external MCP server a server uses (`externalMcpServers`). */
const UsedExternalMcpServer = z
  .object({ id: z.uuid().describe('The registered server (`/external_mcp_servers/{id}`).'), ...externalShape })
  .strict()
  .meta({ id: 'UsedExternalMcpServer' });

const serverShape = {
  id: z.uuid(),
  name: z.string(),
  description: z.string().nullable(),
  mode,
  selectedTools: z.array(z.string()),
  confirmTools: z
    .array(z.string())
    .describe(
      'Tools a person confirms before each call: the edge asks the caller’s client (MCP elicitation, form mode) and ' +
        'sends the call only after "accept"; [] by default.',
    ),
  approvalTools: z
    .array(z.string())
    .describe(
      'Tools whose every call someone else approves first (`approvalRule`): the edge enqueues a call only once it ' +
        'was approved, exactly that call, once; [] by default.',
    ),
  approvalRule: z
    .object({
      approvers: ApprovalApprovers,
      approvals: z.number().int(),
      expiresInSeconds: z.number().int(),
      notify: z
        .array(z.object({ url: z.string(), format: z.enum(['json', 'slack']) }).strict())
        .describe('Webhooks told of each new request; [] by default.'),
    })
    .strict()
    .nullable()
    .meta({ id: 'ServerApprovalRule' })
    .describe('Who approves calls of `approvalTools`, how many of them, and how long a request lives.'),
  ruleSettings: z
    .record(z.string(), z.unknown())
    .describe('Settings of portable rules (ADR 0101), by rule name; {} by default.'),
  connectorInstanceId: z.uuid().nullable(),
  isPublic: z.boolean(),
  perRequestAuth: z
    .boolean()
    .describe(
      'Callers may pass their own upstream credential with a call (`X-Upstream-Authorization`), used instead of ' +
        'the stored credentials of connector and OpenAPI tools; false: a call with the header is refused.',
    ),
  twin: z
    .enum(['off', 'recording', 'on'])
    .describe(
      'The staging twin (ADR 0112): `on`, every call is answered by the twin, nothing reaches an upstream; ' +
        '`recording`, calls go to production and their clean results are kept for the twin; `off` by default.',
    ),
  codeMode: z
    .boolean()
    .describe(
      'Code mode (NORMAL servers): `tools/list` adds `run_code`, which runs a JavaScript program calling the ' +
        'server’s tools, each call governed as a direct one. A SMART server always lists `run_code`.',
    ),
  config: z
    .record(z.string(), z.unknown())
    .nullable()
    .describe(
      'Settings: `exposeCallerToken` (workflows may read the caller’s OAuth token as `$current_user.token`), ' +
        '`taskOnlyTools` (names of tools that run only as durable tasks: a client without the Tasks extension is ' +
        'refused them with -32021), `resultShapes` (per tool: a JMESPath `projection` and `maxItems`), ' +
        '`resultCache` (per tool: `{ ttlSeconds, scope?: "principal" | "server" }`; read-only GET and external MCP ' +
        'tools only: the edge answers an identical call from Redis within the TTL).',
    ),
  catalogVersion: z.number().int().describe('The live catalog version.'),
  fromDescriptor: z.boolean().describe('Created with its connector instance from the descriptor’s `mcp_config`.'),
  url: z.string().describe('The MCP endpoint on the edge.'),
  externalMcpConfigs: z.array(ExternalMcpConfig),
  externalMcpServers: z
    .array(UsedExternalMcpServer)
    .describe('The external MCP servers registered on the workspace that this server uses, by name.'),
  createdAt: timestamp,
  updatedAt: timestamp,
};

/** A server as the list shows it (`presentServer` in present.ts without the live catalog). */
const McpServerSummary = z.object(serverShape).strict().meta({ id: 'McpServerSummary' });

/** A server with what its live catalog exposes (`presentServer` with the live catalog). */
export const McpServer = z
  .object({
    ...serverShape,
    tools: z.array(z.string()).optional().describe('The names of the tools of the live catalog.'),
    warnings: z
      .array(z.string())
      .optional()
      .describe('Problems met while compiling the catalog (a deleted tool source, an unreachable external server).'),
  })
  .strict()
  .meta({ id: 'McpServer' });

export const McpServerList = z
  .object({
    data: z.array(McpServerSummary),
    pagination: z
      .object({
        page: z.number().int().optional().describe('Absent when paging by cursor.'),
        limit: z.number().int(),
        total: z.number().int(),
        nextCursor: z.uuid().nullable().describe('Pass as `cursor` for the next page; null: no more.'),
      })
      .strict(),
  })
  .strict()
  .meta({ id: 'McpServerList' });

const Tool = ToolDefinition.meta({ id: 'ToolDefinition' });

/** `GET /mcp_manager/{id}/config`: what an MCP client of the server sees. */
export const McpServerConfig = z
  .object({
    id: z.uuid(),
    mode,
    catalogVersion: z.number().int(),
    serverInfo: z.object({ name: z.string() }).strict(),
    instructions: z.string().optional(),
    tools: z.array(Tool).describe('`tools/list`: for a SMART server, the meta tools.'),
    catalog: z
      .object({ tools: z.array(Tool) })
      .strict()
      .optional()
      .describe('SMART servers: the searchable catalog the meta tools act on.'),
    externalMcpConfigs: z.array(ExternalMcpConfig),
    externalMcpServers: z.array(UsedExternalMcpServer),
    warnings: z.array(z.string()).optional(),
  })
  .strict()
  .meta({ id: 'McpServerConfig' });

export const RemoteTools = z
  .object({
    url: z.string(),
    transport: z.enum(['streamable-http', 'sse']).optional().describe('The transport the server answered on.'),
    tools: z.array(z.record(z.string(), z.unknown())).describe('The tools as the server listed them (MCP format).'),
    fetchedAt: timestamp,
    cached: z.boolean().describe('Served from the cache of the same URL and headers.'),
  })
  .strict()
  .meta({ id: 'RemoteTools' });

/** `GET /mcp_manager/{id}/catalog_versions`: the server's catalog versions, newest first. */
export const CatalogVersionList = z
  .object({
    data: z.array(
      z
        .object({
          version: z.number().int(),
          createdAt: timestamp,
          live: z.boolean().describe('The version the server serves now.'),
          previousVersion: z
            .number()
            .int()
            .nullable()
            .describe('The version `added` and `removed` compare with; null for the first one.'),
          tools: z.array(z.string()).describe('The names of the version’s tools (SMART: its searchable catalog).'),
          added: z.array(z.string()).describe('Tools not in the previous version.'),
          removed: z.array(z.string()).describe('Tools of the previous version no longer in this one.'),
          warnings: z.array(z.string()).optional(),
        })
        .strict()
        .meta({ id: 'CatalogVersionSummary' }),
    ),
    nextBefore: z.number().int().nullable().describe('Pass as `before` for the older versions; null: no more.'),
  })
  .strict()
  .meta({ id: 'CatalogVersionList' });

/** `POST /mcp_manager/{id}/result_shapes/preview`: a sample before and after the shape, with their bytes. */
export const ResultShapePreview = z
  .object({
    before: z.unknown().describe('The sample’s JSON.'),
    after: z.unknown().describe('What the worker would return instead: the projection, its arrays capped.'),
    bytesBefore: z.number().int().describe('Bytes of the sample’s text (UTF-8).'),
    bytesAfter: z.number().int().describe('Bytes of the shaped JSON text, as the worker returns it.'),
    truncated: z
      .record(z.string(), z.number().int())
      .optional()
      .describe('Items left out by `maxItems`, per capped array (`$`: the value itself, else its member).'),
  })
  .strict()
  .meta({ id: 'ResultShapePreview' });
