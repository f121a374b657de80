import type { ConnectorDescriptor } from '@toolplane/contracts';
import { NotFoundError, UserError } from '@toolplane/errors';
import { descriptorToOpenApi } from '@toolplane/openapi';
import { refuseIfWorkflowsUse } from '../../catalog/workflow-users.ts';
import { isUuid } from '../../db/ids.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import { readConnectorSource } from './sources.ts';
import { refuseGovernedParts } from './governed-parts.ts';
import { replaceConnector } from './replace.ts';
import type { DeleteConnectorQuery, UpdateConnectorQuery } from './schemas.ts';
import { createConnector, present } from './store.ts';

/** The request body: the document text itself (the operations read every body as text). */
const bodyText = (body: unknown) => (typeof body === 'string' ? body : '');

/** `POST /connectors`: registers a connector from a descriptor, an OpenAPI document or the OpenAPI envelope. */
export async function pushConnector({ db, fetchDocument }: ControlPlaneDeps, { body, caller }: Input<unknown>) {
  const source = await readConnectorSource(bodyText(body), fetchDocument);
  return createConnector(db, caller.workspaceId, source);
}

/** `GET /connectors`: the workspace's connectors, by slug, then oldest first. */
export async function listConnectors({ db }: ControlPlaneDeps, { caller }: Input) {
  const rows = await db.connector.findMany({
    where: { workspaceId: caller.workspaceId },
    omit: { document: true, source: true },
    orderBy: [{ slug: 'asc' }, { createdAt: 'asc' }],
  });
  return { data: rows.map((row) => present(row)) };
}

/** `GET /connectors/{id}`: a connector with its stored descriptor. */
export async function getConnector({ db }: ControlPlaneDeps, { params, caller }: Input) {
  const id = params.id!;
  const row = isUuid(id)
    ? await db.connector.findFirst({
        where: { id, workspaceId: caller.workspaceId },
        omit: { document: true, source: true },
      })
    : null;
  if (!row) throw new NotFoundError('connector', id);
  return present(row, true);
}

/**
 * `PUT /connectors/{id}`: replaces a connector's descriptor (same slug). Every server built on it gets a new catalog
 * version. With `dry_run=true` the same change is compiled and rolled back, and the answer says what it would do to
 * each server.
 */
export async function updateConnector(
  deps: ControlPlaneDeps,
  { body, query, params, caller }: Input<unknown, UpdateConnectorQuery>,
) {
  const { db, fetchDocument } = deps;
  const { workspaceId } = caller;
  const id = params.id!;
  const row = isUuid(id) ? await db.connector.findFirst({ where: { id, workspaceId } }) : null;
  if (!row) throw new NotFoundError('connector', id);
  const source = await readConnectorSource(bodyText(body), fetchDocument);
  const instances = await db.connectorInstance.count({ where: { connectorId: row.id } });
  refuseGovernedParts(caller, { name: row.name, instances }, { before: row, after: source });
  return replaceConnector(deps, { workspaceId, row, source, dryRun: query.dry_run === 'true' });
}

/**
 * Four eyes on loosening (ADR 0079): what replacing the connector's document changes, as `loosening.ts` compares it
 * (the stored descriptor and document against the sent ones, read as the update reads them); nothing for a dry run.
 * A caller who may not change those parts is refused here, before a change request is made.
 */
export async function connectorChange(
  deps: ControlPlaneDeps,
  { body, query, params, caller }: Input<unknown, unknown, unknown>,
) {
  if ((query as UpdateConnectorQuery | undefined)?.dry_run === 'true' || body === undefined) return undefined;
  const id = (params as Record<string, string>).id!;
  const row = isUuid(id) ? await deps.db.connector.findFirst({ where: { id, workspaceId: caller.workspaceId } }) : null;
  if (!row) return undefined;
  const source = await readConnectorSource(bodyText(body), deps.fetchDocument);
  const instances = await deps.db.connectorInstance.count({ where: { connectorId: row.id } });
  refuseGovernedParts(caller, { name: row.name, instances }, { before: row, after: source });
  return {
    stored: { descriptor: row.descriptor, document: row.document },
    body: { descriptor: source.descriptor, document: source.document ?? null },
  };
}

/**
 * `DELETE /connectors/{id}`: 409 while connector instances use it, unless `?force=true`: then those instances are
 * deleted first, exactly as DELETE /connector_instances/{id} does (the servers generated for them go too; other
 * servers built on them keep existing without their tools, with a warning), all in one transaction.
 */
export async function deleteConnector(
  { db, catalog, people }: ControlPlaneDeps,
  { query, params, caller: { workspaceId } }: Input<undefined, DeleteConnectorQuery>,
): Promise<void> {
  const id = params.id!;
  const row = isUuid(id)
    ? await db.connector.findFirst({ where: { id, workspaceId }, omit: { document: true, source: true } })
    : null;
  if (!row) throw new NotFoundError('connector', id);
  const force = query.force === 'true';
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
    const used = current.map((i) => ({ kind: 'connector_instance' as const, id: i.id, name: i.name }));
    await refuseIfWorkflowsUse(tx, workspaceId, used);
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
}

/** `GET /connectors/{id}/openapi.json`: the stored document of an OpenAPI connector, else one generated from its descriptor. */
export async function getConnectorOpenApi({ db }: ControlPlaneDeps, { params, caller }: Input) {
  const id = params.id!;
  const row = isUuid(id) ? await db.connector.findFirst({ where: { id, workspaceId: caller.workspaceId } }) : null;
  if (!row) throw new NotFoundError('connector', id);
  return row.kind === 'openapi' ? row.document : descriptorToOpenApi(row.descriptor as ConnectorDescriptor);
}
