import {
  ConnectorCapabilities,
  ConnectorSla,
  parseConnectorDescriptor,
  type Catalog,
  type ConnectorDescriptor,
} from '@toolplane/contracts';
import { NotFoundError, UserError, ValidationError } from '@toolplane/errors';
import { descriptorToOpenApi, loadDocument } from '@toolplane/openapi';
import express, { type Router } from 'express';
import { mcpDisabled } from '../catalog/compile.ts';
import { syncInstanceServers } from '../catalog/instance-servers.ts';
import { diffTools } from '../catalog/diff.ts';
import type { CatalogService } from '../catalog/service.ts';
import type { Db } from '../db/client.ts';
import { caller } from '../http/auth.ts';
import type { Fetcher } from './api-catalog-source.ts';
import { isUuid } from './ids.ts';
import type { PeopleConnections } from './people-connections.ts';
import { importOpenApiConnector, isOpenApiBody, parseBody, type StoredOpenApiConnector } from './openapi-connectors.ts';
import { apiRouter } from '../http/route-access.ts';

/** Validates a parsed descriptor document; throws a 422 listing every problem. */
function validateDescriptor(value: unknown): ConnectorDescriptor {
  const parsed = parseConnectorDescriptor(value);
  if (!parsed.ok) throw new ValidationError('the connector descriptor is invalid', parsed.issues);
  return parsed.value;
}

interface ConnectorSource {
  kind: 'descriptor' | 'openapi';
  slug: string;
  version: string;
  name: string;
  descriptor: object;
  document?: Record<string, unknown>;
}

/** An OpenAPI document or envelope (already parsed; `text` as sent), imported as a connector source. */
export async function openApiConnectorSource(
  body: unknown,
  text: string,
  fetchDocument?: Fetcher,
): Promise<ConnectorSource> {
  const imported = await importOpenApiConnector(body, text, fetchDocument);
  return {
    kind: 'openapi',
    slug: imported.slug,
    version: imported.version,
    name: imported.name,
    descriptor: imported.descriptor,
    document: imported.document,
  };
}

/** A request body: a seed-001 descriptor, an OpenAPI 2.0/3.x document, or the OpenAPI envelope (openapi-connectors.ts). */
async function readConnectorSource(text: string, fetchDocument?: Fetcher): Promise<ConnectorSource> {
  const body = parseBody(text);
  if (isOpenApiBody(body)) return openApiConnectorSource(body, text, fetchDocument);
  // Descriptors are small: read with the strict YAML parser as before (duplicate keys are an error,
  // which JSON.parse, the fast path for large OpenAPI documents, would let through).
  const descriptor = validateDescriptor(loadDocument(text));
  return {
    kind: 'descriptor',
    slug: descriptor.metadata.slug,
    version: descriptor.metadata.version,
    name: descriptor.metadata.name,
    descriptor,
  };
}

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

function present(row: ConnectorRow, withDescriptor = false) {
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
    },
  });
  return present(row);
}

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
 * `fetchDocument`: reads documents through a worker (`document.fetch`), for what an OpenAPI envelope names by URL (an
 * opted-in `openIdConnect` scheme's discovery document).
 */
export function connectorsRouter(
  db: Db,
  catalog: CatalogService,
  maxBodyBytes: number,
  /** Ends people's own-account connections of the instances `?force=true` deletes. */
  people: PeopleConnections,
  fetchDocument?: Fetcher,
): Router {
  const r = apiRouter();
  // The body is the document text itself (application/yaml, text/yaml or application/json).
  r.use(express.text({ type: () => true, limit: maxBodyBytes }));
  r.post('/', async (req, res) => {
    const source = await readConnectorSource(typeof req.body === 'string' ? req.body : '', fetchDocument);
    res.status(201).json(await createConnector(db, caller(req).workspaceId, source));
  });
  r.get('/', async (req, res) => {
    const rows = await db.connector.findMany({
      where: { workspaceId: caller(req).workspaceId },
      omit: { document: true },
      orderBy: [{ slug: 'asc' }, { createdAt: 'asc' }],
    });
    res.json({ data: rows.map((row) => present(row)) });
  });
  r.get('/:id', async (req, res) => {
    const row = isUuid(req.params.id)
      ? await db.connector.findFirst({
          where: { id: req.params.id, workspaceId: caller(req).workspaceId },
          omit: { document: true },
        })
      : null;
    if (!row) throw new NotFoundError('connector', req.params.id);
    res.json(present(row, true));
  });
  // Replaces a connector's descriptor (same slug). Every server built on it gets a new catalog version.
  r.put('/:id', async (req, res) => {
    const { workspaceId } = caller(req);
    const row = isUuid(req.params.id)
      ? await db.connector.findFirst({ where: { id: req.params.id, workspaceId } })
      : null;
    if (!row) throw new NotFoundError('connector', req.params.id);
    const source = await readConnectorSource(typeof req.body === 'string' ? req.body : '', fetchDocument);
    if (source.kind !== row.kind) {
      throw new ValidationError('the connector source is invalid', [
        {
          path: '',
          message: `this connector was registered from ${row.kind === 'openapi' ? 'an OpenAPI document' : 'a connector descriptor'}; send the same kind (register a new connector for the other)`,
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
  });

  // Deletes a connector. 409 while connector instances use it, unless `?force=true`: then those
  // instances are deleted first, exactly as DELETE /connector_instances/{id} does (the servers generated
  // for them go too; other servers built on them keep existing without their tools, with a warning), all in
  // one transaction.
  r.delete('/:id', async (req, res) => {
    const { workspaceId } = caller(req);
    const row = isUuid(req.params.id)
      ? await db.connector.findFirst({ where: { id: req.params.id, workspaceId }, omit: { document: true } })
      : null;
    if (!row) throw new NotFoundError('connector', req.params.id);
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
  });

  r.get('/:id/openapi.json', async (req, res) => {
    const row = isUuid(req.params.id)
      ? await db.connector.findFirst({ where: { id: req.params.id, workspaceId: caller(req).workspaceId } })
      : null;
    if (!row) throw new NotFoundError('connector', req.params.id);
    res.json(row.kind === 'openapi' ? row.document : descriptorToOpenApi(row.descriptor as ConnectorDescriptor));
  });
  return r;
}
