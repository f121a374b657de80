import type { Catalog } from '@toolplane/contracts';
import type { ServerRow, StoredExternalConfig } from '../../catalog/compile.ts';
import type { ApprovalRuleBody } from './schemas.ts';

/** What the API shows of a server's own external MCP configs (header names only). */
export const presentExternalConfigs = (row: ServerRow) =>
  ((row.externalMcpConfigs ?? []) as StoredExternalConfig[]).map(({ name, url, tools, headerNames }) => ({
    name,
    url,
    tools,
    headerNames,
  }));

/** What the API shows of a registered external MCP server a server uses (header names only). */
export const presentRegistered = (configs: StoredExternalConfig[]) =>
  configs.map(({ registryId, name, url, tools, headerNames }) => ({ id: registryId!, name, url, tools, headerNames }));

/** A server's approval rule as the API shows it: `notify` always listed (rules stored before it had none). */
function presentApprovalRule(stored: unknown) {
  const rule = (stored ?? null) as ApprovalRuleBody | null;
  return rule ? { ...rule, notify: rule.notify ?? [] } : null;
}

/** The names of a catalog's tools. */
export const toolNames = (catalog: unknown): string[] =>
  ((catalog as Catalog | null)?.tools ?? []).map((t) => t.tool.name);

/**
 * A server as the API shows it (`McpServer`), with its MCP endpoint on the edge at `publicEdgeUrl`; with its live
 * catalog's tool names and warnings when `live` is given (`McpServerSummary` otherwise).
 */
export function presentServer(
  publicEdgeUrl: string,
  row: ServerRow,
  live?: Catalog,
  registered: StoredExternalConfig[] = [],
) {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    mode: row.mode,
    selectedTools: row.selectedTools,
    confirmTools: row.confirmTools ?? [],
    approvalTools: row.approvalTools ?? [],
    approvalRule: presentApprovalRule(row.approvalRule),
    ruleSettings: (row.ruleSettings ?? {}) as Record<string, unknown>,
    connectorInstanceId: row.connectorInstanceId,
    isPublic: row.isPublic,
    perRequestAuth: row.perRequestAuth ?? false,
    codeMode: row.codeMode ?? false,
    twin: (row.twin ?? 'off') as 'off' | 'recording' | 'on',
    config: row.config ?? null,
    catalogVersion: row.catalogVersion,
    fromDescriptor: row.fromDescriptor ?? false,
    url: `${publicEdgeUrl.replace(/\/+$/, '')}/mcp/${row.id}`,
    externalMcpConfigs: presentExternalConfigs(row),
    externalMcpServers: presentRegistered(registered),
    ...(live
      ? { tools: live.tools.map((t) => t.tool.name), ...(live.warnings ? { warnings: live.warnings } : {}) }
      : {}),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}
