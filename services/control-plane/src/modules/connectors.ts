import { parseConnectorDescriptor, type ConnectorDescriptor } from '@toolplane/contracts';
import { NotFoundError, UserError, ValidationError } from '@toolplane/errors';
import { loadDocument } from '@toolplane/openapi';
import express, { Router } from 'express';
import type { Db } from '../db/client.ts';
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

export function connectorsRouter(db: Db, maxBodyBytes: number): Router {
  const r = Router();
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
  return r;
}
