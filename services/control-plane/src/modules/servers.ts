import { createHash } from 'node:crypto';
import type { Catalog, ConnectorDescriptor } from '@toolplane/contracts';
import type { DataPlaneTaskClient } from '@toolplane/queue';
import type { Redis } from 'ioredis';
import { NotFoundError, UserError, ValidationError } from '@toolplane/errors';
import { compileDescriptorTools } from '@toolplane/openapi';
import express, { Router } from 'express';
import { z } from 'zod';
import type { Db, Tx } from '../db/client.ts';
import { caller } from '../http/auth.ts';
import type { RuntimePublisher } from '../publisher.ts';
import { credentialSecretName } from './connector-instances.ts';
import { isUuid } from './ids.ts';

/** CreateMcpServerDto (seed 002), plus `connectorInstanceId`: the tool source of this first version. */
const CreateServerBody = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,99}$/, 'must be a slug: lower-case letters, digits, - and _ (1-100 chars)'),
  description: z.string().max(1000).optional(),
  mode: z.enum(['SMART', 'NORMAL']).default('SMART'),
  selectedTools: z.array(z.string().min(1)).optional(),
  connectorInstanceId: z.string().min(1),
  config: z.record(z.string(), z.unknown()).optional(),
  isPublic: z.boolean().default(false),
});

const UpdateServerBody = CreateServerBody.omit({ connectorInstanceId: true, mode: true, isPublic: true })
  .partial()
  .extend({
    mode: z.enum(['SMART', 'NORMAL']).optional(),
    connectorInstanceId: z.string().min(1).optional(),
    isPublic: z.boolean().optional(),
    description: z.string().max(1000).nullable().optional(),
  })
  .strict();

const ListQuery = z.object({
  page: z.coerce.number().int().min(1).default(1),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().uuid().optional(),
});

export type ServerRow = { id: string; workspaceId: string; name: string; description: string | null; mode: 'SMART' | 'NORMAL'; connectorInstanceId: string | null; selectedTools: string[]; isPublic: boolean; config: unknown; catalogVersion: number; createdAt: Date; updatedAt: Date };

/** Compiles a server's immutable catalog from its connector instance and tool selection. */
export async function compileCatalog(tx: Tx, server: ServerRow, version: number, opts: { lenientSelection?: boolean } = {}): Promise<Catalog> {
  const instance = server.connectorInstanceId ? await tx.connectorInstance.findUnique({ where: { id: server.connectorInstanceId }, include: { connector: true } }) : null;
  const base = { v: 1 as const, serverId: server.id, workspaceId: server.workspaceId, version, name: server.name, ...(server.description ? { description: server.description } : {}), isPublic: server.isPublic };
  // A server whose connector instance was deleted keeps existing with no tools.
  if (!instance) return { ...base, tools: [] };
  const descriptor = instance.connector.descriptor as ConnectorDescriptor;
  const secretNames = Object.fromEntries(instance.credentialKeys.map((k) => [k, credentialSecretName(server.workspaceId, instance.id, k)]));
  let tools = compileDescriptorTools(descriptor, { baseUrl: instance.baseUrl ?? undefined, secretNames, rateLimitOwner: `connector-instance:${instance.id}` });
  if (server.selectedTools.length > 0) {
    const missing = server.selectedTools.filter((name) => !tools.some((t) => t.tool.name === name));
    // On recompilation (descriptor changed), selected tools that no longer exist are dropped, not fatal.
    if (missing.length > 0 && !opts.lenientSelection) {
      throw new ValidationError('selectedTools names unknown tools', missing.map((name) => ({ path: `/selectedTools/${server.selectedTools.indexOf(name)}`, message: `no tool "${name}" in connector ${instance.connector.slug}` })));
    }
    tools = tools.filter((t) => server.selectedTools.includes(t.tool.name));
  }
  return { ...base, tools };
}

/**
 * Compiles and publishes a new catalog version for every server matching `where` (after a
 * credential, base URL or descriptor change). Each server's new version is stored and published in
 * one transaction, so edges and workers never see a version the database does not have.
 */
export async function recompileServers(db: Db, publisher: RuntimePublisher, where: { connectorInstanceId?: string | { in: string[] }; id?: string | { in: string[] } }): Promise<number> {
  const servers = (await db.mcpServer.findMany({ where })) as ServerRow[];
  for (const s of servers) {
    await db.$transaction(async (tx) => {
      const current = (await tx.mcpServer.findUnique({ where: { id: s.id } })) as ServerRow | null;
      if (!current) return;
      const version = current.catalogVersion + 1;
      const catalog = await compileCatalog(tx, { ...current, selectedTools: current.selectedTools }, version, { lenientSelection: true });
      await tx.catalogVersion.create({ data: { serverId: current.id, version, catalog: catalog as object } });
      await tx.mcpServer.update({ where: { id: current.id }, data: { catalogVersion: version } });
      await publisher.publishCatalog(catalog);
    });
  }
  return servers.length;
}

const LoadToolsBody = z.object({
  url: z.string().url().refine((u) => /^https?:/i.test(u), 'must be an http(s) URL'),
  headers: z.record(z.string(), z.string()).default({}),
  /** How long the list is reused for the same URL and headers; 0 always fetches. */
  cacheMinutes: z.number().int().min(0).max(1440).default(5),
});

export interface RemoteToolsDeps {
  tasks: DataPlaneTaskClient;
  redis: Redis;
  prefix: string;
}

export function serversRouter(db: Db, publisher: RuntimePublisher, publicEdgeUrl: string, maxBodyBytes: number, remote: RemoteToolsDeps): Router {
  const r = Router();
  r.use(express.json({ limit: maxBodyBytes }));
  const present = (row: ServerRow, catalog?: Catalog) => ({
    id: row.id,
    name: row.name,
    description: row.description,
    mode: row.mode,
    selectedTools: row.selectedTools,
    connectorInstanceId: row.connectorInstanceId,
    isPublic: row.isPublic,
    config: row.config ?? null,
    catalogVersion: row.catalogVersion,
    url: `${publicEdgeUrl.replace(/\/+$/, '')}/mcp/${row.id}`,
    ...(catalog ? { tools: catalog.tools.map((t) => t.tool.name) } : {}),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  });

  // Seed 002: preview an external MCP server's tools without registering it. The worker connects
  // (the control plane has no egress); lists are cached by a hash of URL and headers (never the values).
  r.post('/load-tools-from-url', async (req, res) => {
    const body = LoadToolsBody.parse(req.body ?? {});
    const { workspaceId } = caller(req);
    const digest = createHash('sha256').update(JSON.stringify([workspaceId, body.url, Object.entries(body.headers).sort()])).digest('hex');
    const cacheKey = `${remote.prefix}:remote-tools:${digest}`;
    if (body.cacheMinutes > 0) {
      const hit = await remote.redis.get(cacheKey);
      if (hit) return void res.json({ ...(JSON.parse(hit) as object), cached: true });
    }
    const result = await remote.tasks.listRemoteTools({ v: 1, taskId: crypto.randomUUID(), kind: 'mcp.list_tools', url: body.url, headers: body.headers, deadlineAt: Date.now() + 30_000, replyTo: remote.tasks.clientId });
    if (!result.ok) throw new UserError('upstream.unreachable', result.error ?? 'the MCP server could not be reached', { status: 502 });
    const payload = { url: body.url, transport: result.transport, tools: result.tools, fetchedAt: new Date().toISOString() };
    if (body.cacheMinutes > 0) await remote.redis.set(cacheKey, JSON.stringify(payload), 'EX', body.cacheMinutes * 60);
    res.json({ ...payload, cached: false });
  });

  r.post('/', async (req, res) => {
    const body = CreateServerBody.parse(req.body ?? {});
    const { workspaceId } = caller(req);
    if (body.mode === 'SMART') {
      throw new ValidationError('mode SMART is not available yet', [{ path: '/mode', message: 'SMART mode (meta tools) is not implemented in this version; use NORMAL with selectedTools' }]);
    }
    if (!isUuid(body.connectorInstanceId) || !(await db.connectorInstance.findFirst({ where: { id: body.connectorInstanceId, workspaceId } }))) {
      throw new ValidationError('the MCP server is invalid', [{ path: '/connectorInstanceId', message: `no connector instance ${body.connectorInstanceId} in this workspace` }]);
    }
    if (await db.mcpServer.findUnique({ where: { workspaceId_name: { workspaceId, name: body.name } } })) {
      throw new ValidationError('the MCP server is invalid', [{ path: '/name', message: `a server named "${body.name}" already exists` }], 'resource.conflict', 409);
    }
    // Server row, catalog version and Redis publication succeed or fail together.
    const { server, catalog } = await db.$transaction(async (tx) => {
      const created = (await tx.mcpServer.create({
        data: { workspaceId, name: body.name, description: body.description ?? null, mode: body.mode, connectorInstanceId: body.connectorInstanceId, selectedTools: body.selectedTools ?? [], isPublic: body.isPublic, config: (body.config ?? undefined) as object | undefined, catalogVersion: 1 },
      })) as ServerRow;
      const compiled = await compileCatalog(tx, created, 1);
      await tx.catalogVersion.create({ data: { serverId: created.id, version: 1, catalog: compiled as object } });
      await publisher.publishCatalog(compiled);
      return { server: created, catalog: compiled };
    });
    res.status(201).json(present(server, catalog));
  });

  // Page-based (`page`, `limit`) or cursor-based (`cursor` = the last id seen, `limit`) listing.
  r.get('/', async (req, res) => {
    const q = ListQuery.parse(req.query);
    const where = { workspaceId: caller(req).workspaceId };
    const orderBy = [{ createdAt: 'asc' as const }, { id: 'asc' as const }];
    const total = await db.mcpServer.count({ where });
    const rows = (await db.mcpServer.findMany({
      where,
      orderBy,
      take: q.limit + 1,
      ...(q.cursor ? { cursor: { id: q.cursor }, skip: 1 } : { skip: (q.page - 1) * q.limit }),
    })) as ServerRow[];
    const more = rows.length > q.limit;
    const page = rows.slice(0, q.limit);
    res.json({
      data: page.map((row) => present(row)),
      pagination: { ...(q.cursor ? {} : { page: q.page }), limit: q.limit, total, nextCursor: more ? page.at(-1)!.id : null },
    });
  });

  r.patch('/:id', async (req, res) => {
    const body = UpdateServerBody.parse(req.body ?? {});
    const { workspaceId } = caller(req);
    const row = isUuid(req.params.id) ? ((await db.mcpServer.findFirst({ where: { id: req.params.id, workspaceId } })) as ServerRow | null) : null;
    if (!row) throw new NotFoundError('MCP server', req.params.id);
    if (body.mode === 'SMART') throw new ValidationError('mode SMART is not available yet', [{ path: '/mode', message: 'SMART mode (meta tools) is not implemented in this version; use NORMAL' }]);
    if (body.connectorInstanceId && (!isUuid(body.connectorInstanceId) || !(await db.connectorInstance.findFirst({ where: { id: body.connectorInstanceId, workspaceId } })))) {
      throw new ValidationError('the MCP server update is invalid', [{ path: '/connectorInstanceId', message: `no connector instance ${body.connectorInstanceId} in this workspace` }]);
    }
    if (body.name && body.name !== row.name && (await db.mcpServer.findUnique({ where: { workspaceId_name: { workspaceId, name: body.name } } }))) {
      throw new ValidationError('the MCP server update is invalid', [{ path: '/name', message: `a server named "${body.name}" already exists` }], 'resource.conflict', 409);
    }
    // The update and the new catalog version succeed or fail together (an unknown selected tool rolls both back).
    const { server, catalog } = await db.$transaction(async (tx) => {
      const updated = (await tx.mcpServer.update({
        where: { id: row.id },
        data: {
          ...(body.name !== undefined ? { name: body.name } : {}),
          ...(body.description !== undefined ? { description: body.description } : {}),
          ...(body.mode !== undefined ? { mode: body.mode } : {}),
          ...(body.selectedTools !== undefined ? { selectedTools: body.selectedTools } : {}),
          ...(body.connectorInstanceId !== undefined ? { connectorInstanceId: body.connectorInstanceId } : {}),
          ...(body.isPublic !== undefined ? { isPublic: body.isPublic } : {}),
          ...(body.config !== undefined ? { config: body.config as object } : {}),
          catalogVersion: row.catalogVersion + 1,
        },
      })) as ServerRow;
      const compiled = await compileCatalog(tx, updated, updated.catalogVersion);
      await tx.catalogVersion.create({ data: { serverId: updated.id, version: updated.catalogVersion, catalog: compiled as object } });
      await publisher.publishCatalog(compiled);
      return { server: updated, catalog: compiled };
    });
    res.json(present(server, catalog));
  });

  r.delete('/:id', async (req, res) => {
    const { workspaceId } = caller(req);
    const row = isUuid(req.params.id) ? await db.mcpServer.findFirst({ where: { id: req.params.id, workspaceId } }) : null;
    if (!row) throw new NotFoundError('MCP server', req.params.id);
    await db.$transaction(async (tx) => {
      await tx.mcpServer.delete({ where: { id: row.id } });
      await publisher.removeCatalog(row.id);
    });
    res.status(204).end();
  });

  r.get('/:id', async (req, res) => {
    const row = isUuid(req.params.id) ? ((await db.mcpServer.findFirst({ where: { id: req.params.id, workspaceId: caller(req).workspaceId } })) as ServerRow | null) : null;
    if (!row) throw new NotFoundError('MCP server', req.params.id);
    res.json(present(row));
  });

  r.get('/:id/config', async (req, res) => {
    const row = isUuid(req.params.id) ? ((await db.mcpServer.findFirst({ where: { id: req.params.id, workspaceId: caller(req).workspaceId } })) as ServerRow | null) : null;
    if (!row) throw new NotFoundError('MCP server', req.params.id);
    const version = await db.catalogVersion.findUnique({ where: { serverId_version: { serverId: row.id, version: row.catalogVersion } } });
    const catalog = version?.catalog as Catalog | undefined;
    res.json({ id: row.id, mode: row.mode, tools: (catalog?.tools ?? []).map((t) => t.tool), externalMcpConfigs: [] });
  });

  return r;
}

/** Re-publishes every live catalog and active key (Redis may have restarted empty, as in the embedded default). */
export async function republishAll(db: Db, publisher: RuntimePublisher): Promise<{ catalogs: number; keys: number }> {
  const servers = await db.mcpServer.findMany({ where: { catalogVersion: { gt: 0 } } });
  let catalogs = 0;
  for (const s of servers) {
    const v = await db.catalogVersion.findUnique({ where: { serverId_version: { serverId: s.id, version: s.catalogVersion } } });
    if (v) {
      await publisher.publishCatalog(v.catalog as Catalog);
      catalogs++;
    }
  }
  const keys = await db.apiKey.findMany({ where: { revokedAt: null } });
  for (const k of keys) await publisher.publishApiKey(k.hash, { keyId: k.id, workspaceId: k.workspaceId, scopes: k.scopes, revoked: false });
  return { catalogs, keys: keys.length };
}
