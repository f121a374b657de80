import { HttpUrl } from '@toolplane/contracts';
import { z } from 'zod';
import {
  ApprovalRuleSpec,
  approvalFileProblems,
  approvalRuleBody,
  approvalRuleFile,
  approvalWaits,
} from './approval-rule-files.ts';
import {
  changed,
  idOf,
  inlineConfigsOf,
  liveRows,
  Names,
  References,
  references,
  resolved,
  run,
  type Change,
  type Marker,
  type ServerPart,
  type StepContext,
  type WorkspaceFileKind,
} from '../workspace-files/kind.ts';
import { looseningOf } from '../change-requests/workspace-file-loosening.ts';
import { serversOperations } from './operations.ts';

const ExternalRef = z.strictObject({ name: z.string().min(1), tools: Names.default([]) });

/** An external MCP server configured on the server itself (`externalMcpConfigs`), its header values as references. */
const InlineExternal = z.strictObject({
  name: z.string().min(1),
  url: HttpUrl,
  tools: Names.default([]),
  headers: References,
});

const ServerSpec = z.strictObject({
  name: z.string().min(1).max(100),
  description: z.string().max(1000).nullable().default(null),
  mode: z.enum(['SMART', 'NORMAL']).default('SMART'),
  /** The connector instance its tools come from, by name. */
  connectorInstance: z.string().min(1).nullable().default(null),
  tools: Names.default([]),
  confirmTools: Names.default([]),
  /** Tools someone else approves first, and the rule (approving keys by name). */
  approvalTools: Names.default([]),
  approvalRule: ApprovalRuleSpec.nullable().default(null),
  public: z.boolean().default(false),
  perRequestAuth: z.boolean().default(false),
  /** NORMAL servers: `run_code` beside the tools (code mode). */
  codeMode: z.boolean().default(false),
  config: z.record(z.string(), z.unknown()).nullable().default(null),
  /**
   * Its settings of portable rules (ADR 0101), by rule name, each checked by its rule's schema when applied (and by a
   * backtest of the file); absent: the server's stay as they are.
   */
  ruleSettings: z.record(z.string(), z.unknown()).optional(),
  externalMcpServers: z.array(ExternalRef).default([]),
  externalMcpConfigs: z.array(InlineExternal).default([]),
});

/** A server's own external MCP configs as its file holds them: header values as references (recorded, else proposed). */
function inlineConfigs(stored: unknown, marker: Marker | undefined, server: string) {
  return ((stored ?? []) as { name: string; url: string; tools?: string[]; headerNames?: string[] }[]).map((c) => ({
    name: c.name,
    url: c.url,
    tools: c.tools ?? [],
    headers: references(marker, `externalMcpConfigs/${c.name}/headers`, c.headerNames ?? [], `${server}_${c.name}`),
  }));
}

/** A server's `ruleSettings` as its file holds them: absent when it sets none. */
const ruleSettingsOf = (stored: unknown) =>
  stored !== null && typeof stored === 'object' && Object.keys(stored).length > 0
    ? { ruleSettings: stored as Record<string, unknown> }
    : {};

const approvalFields = new Set(['approvalTools', 'approvalRule']);

/** The file's fields that the API's body names otherwise. */
const apiNames: Record<string, string> = {
  connectorInstanceId: 'connectorInstance',
  selectedTools: 'tools',
  isPublic: 'public',
};

/** A server file's fields as the API's body names them. */
function serverBody(c: Change, ctx: StepContext, part: ServerPart): Record<string, unknown> {
  const s = c.desired!.spec;
  const all: Record<string, unknown> = {
    description: s.description,
    mode: s.mode,
    connectorInstanceId: s.connectorInstance ? idOf(ctx, 'connector_instance', String(s.connectorInstance)) : undefined,
    selectedTools: s.tools,
    confirmTools: s.confirmTools,
    approvalTools: s.approvalTools,
    approvalRule: approvalRuleBody(s.approvalRule, (name) => idOf(ctx, 'api_key', name)),
    isPublic: s.public,
    perRequestAuth: s.perRequestAuth,
    codeMode: s.codeMode,
    config: s.config ?? undefined,
    ruleSettings: s.ruleSettings,
    externalMcpServers: s.externalMcpServers,
    externalMcpConfigs: inlineConfigsOf(s).map((c) => ({ ...c, headers: resolved(c.headers, ctx) })),
  };
  const creating = c.action === 'create' && part !== 'approval';
  const body: Record<string, unknown> = creating ? { name: s.name } : {};
  for (const [key, value] of Object.entries(all)) {
    if (value === undefined || !changed(c, apiNames[key] ?? key)) continue;
    if (approvalFields.has(key) ? part === 'withoutApproval' : part === 'approval') continue;
    if (creating && value === null) continue;
    body[key] = value;
  }
  return body;
}

/** MCP servers (`mcp-servers/<name>.yaml`): their connector instance, external servers and approving keys by name. */
export const serverFiles: WorkspaceFileKind = {
  kind: 'server',
  ...looseningOf('server'),
  dir: 'mcp-servers',
  schema: ServerSpec,
  refers: (s) => [
    ...(s.connectorInstance
      ? [
          {
            kind: 'connector_instance',
            name: String(s.connectorInstance),
            path: '/connectorInstance',
            what: 'connector instance',
          },
        ]
      : []),
    ...(s.externalMcpServers as { name: string }[]).map((e, i) => ({
      kind: 'external_mcp_server',
      name: e.name,
      path: `/externalMcpServers/${i}/name`,
      what: 'external MCP server',
    })),
  ],
  async live(ctx) {
    const instanceNames = ctx.names('connector_instance');
    const rows = await ctx.deps.db.mcpServer.findMany({
      where: { workspaceId: ctx.workspaceId },
      include: {
        externalServers: { include: { externalServer: { select: { name: true } } }, orderBy: { position: 'asc' } },
      },
      orderBy: { name: 'asc' },
    });
    return liveRows(ctx, 'server', rows, (r, marker) => ({
      name: r.name,
      description: r.description,
      mode: r.mode,
      connectorInstance: r.connectorInstanceId
        ? (instanceNames.get(r.connectorInstanceId) ?? r.connectorInstanceId)
        : null,
      tools: r.selectedTools,
      confirmTools: r.confirmTools,
      approvalTools: r.approvalTools,
      // Keys by id until the keys are read (`named`).
      approvalRule: approvalRuleFile(r.approvalRule, new Map()),
      public: r.isPublic,
      perRequestAuth: r.perRequestAuth,
      codeMode: r.codeMode,
      config: (r.config as Record<string, unknown> | null) ?? null,
      ...ruleSettingsOf(r.ruleSettings),
      externalMcpServers: r.externalServers.map((e) => ({ name: e.externalServer.name, tools: e.tools })),
      externalMcpConfigs: inlineConfigs(r.externalMcpConfigs, marker, r.name),
    }));
  },
  problems: approvalFileProblems,
  waits: approvalWaits,
  /** Its approval rule's keys by name: keys are read after servers (they name servers). */
  named(r, names) {
    r.spec.approvalRule = approvalRuleFile(r.spec.approvalRule, names('api_key'));
  },
  /** A server's step; its approvals alone (`approval`) update the server created or changed before. */
  write(c, ctx, part) {
    const body = serverBody(c, ctx, part);
    if (c.action === 'create' && part !== 'approval') return run(serversOperations, 'createServer', { body });
    if (Object.keys(body).length === 0) return undefined;
    return run(serversOperations, 'updateServer', { params: { id: c.live?.id ?? idOf(ctx, 'server', c.name) }, body });
  },
  remove: (c) => run(serversOperations, 'deleteServer', { params: { id: c.live!.id } }),
};
