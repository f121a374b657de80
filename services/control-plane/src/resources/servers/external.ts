import { randomBytes } from 'node:crypto';
import type { Catalog } from '@toolplane/contracts';
import { ValidationError } from '@toolplane/errors';
import type { SecretsWriter } from '@toolplane/secrets';
import { registeredConfig, type ServerRow, type StoredExternalConfig } from '../../catalog/compile.ts';
import { externalHeadersSecretName } from '../../catalog/secret-names.ts';
import type { Db, Tx } from '../../db/client.ts';
import type { CreateServer } from './schemas.ts';

type RegistryRefs = NonNullable<CreateServer['externalMcpServers']>;
type ExternalConfigs = NonNullable<CreateServer['externalMcpConfigs']>;

/** Inline external configs sealed before a change: what goes in the database, and the secrets written for it. */
export interface SealedExternalConfigs {
  stored: StoredExternalConfig[];
  written: string[];
}

/** What a body asks of registered external MCP servers (`registeredFor`). */
export interface RegistryRequest {
  refs: RegistryRefs;
  /** The server's own `externalMcpConfigs` (their names must differ from the registered ones'). */
  inline: readonly { name: string }[];
  /** Where a name used by both is reported. */
  conflictPath: 'externalMcpServers' | 'externalMcpConfigs';
}

/**
 * The registered external MCP servers a body names, as configs; a 422 naming each unknown one and each
 * whose name one of the server's own `externalMcpConfigs` already uses (`inline`).
 */
export async function registeredFor(
  db: Db,
  workspaceId: string,
  { refs, inline, conflictPath }: RegistryRequest,
): Promise<StoredExternalConfig[]> {
  const rows = refs.length
    ? await db.externalMcpServer.findMany({ where: { workspaceId, name: { in: refs.map((r) => r.name) } } })
    : [];
  const issues: { path: string; message: string }[] = [];
  refs.forEach((ref, i) => {
    if (!rows.some((row) => row.name === ref.name))
      issues.push({
        path: `/externalMcpServers/${i}/name`,
        message: `no external MCP server "${ref.name}" is registered in this workspace (POST /api/v1/external_mcp_servers)`,
      });
  });
  inline.forEach((c, i) => {
    const j = refs.findIndex((r) => r.name === c.name);
    if (j >= 0)
      issues.push({
        path: conflictPath === 'externalMcpServers' ? `/externalMcpServers/${j}/name` : `/externalMcpConfigs/${i}/name`,
        message: `"${c.name}" is both a registered external MCP server and one of externalMcpConfigs: names must differ`,
      });
  });
  if (issues.length > 0) throw new ValidationError('the MCP server is invalid', issues);
  return refs.map((ref) =>
    registeredConfig(
      rows.find((row) => row.name === ref.name)!,
      ref.tools,
    ),
  );
}

/** Replaces a server's references to registered external MCP servers (inside the change's transaction). */
export async function setRegisteredRefs(tx: Tx, serverId: string, configs: StoredExternalConfig[]): Promise<void> {
  await tx.mcpServerExternalServer.deleteMany({ where: { serverId } });
  if (configs.length > 0)
    await tx.mcpServerExternalServer.createMany({
      data: configs.map((c, position) => ({ serverId, externalServerId: c.registryId!, tools: c.tools, position })),
    });
}

/** Seals header values under new names (the old ones stay valid until the change commits); returns what goes in the database. */
export async function storeExternalConfigs(
  secrets: SecretsWriter,
  workspaceId: string,
  serverId: string,
  configs: ExternalConfigs,
): Promise<SealedExternalConfigs> {
  const stored: StoredExternalConfig[] = [];
  const written: string[] = [];
  const generation = randomBytes(6).toString('hex');
  for (const c of configs) {
    const headerNames = Object.keys(c.headers);
    let headersSecret: string | undefined;
    if (headerNames.length > 0) {
      headersSecret = externalHeadersSecretName(workspaceId, serverId, c.name, generation);
      await secrets.put(headersSecret, JSON.stringify(c.headers));
      written.push(headersSecret);
    }
    stored.push({ name: c.name, url: c.url, tools: c.tools, headerNames, ...(headersSecret ? { headersSecret } : {}) });
  }
  return { stored, written };
}

/** The secrets holding the header values of stored external configs. */
export const headerSecretsOf = (configs: unknown): string[] =>
  ((configs ?? []) as StoredExternalConfig[]).flatMap((c) => (c.headersSecret ? [c.headersSecret] : []));

/**
 * The tools of external MCP servers an update removes (from the live catalog): their names stay
 * reserved, so a remaining external server's tool of the same name keeps its prefixed name.
 */
export async function removedExternalTools(
  tx: Tx,
  before: ServerRow,
  previous: StoredExternalConfig[],
  next: StoredExternalConfig[],
) {
  const kept = new Set(next.map((c) => c.name));
  const gone = previous.filter((c) => !kept.has(c.name));
  if (gone.length === 0) return undefined;
  const live = await tx.catalogVersion.findUnique({
    where: { serverId_version: { serverId: before.id, version: before.catalogVersion } },
  });
  const tools = ((live?.catalog as Catalog | undefined)?.tools ?? []).filter(
    (t) => t.plan.kind === 'mcp' && gone.some((c) => c.name === (t.plan as { server: string }).server),
  );
  if (tools.length === 0) return undefined;
  const names = tools.map((t) => t.tool.name);
  return {
    names,
    warnings: [
      `external MCP server(s) "${gone.map((c) => c.name).join('", "')}" removed: tools ${names.join(', ')} ` +
        'are no longer served (their names are not given to other tools)',
    ],
  };
}
