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

/** Parses and validates a descriptor document (YAML or JSON text); throws a 422 listing every problem. */
export function validateDescriptorText(text: string): ConnectorDescriptor {
  if (!text.trim()) throw new ValidationError('the request body is empty', [{ path: '', message: 'send the descriptor as YAML or JSON' }]);
  const parsed = parseConnectorDescriptor(loadDocument(text));
  if (!parsed.ok) throw new ValidationError('the connector descriptor is invalid', parsed.issues);
  return parsed.value;
}

function present(row: { id: string; slug: string; version: string; name: string; descriptor: unknown; createdAt: Date }, withDescriptor = false) {
  const d = row.descriptor as ConnectorDescriptor;
  return {
    id: row.id,
    slug: row.slug,
    version: row.version,
    name: row.name,
    operations: d.operations.map((o) => o.operation_id),
    tools: (d.mcp_config?.route_mappings ?? []).map((m) => m.mcp_tool_name),
    createdAt: row.createdAt,
    ...(withDescriptor ? { descriptor: d } : {}),
  };
}

export function connectorsRouter(db: Db, publisher: RuntimePublisher, tasks: DataPlaneTaskClient, maxBodyBytes: number): Router {
  const r = Router();
  const listExternal = externalListerFor(tasks);
  // The body is the document text itself (application/yaml, text/yaml or application/json).
  r.use(express.text({ type: () => true, limit: maxBodyBytes }));
  r.post('/', async (req, res) => {
    const descriptor = validateDescriptorText(typeof req.body === 'string' ? req.body : '');
    const { workspaceId } = caller(req);
    const existing = await db.connector.findUnique({ where: { workspaceId_slug_version: { workspaceId, slug: descriptor.metadata.slug, version: descriptor.metadata.version } } });
    if (existing) {
      throw new UserError('resource.conflict', `connector ${descriptor.metadata.slug}@${descriptor.metadata.version} already exists; publish a new version`, { status: 409, details: { id: existing.id } });
    }
    const row = await db.connector.create({
      data: { workspaceId, slug: descriptor.metadata.slug, version: descriptor.metadata.version, name: descriptor.metadata.name, descriptor: descriptor as object },
    });
    res.status(201).json(present(row));
  });
  r.get('/', async (req, res) => {
    const rows = await db.connector.findMany({ where: { workspaceId: caller(req).workspaceId }, orderBy: [{ slug: 'asc' }, { createdAt: 'asc' }] });
    res.json({ data: rows.map((row) => present(row)) });
  });
  r.get('/:id', async (req, res) => {
    const row = isUuid(req.params.id) ? await db.connector.findFirst({ where: { id: req.params.id, workspaceId: caller(req).workspaceId } }) : null;
    if (!row) throw new NotFoundError('connector', req.params.id);
    res.json(present(row, true));
  });
  // Replaces a connector's descriptor (same slug). Every server built on it gets a new catalog version.
  r.put('/:id', async (req, res) => {
    const { workspaceId } = caller(req);
    const row = isUuid(req.params.id) ? await db.connector.findFirst({ where: { id: req.params.id, workspaceId } }) : null;
    if (!row) throw new NotFoundError('connector', req.params.id);
    const descriptor = validateDescriptorText(typeof req.body === 'string' ? req.body : '');
    if (descriptor.metadata.slug !== row.slug) {
      throw new ValidationError('the connector descriptor is invalid', [{ path: '/metadata/slug', message: `must stay "${row.slug}" (register a new connector for another slug)` }]);
    }
    const clash = await db.connector.findFirst({ where: { workspaceId, slug: row.slug, version: descriptor.metadata.version, NOT: { id: row.id } } });
    if (clash) throw new UserError('resource.conflict', `connector ${row.slug}@${descriptor.metadata.version} already exists`, { status: 409, details: { id: clash.id } });
    const updated = await db.connector.update({ where: { id: row.id }, data: { version: descriptor.metadata.version, name: descriptor.metadata.name, descriptor: descriptor as object } });
    const instances = (await db.connectorInstance.findMany({ where: { connectorId: row.id }, select: { id: true } })).map((i) => i.id);
    await recompileServers(db, publisher, listExternal, { connectorInstanceId: { in: instances } }, workspaceId);
    res.json(present(updated));
  });

  r.get('/:id/openapi.json', async (req, res) => {
    const row = isUuid(req.params.id) ? await db.connector.findFirst({ where: { id: req.params.id, workspaceId: caller(req).workspaceId } }) : null;
    if (!row) throw new NotFoundError('connector', req.params.id);
    res.json(descriptorToOpenApi(row.descriptor as ConnectorDescriptor));
  });
  return r;
}
