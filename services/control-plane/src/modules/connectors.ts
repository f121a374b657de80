import { parseConnectorDescriptor, type ConnectorDescriptor } from '@toolplane/contracts';
import { NotFoundError, UserError, ValidationError } from '@toolplane/errors';
import { descriptorToOpenApi, loadDocument } from '@toolplane/openapi';
import express, { Router } from 'express';
import type { Db } from '../db/client.ts';
import type { RuntimePublisher } from '../publisher.ts';
import { externalListerFor, recompileServers } from './servers.ts';
import type { DataPlaneTaskClient } from '@toolplane/queue';
import { caller } from '../http/auth.ts';
import { isUuid } from './ids.ts';
import { importOpenApiConnector, isOpenApiBody, parseBody, type StoredOpenApiConnector } from './openapi-connectors.ts';

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

/** A request body: a seed-001 descriptor, an OpenAPI 2.0/3.x document, or the OpenAPI envelope (openapi-connectors.ts). */
async function readConnectorSource(text: string): Promise<ConnectorSource> {
  const body = parseBody(text);
  if (isOpenApiBody(body)) {
    const imported = await importOpenApiConnector(body, text);
    return {
      kind: 'openapi',
      slug: imported.slug,
      version: imported.version,
      name: imported.name,
      descriptor: imported.descriptor,
      document: imported.document,
    };
  }
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

function present(row: ConnectorRow, withDescriptor = false) {
  const common = {
    id: row.id,
    kind: row.kind,
    slug: row.slug,
    version: row.version,
    name: row.name,
    createdAt: row.createdAt,
    ...(withDescriptor ? { descriptor: row.descriptor } : {}),
  };
  if (row.kind === 'openapi') {
    const d = row.descriptor as StoredOpenApiConnector;
    const mapped = d.mcp_config.route_mappings;
    return {
      ...common,
      operations: d.openapi.operations.map((o) => o.operationId),
      tools: mapped.length > 0 ? mapped.map((m) => m.mcp_tool_name) : d.openapi.operations.map((o) => o.toolName),
      credentialFields: d.authentication.flatMap((a) => a.fields),
      warnings: d.openapi.warnings,
    };
  }
  const d = row.descriptor as ConnectorDescriptor;
  return {
    ...common,
    operations: d.operations.map((o) => o.operation_id),
    tools: (d.mcp_config?.route_mappings ?? []).map((m) => m.mcp_tool_name),
  };
}

export function connectorsRouter(
  db: Db,
  publisher: RuntimePublisher,
  tasks: DataPlaneTaskClient,
  maxBodyBytes: number,
): Router {
  const r = Router();
  const listExternal = externalListerFor(tasks);
  // The body is the document text itself (application/yaml, text/yaml or application/json).
  r.use(express.text({ type: () => true, limit: maxBodyBytes }));
  r.post('/', async (req, res) => {
    const source = await readConnectorSource(typeof req.body === 'string' ? req.body : '');
    const { workspaceId } = caller(req);
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
    res.status(201).json(present(row));
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
    const source = await readConnectorSource(typeof req.body === 'string' ? req.body : '');
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
    const updated = await db.connector.update({
      where: { id: row.id },
      data: {
        version: source.version,
        name: source.name,
        descriptor: source.descriptor,
        ...(source.document ? { document: source.document as object } : {}),
      },
    });
    const instances = (
      await db.connectorInstance.findMany({ where: { connectorId: row.id }, select: { id: true } })
    ).map((i) => i.id);
    await recompileServers(db, publisher, listExternal, { connectorInstanceId: { in: instances } }, workspaceId);
    res.json(present(updated));
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
