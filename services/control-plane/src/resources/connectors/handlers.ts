import type { Catalog, ConnectorDescriptor } from '@toolplane/contracts';
import { NotFoundError, UserError, ValidationError } from '@toolplane/errors';
import { descriptorToOpenApi } from '@toolplane/openapi';
import type { Request, Response } from 'express';
import { diffTools } from '../../catalog/diff.ts';
import { syncInstanceServers } from '../../catalog/instance-servers.ts';
import type { Db } from '../../db/client.ts';
import { isUuid } from '../../db/ids.ts';
import { caller } from '../../http/auth.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import { readConnectorSource, type ConnectorSource } from './sources.ts';
import { createConnector, present } from './store.ts';

/** The request body: the document text itself (the router reads every body as text). */
const bodyText = (req: Request) => (typeof req.body === 'string' ? req.body : '');

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

/** `POST /connectors`: registers a connector from a descriptor, an OpenAPI document or the OpenAPI envelope. */
export async function pushConnector(
  { db, fetchDocument }: ControlPlaneDeps,
  req: Request,
  res: Response,
): Promise<void> {
  const source = await readConnectorSource(bodyText(req), fetchDocument);
  res.status(201).json(await createConnector(db, caller(req).workspaceId, source));
}

/** `GET /connectors`: the workspace's connectors, by slug, then oldest first. */
export async function listConnectors({ db }: ControlPlaneDeps, req: Request, res: Response): Promise<void> {
  const rows = await db.connector.findMany({
    where: { workspaceId: caller(req).workspaceId },
    omit: { document: true },
    orderBy: [{ slug: 'asc' }, { createdAt: 'asc' }],
  });
  res.json({ data: rows.map((row) => present(row)) });
}

/** `GET /connectors/{id}`: a connector with its stored descriptor. */
export async function getConnector({ db }: ControlPlaneDeps, req: Request, res: Response): Promise<void> {
  const id = req.params.id as string;
  const row = isUuid(id)
    ? await db.connector.findFirst({
        where: { id, workspaceId: caller(req).workspaceId },
        omit: { document: true },
      })
    : null;
  if (!row) throw new NotFoundError('connector', id);
  res.json(present(row, true));
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
 * `PUT /connectors/{id}`: replaces a connector's descriptor (same slug). Every server built on it gets a new catalog
 * version. With `dry_run=true` the same change is compiled and rolled back, and the answer says what it would do to
 * each server.
 */
export async function updateConnector(deps: ControlPlaneDeps, req: Request, res: Response): Promise<void> {
  const { db, catalog, fetchDocument } = deps;
  const { workspaceId } = caller(req);
  const id = req.params.id as string;
  const row = isUuid(id) ? await db.connector.findFirst({ where: { id, workspaceId } }) : null;
  if (!row) throw new NotFoundError('connector', id);
  const source = await readConnectorSource(bodyText(req), fetchDocument);
  await checkReplacement(db, workspaceId, row, source);
  const instances = await db.connectorInstance.findMany({ where: { connectorId: row.id }, select: { id: true } });
  // The descriptor and every server built on it (new catalog versions; the servers generated from
  // `mcp_config` follow its server_name / server_description, and `enabled` false → true generates the
  // instances' servers: catalog/instance-servers.ts) change in one transaction.
  // `dry_run=true`: the same change, compiled and rolled back; the answer says what it would do to each server.
  const dryRun = req.query.dry_run === 'true';
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
  if (!dryRun) return void res.json(present(updated));
  res.json({
    state: 'validated',
    connector: present(updated),
    servers: await toolChanges(
      db,
      catalogs,
      instances.map((i) => i.id),
    ),
  });
}

/**
 * `DELETE /connectors/{id}`: 409 while connector instances use it, unless `?force=true`: then those instances are
 * deleted first, exactly as DELETE /connector_instances/{id} does (the servers generated for them go too; other
 * servers built on them keep existing without their tools, with a warning), all in one transaction.
 */
export async function deleteConnector(
  { db, catalog, people }: ControlPlaneDeps,
  req: Request,
  res: Response,
): Promise<void> {
  const { workspaceId } = caller(req);
  const id = req.params.id as string;
  const row = isUuid(id)
    ? await db.connector.findFirst({ where: { id, workspaceId }, omit: { document: true } })
    : null;
  if (!row) throw new NotFoundError('connector', id);
  const force = req.query.force === 'true';
  const instances = await db.connectorInstance.findMany({ where: { connectorId: row.id } });
  if (instances.length > 0 && !force) {
    throw new UserError(
      'resource.conflict',
      `connector ${row.slug}@${row.version} is used by ${instances.length} connector instance(s); delete them first or pass ?force=true`,
      { status: 409, details: { instances: instances.map((i) => i.id) } },
    );
  }
  // People's own accounts of those instances end as a disconnect ends them, after the commit and before the
  // instances' credentials (their OAuth app, read now) go.
  const apps = await people.appsOf(
    workspaceId,
    instances.map((i) => i.id),
  );
  const { result } = await catalog.change({ instanceIds: instances.map((i) => i.id), workspaceId }, async (tx) => {
    const current = await tx.connectorInstance.findMany({ where: { connectorId: row.id } });
    const { serverIds, removedServers, prefixes, connections } = await catalog.deleteInstancesWrites(
      tx,
      current,
      `was deleted with its connector ${row.slug}@${row.version}`,
    );
    await tx.connector.delete({ where: { id: row.id } });
    return { result: { prefixes, connections }, serverIds, removedServers };
  });
  await people.endForInstances(workspaceId, apps, result.connections);
  await catalog.deleteSecretPrefixes(result.prefixes);
  res.status(204).end();
}

/** `GET /connectors/{id}/openapi.json`: the stored document of an OpenAPI connector, else one generated from its descriptor. */
export async function getConnectorOpenApi({ db }: ControlPlaneDeps, req: Request, res: Response): Promise<void> {
  const id = req.params.id as string;
  const row = isUuid(id) ? await db.connector.findFirst({ where: { id, workspaceId: caller(req).workspaceId } }) : null;
  if (!row) throw new NotFoundError('connector', id);
  res.json(row.kind === 'openapi' ? row.document : descriptorToOpenApi(row.descriptor as ConnectorDescriptor));
}
