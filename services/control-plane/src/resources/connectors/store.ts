import { ConnectorCapabilities, ConnectorSla, type ConnectorDescriptor } from '@toolplane/contracts';
import { UserError } from '@toolplane/errors';
import { mcpDisabled } from '../../catalog/compile.ts';
import type { Db } from '../../db/client.ts';
import type { StoredOpenApiConnector } from '../../documents/openapi-connectors.ts';
import type { ConnectorSource } from './sources.ts';

type ConnectorRow = {
  id: string;
  slug: string;
  version: string;
  name: string;
  kind: string;
  descriptor: unknown;
  createdAt: Date;
};

/**
 * `capabilities` and `sla` as the API shows them: as written (validated when stored), null when absent or
 * when a connector stored before they were validated holds a value that is not valid.
 */
function promises(d: { capabilities?: unknown; sla?: unknown }) {
  const capabilities = ConnectorCapabilities.safeParse(d.capabilities);
  const sla = ConnectorSla.safeParse(d.sla);
  return { capabilities: capabilities.success ? capabilities.data : null, sla: sla.success ? sla.data : null };
}

/** A connector as the API shows it (with its stored descriptor when `withDescriptor`). */
export function present(row: ConnectorRow, withDescriptor = false) {
  const common = {
    id: row.id,
    kind: row.kind,
    slug: row.slug,
    version: row.version,
    name: row.name,
    createdAt: row.createdAt,
    ...promises(row.descriptor as { capabilities?: unknown; sla?: unknown }),
    ...(withDescriptor ? { descriptor: row.descriptor } : {}),
  };
  if (row.kind === 'openapi') {
    const d = row.descriptor as StoredOpenApiConnector;
    const mapped = d.mcp_config.route_mappings;
    return {
      ...common,
      operations: d.openapi.operations.map((o) => o.operationId),
      tools: mcpDisabled(d)
        ? []
        : mapped.length > 0
          ? mapped.map((m) => m.mcp_tool_name)
          : d.openapi.operations.map((o) => o.toolName),
      credentialFields: d.authentication.flatMap((a) => a.fields),
      warnings: d.openapi.warnings,
    };
  }
  const d = row.descriptor as ConnectorDescriptor;
  return {
    ...common,
    operations: d.operations.map((o) => o.operation_id),
    // `mcp_config.enabled: false`: stored and validated, no tool anywhere.
    tools: mcpDisabled(d) ? [] : (d.mcp_config?.route_mappings ?? []).map((m) => m.mcp_tool_name),
    mcp_enabled: !mcpDisabled(d),
  };
}

/** Stores a new connector (409 when its slug and version exist in the workspace); answers it as the API shows it. */
export async function createConnector(db: Db, workspaceId: string, source: ConnectorSource) {
  const existing = await db.connector.findUnique({
    where: { workspaceId_slug_version: { workspaceId, slug: source.slug, version: source.version } },
  });
  if (existing) {
    throw new UserError(
      'resource.conflict',
      `connector ${source.slug}@${source.version} already exists; publish a new version`,
      { status: 409, details: { id: existing.id } },
    );
  }
  const row = await db.connector.create({
    data: {
      workspaceId,
      kind: source.kind,
      slug: source.slug,
      version: source.version,
      name: source.name,
      descriptor: source.descriptor,
      ...(source.document ? { document: source.document as object } : {}),
      source: source.text ?? null,
    },
  });
  return present(row);
}
