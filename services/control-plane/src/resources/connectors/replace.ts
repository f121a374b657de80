import type { Catalog } from '@toolplane/contracts';
import { UserError, ValidationError } from '@toolplane/errors';
import { diffTools } from '../../catalog/diff.ts';
import { syncInstanceServers } from '../../catalog/instance-servers.ts';
import type { Db } from '../../db/client.ts';
import type { Connector as ConnectorRow } from '../../generated/prisma/client.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { ConnectorSource } from './sources.ts';
import { present } from './store.ts';

/**
 * What a change's catalogs (a dry run's) would do to each server's tools, against its live catalog: the servers
 * bound to `instanceIds` (the connector's instances) always, the others (SMART, tools by name) when their tools change.
 */
async function toolChanges(db: Db, catalogs: Map<string, Catalog>, instanceIds: string[]) {
  const servers = await db.mcpServer.findMany({
    where: { id: { in: [...catalogs.keys()] } },
    select: { id: true, name: true, mode: true, catalogVersion: true, connectorInstanceId: true },
    orderBy: { name: 'asc' },
  });
  const live = await db.catalogVersion.findMany({
    where: { OR: servers.map((s) => ({ serverId: s.id, version: s.catalogVersion })) },
    select: { serverId: true, catalog: true },
  });
  return servers
    .map((s) => {
      const next = catalogs.get(s.id)!;
      const before = (live.find((v) => v.serverId === s.id)?.catalog as Catalog | undefined)?.tools ?? [];
      return {
        id: s.id,
        name: s.name,
        ...(next.name !== s.name ? { renamedTo: next.name } : {}),
        mode: s.mode,
        bound: s.connectorInstanceId !== null && instanceIds.includes(s.connectorInstanceId),
        ...diffTools(before, next.tools),
      };
    })
    .filter((s) => s.bound || s.added.length + s.removed.length + s.changed.length > 0 || s.renamedTo)
    .map(({ bound: _bound, ...s }) => s);
}

/**
 * Refuses a replacement of another kind or slug than the connector's, or of a version another connector of the slug
 * has (409).
 */
async function checkReplacement(
  db: Db,
  workspaceId: string,
  row: { id: string; kind: string; slug: string },
  source: ConnectorSource,
): Promise<void> {
  if (source.kind !== row.kind) {
    throw new ValidationError('the connector source is invalid', [
      {
        path: '',
        message:
          `this connector was registered from ${row.kind === 'openapi' ? 'an OpenAPI document' : 'a connector descriptor'}; ` +
          'send the same kind (register a new connector for the other)',
      },
    ]);
  }
  if (source.slug !== row.slug) {
    throw new ValidationError('the connector descriptor is invalid', [
      {
        path: source.kind === 'openapi' ? '/slug' : '/metadata/slug',
        message: `must stay "${row.slug}" (register a new connector for another slug)`,
      },
    ]);
  }
  const clash = await db.connector.findFirst({
    where: { workspaceId, slug: row.slug, version: source.version, NOT: { id: row.id } },
  });
  if (clash)
    throw new UserError('resource.conflict', `connector ${row.slug}@${source.version} already exists`, {
      status: 409,
      details: { id: clash.id },
    });
}

/**
 * Replaces connector `row`'s descriptor by `source` (same slug): the descriptor and every server built on it (new
 * catalog versions; the servers generated from `mcp_config` follow its server_name / server_description, and
 * `enabled` false → true generates the instances' servers: catalog/instance-servers.ts) change in one transaction.
 * `dryRun`: the same change, compiled and rolled back; the answer says what it would do to each server.
 */
export async function replaceConnector(
  { db, catalog }: Pick<ControlPlaneDeps, 'db' | 'catalog'>,
  change: { workspaceId: string; row: ConnectorRow; source: ConnectorSource; dryRun: boolean },
) {
  const { workspaceId, row, source, dryRun } = change;
  await checkReplacement(db, workspaceId, row, source);
  const instances = await db.connectorInstance.findMany({ where: { connectorId: row.id }, select: { id: true } });
  const { result: updated, catalogs } = await catalog.change(
    { instanceIds: instances.map((i) => i.id), workspaceId },
    async (tx) => {
      const saved = await tx.connector.update({
        where: { id: row.id },
        data: {
          version: source.version,
          name: source.name,
          descriptor: source.descriptor,
          ...(source.document ? { document: source.document as object } : {}),
          source: source.text ?? null,
        },
      });
      // The servers generated for the instances are bound to them: the change recompiles new ones too.
      await syncInstanceServers(
        tx,
        workspaceId,
        row.descriptor,
        source.descriptor,
        instances.map((i) => i.id),
      );
      return { result: saved };
    },
    { dryRun },
  );
  if (!dryRun) return present(updated);
  return {
    state: 'validated' as const,
    connector: present(updated),
    servers: await toolChanges(
      db,
      catalogs,
      instances.map((i) => i.id),
    ),
  };
}
