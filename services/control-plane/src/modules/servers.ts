import { createHash } from 'node:crypto';
import type { Catalog, CatalogTool, ConnectorDescriptor, ListRemoteToolsResult } from '@toolplane/contracts';
import type { SecretsWriter } from '@toolplane/secrets';
import type { DataPlaneTaskClient } from '@toolplane/queue';
import type { Redis } from 'ioredis';
import { NotFoundError, UserError, ValidationError } from '@toolplane/errors';
import { compileDescriptorTools } from '@toolplane/openapi';
import { Router } from 'express';
import { z } from 'zod';
import type { Db, Tx } from '../db/client.ts';
import { caller } from '../http/auth.ts';
import { jsonBody } from '../http/body.ts';
import type { RuntimePublisher } from '../publisher.ts';
import { credentialSecretName, userCredentialSecretName } from './connector-instances.ts';
import { apiKeyRecord } from './api-keys.ts';
import { withWorkflowTools } from './deployments.ts';
import { isUuid } from './ids.ts';
import { compileConnectorTools, type StoredOpenApiConnector } from './openapi-connectors.ts';

/** CreateMcpServerDto (seed 002), plus `connectorInstanceId`: the tool source of this first version. */
const CreateServerBody = z.object({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,99}$/, 'must be a slug: lower-case letters, digits, - and _ (1-100 chars)'),
  description: z.string().max(1000).optional(),
  mode: z.enum(['SMART', 'NORMAL']).default('SMART'),
  selectedTools: z.array(z.string().min(1)).optional(),
  /** NORMAL: expose this instance's tools (narrowed by selectedTools); omit to pick workspace tools by name. */
  connectorInstanceId: z.string().min(1).optional(),
  config: z.record(z.string(), z.unknown()).optional(),
  isPublic: z.boolean().default(false),
  /** Seed 002: external MCP servers whose tools are merged in (`tools` empty = all of them). */
  externalMcpConfigs: z
    .array(
      z.object({
        name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,49}$/, 'must be a slug (lower-case letters, digits, - and _)'),
        url: z
          .string()
          .url()
          .refine((u) => /^https?:/i.test(u), 'must be an http(s) URL'),
        headers: z.record(z.string(), z.string()).default({}),
        tools: z.array(z.string().min(1)).default([]),
      }),
    )
    .max(20)
    .refine((list) => new Set(list.map((c) => c.name)).size === list.length, 'names must be unique')
    .optional(),
});

/** What is stored of an external MCP config: header names only; the values are a secret. */
export interface StoredExternalConfig {
  name: string;
  url: string;
  tools: string[];
  headerNames: string[];
  headersSecret?: string;
}

export type ExternalLister = (cfg: StoredExternalConfig) => Promise<ListRemoteToolsResult>;

/** Lists an external server's tools through the worker (the control plane has no egress). */
export function externalListerFor(tasks: DataPlaneTaskClient, timeoutMs = 10_000): ExternalLister {
  return (cfg) =>
    tasks.listRemoteTools({
      v: 1,
      taskId: crypto.randomUUID(),
      kind: 'mcp.list_tools',
      url: cfg.url,
      headers: {},
      ...(cfg.headersSecret ? { headersSecret: cfg.headersSecret } : {}),
      deadlineAt: Date.now() + timeoutMs,
      replyTo: tasks.clientId,
    });
}

/** Seals header values and returns what goes in the database. */
async function storeExternalConfigs(
  secrets: SecretsWriter,
  workspaceId: string,
  serverId: string,
  configs: NonNullable<z.infer<typeof CreateServerBody>['externalMcpConfigs']>,
): Promise<StoredExternalConfig[]> {
  const stored: StoredExternalConfig[] = [];
  for (const c of configs) {
    const headerNames = Object.keys(c.headers);
    let headersSecret: string | undefined;
    if (headerNames.length > 0) {
      headersSecret = `ws/${workspaceId}/servers/${serverId}/external/${c.name}/headers`;
      await secrets.put(headersSecret, JSON.stringify(c.headers));
    }
    stored.push({ name: c.name, url: c.url, tools: c.tools, headerNames, ...(headersSecret ? { headersSecret } : {}) });
  }
  return stored;
}

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

export type ServerRow = {
  id: string;
  workspaceId: string;
  name: string;
  description: string | null;
  mode: 'SMART' | 'NORMAL';
  connectorInstanceId: string | null;
  selectedTools: string[];
  isPublic: boolean;
  config: unknown;
  externalMcpConfigs: unknown;
  catalogVersion: number;
  createdAt: Date;
  updatedAt: Date;
};

type InstanceWithConnector = {
  id: string;
  name: string;
  baseUrl: string | null;
  credentialKeys: string[];
  connector: { slug: string; kind: string; descriptor: unknown; document: unknown };
};

function instanceTools(workspaceId: string, instance: InstanceWithConnector): CatalogTool[] {
  const secretNames = Object.fromEntries(
    instance.credentialKeys.map((k) => [k, credentialSecretName(workspaceId, instance.id, k)]),
  );
  const binding = {
    baseUrl: instance.baseUrl ?? undefined,
    secretNames,
    rateLimitOwner: `connector-instance:${instance.id}`,
  };
  const tools =
    instance.connector.kind === 'openapi'
      ? compileConnectorTools(
          instance.connector.descriptor as StoredOpenApiConnector,
          instance.connector.document as Record<string, unknown>,
          binding,
        )
      : compileDescriptorTools(instance.connector.descriptor as ConnectorDescriptor, binding);
  return tools.map((t) => ({
    ...t,
    plan: {
      ...t.plan,
      userSecrets: Object.fromEntries(
        Object.keys(t.plan.secrets).map((field) => [
          field,
          userCredentialSecretName(workspaceId, '{user}', instance.id, field),
        ]),
      ),
    },
    source: { connector: instance.connector.slug, instance: instance.name },
  }));
}

/**
 * Every tool of the workspace (all connector instances), with unique names: a name used by more
 * than one instance gets the instance name appended (`get_ticket__eu`) on all but the first.
 */
async function workspaceTools(tx: Tx, workspaceId: string): Promise<CatalogTool[]> {
  const instances = await tx.connectorInstance.findMany({
    where: { workspaceId },
    include: { connector: true },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
  });
  const seen = new Set<string>();
  const out: CatalogTool[] = [];
  for (const instance of instances) {
    for (const t of instanceTools(workspaceId, instance)) {
      let name = t.tool.name;
      if (seen.has(name)) name = `${name}__${instance.name.replace(/[^A-Za-z0-9_-]/g, '_')}`.slice(0, 128);
      seen.add(name);
      out.push({ ...t, tool: { ...t.tool, name } });
    }
  }
  return out;
}

/**
 * Compiles a server's immutable catalog:
 * - NORMAL with a connector instance: its tools, narrowed to `selectedTools` when given;
 * - NORMAL without one: exactly `selectedTools`, looked up among all the workspace's tools;
 * - SMART: all the workspace's tools, searched and executed through meta tools on the edge.
 */
export async function compileCatalog(
  tx: Tx,
  server: ServerRow,
  version: number,
  listExternal: ExternalLister,
  opts: { lenientSelection?: boolean } = {},
): Promise<Catalog> {
  const own = await compileOwnTools(tx, server, version, opts);
  // Tools of the server's active workflow deployment (Flower / Arazzo, issue #4).
  const withWorkflows = await withWorkflowTools(tx, own, server.config);
  return mergeExternalTools(withWorkflows, (server.externalMcpConfigs ?? []) as StoredExternalConfig[], listExternal);
}

async function compileOwnTools(
  tx: Tx,
  server: ServerRow,
  version: number,
  opts: { lenientSelection?: boolean },
): Promise<Catalog> {
  const base = {
    v: 1 as const,
    serverId: server.id,
    workspaceId: server.workspaceId,
    version,
    name: server.name,
    ...(server.description ? { description: server.description } : {}),
    isPublic: server.isPublic,
    mode: server.mode,
  };
  if (server.mode === 'SMART') return { ...base, tools: await workspaceTools(tx, server.workspaceId) };
  let tools: CatalogTool[];
  let from: string;
  if (server.connectorInstanceId) {
    const instance = await tx.connectorInstance.findUnique({
      where: { id: server.connectorInstanceId },
      include: { connector: true },
    });
    // A server whose connector instance was deleted keeps existing with no tools.
    if (!instance) return { ...base, tools: [] };
    tools = instanceTools(server.workspaceId, instance);
    from = `connector ${instance.connector.slug}`;
  } else {
    tools = await workspaceTools(tx, server.workspaceId);
    from = 'this workspace';
  }
  if (server.selectedTools.length > 0) {
    const missing = server.selectedTools.filter((name) => !tools.some((t) => t.tool.name === name));
    // On recompilation (descriptor changed), selected tools that no longer exist are dropped, not fatal.
    if (missing.length > 0 && !opts.lenientSelection) {
      throw new ValidationError(
        'selectedTools names unknown tools',
        missing.map((name) => ({
          path: `/selectedTools/${server.selectedTools.indexOf(name)}`,
          message: `no tool "${name}" in ${from}`,
        })),
      );
    }
    tools = server.selectedTools
      .map((name) => tools.find((t) => t.tool.name === name))
      .filter((t): t is CatalogTool => t !== undefined);
  } else if (!server.connectorInstanceId) {
    tools = [];
  }
  return { ...base, tools };
}

/**
 * Adds the tools of external MCP servers: listed by the worker, filtered by the config's `tools`,
 * prefixed `<name>__` when a name is already taken. A server that cannot be listed is reported in
 * `warnings` and left out; it never fails the catalog.
 */
async function mergeExternalTools(
  catalog: Catalog,
  configs: StoredExternalConfig[],
  listExternal: ExternalLister,
): Promise<Catalog> {
  if (configs.length === 0) return catalog;
  const tools = [...catalog.tools];
  const warnings = [...(catalog.warnings ?? [])];
  const taken = new Set(tools.map((t) => t.tool.name));
  const listed = await Promise.all(
    configs.map((c) =>
      listExternal(c).catch((err: unknown) => ({ ok: false as const, error: String(err), tools: [] })),
    ),
  );
  configs.forEach((cfg, i) => {
    const result = listed[i]!;
    if (!result.ok) {
      warnings.push(`external MCP server "${cfg.name}" could not be listed: ${result.error ?? 'unknown error'}`);
      return;
    }
    for (const remote of result.tools as {
      name?: unknown;
      description?: unknown;
      title?: unknown;
      inputSchema?: unknown;
      annotations?: unknown;
    }[]) {
      if (typeof remote.name !== 'string') continue;
      if (cfg.tools.length > 0 && !cfg.tools.includes(remote.name)) continue;
      let name = remote.name;
      if (taken.has(name)) name = `${cfg.name}__${remote.name}`.slice(0, 128);
      taken.add(name);
      const inputSchema =
        remote.inputSchema && typeof remote.inputSchema === 'object'
          ? (remote.inputSchema as Record<string, unknown>)
          : { type: 'object' };
      tools.push({
        tool: {
          name,
          description: typeof remote.description === 'string' ? remote.description : '',
          ...(typeof remote.title === 'string' ? { title: remote.title } : {}),
          inputSchema: inputSchema.type === 'object' ? inputSchema : { type: 'object' },
        },
        plan: {
          kind: 'mcp',
          server: cfg.name,
          url: cfg.url,
          remoteTool: remote.name,
          ...(cfg.headersSecret ? { headersSecret: cfg.headersSecret } : {}),
        },
        source: { connector: `mcp:${cfg.name}`, instance: cfg.name },
      });
    }
  });
  return { ...catalog, tools, ...(warnings.length > 0 ? { warnings } : {}) };
}

/**
 * Compiles and publishes a new catalog version for every server matching `where` (after a
 * credential, base URL or descriptor change). Each server's new version is stored and published in
 * one transaction, so edges and workers never see a version the database does not have.
 */
export async function recompileServers(
  db: Db,
  publisher: RuntimePublisher,
  listExternal: ExternalLister,
  where: { connectorInstanceId?: string | { in: string[] }; id?: string | { in: string[] } },
  workspaceId?: string,
): Promise<number> {
  // Servers drawing on the whole workspace (SMART, or NORMAL picking by name) follow every change in it.
  const servers = (await db.mcpServer.findMany({
    where: workspaceId
      ? { OR: [where, { workspaceId, mode: 'SMART' }, { workspaceId, connectorInstanceId: null }] }
      : where,
  })) as ServerRow[];
  for (const s of servers) {
    await db.$transaction(async (tx) => {
      const current = (await tx.mcpServer.findUnique({ where: { id: s.id } })) as ServerRow | null;
      if (!current) return;
      const version = current.catalogVersion + 1;
      const catalog = await compileCatalog(tx, current, version, listExternal, { lenientSelection: true });
      await tx.catalogVersion.create({ data: { serverId: current.id, version, catalog: catalog as object } });
      await tx.mcpServer.update({ where: { id: current.id }, data: { catalogVersion: version } });
      await publisher.publishCatalog(catalog);
    });
  }
  return servers.length;
}

const LoadToolsBody = z.object({
  url: z
    .string()
    .url()
    .refine((u) => /^https?:/i.test(u), 'must be an http(s) URL'),
  headers: z.record(z.string(), z.string()).default({}),
  /** How long the list is reused for the same URL and headers; 0 always fetches. */
  cacheMinutes: z.number().int().min(0).max(1440).default(5),
});

export interface RemoteToolsDeps {
  tasks: DataPlaneTaskClient;
  redis: Redis;
  prefix: string;
}

export function serversRouter(
  db: Db,
  publisher: RuntimePublisher,
  secrets: SecretsWriter,
  publicEdgeUrl: string,
  maxBodyBytes: number,
  remote: RemoteToolsDeps,
): Router {
  const listExternal = externalListerFor(remote.tasks);
  const r = Router();
  r.use(jsonBody(maxBodyBytes));
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
    externalMcpConfigs: ((row.externalMcpConfigs ?? []) as StoredExternalConfig[]).map(
      ({ name, url, tools, headerNames }) => ({ name, url, tools, headerNames }),
    ),
    ...(catalog
      ? { tools: catalog.tools.map((t) => t.tool.name), ...(catalog.warnings ? { warnings: catalog.warnings } : {}) }
      : {}),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  });

  // Seed 002: preview an external MCP server's tools without registering it. The worker connects
  // (the control plane has no egress); lists are cached by a hash of URL and headers (never the values).
  r.post('/load-tools-from-url', async (req, res) => {
    const body = LoadToolsBody.parse(req.body ?? {});
    const { workspaceId } = caller(req);
    const digest = createHash('sha256')
      .update(JSON.stringify([workspaceId, body.url, Object.entries(body.headers).sort()]))
      .digest('hex');
    const cacheKey = `${remote.prefix}:remote-tools:${digest}`;
    if (body.cacheMinutes > 0) {
      const hit = await remote.redis.get(cacheKey);
      if (hit) return void res.json({ ...(JSON.parse(hit) as object), cached: true });
    }
    const result = await remote.tasks.listRemoteTools({
      v: 1,
      taskId: crypto.randomUUID(),
      kind: 'mcp.list_tools',
      url: body.url,
      headers: body.headers,
      deadlineAt: Date.now() + 30_000,
      replyTo: remote.tasks.clientId,
    });
    if (!result.ok)
      throw new UserError('upstream.unreachable', result.error ?? 'the MCP server could not be reached', {
        status: 502,
      });
    const payload = {
      url: body.url,
      transport: result.transport,
      tools: result.tools,
      fetchedAt: new Date().toISOString(),
    };
    if (body.cacheMinutes > 0) await remote.redis.set(cacheKey, JSON.stringify(payload), 'EX', body.cacheMinutes * 60);
    res.json({ ...payload, cached: false });
  });

  r.post('/', async (req, res) => {
    const body = CreateServerBody.parse(req.body ?? {});
    const { workspaceId } = caller(req);
    if (
      body.connectorInstanceId !== undefined &&
      (!isUuid(body.connectorInstanceId) ||
        !(await db.connectorInstance.findFirst({ where: { id: body.connectorInstanceId, workspaceId } })))
    ) {
      throw new ValidationError('the MCP server is invalid', [
        {
          path: '/connectorInstanceId',
          message: `no connector instance ${body.connectorInstanceId} in this workspace`,
        },
      ]);
    }
    // A NORMAL server with no tool source yet gets its tools from a workflow deployment (POST /mcp_servers/{id}/deploy).
    if (await db.mcpServer.findUnique({ where: { workspaceId_name: { workspaceId, name: body.name } } })) {
      throw new ValidationError(
        'the MCP server is invalid',
        [{ path: '/name', message: `a server named "${body.name}" already exists` }],
        'resource.conflict',
        409,
      );
    }
    const id = crypto.randomUUID();
    const external = await storeExternalConfigs(secrets, workspaceId, id, body.externalMcpConfigs ?? []);
    // Server row, catalog version and Redis publication succeed or fail together.
    const { server, catalog } = await db.$transaction(async (tx) => {
      const created = (await tx.mcpServer.create({
        data: {
          id,
          externalMcpConfigs: external as object[],
          workspaceId,
          name: body.name,
          description: body.description ?? null,
          mode: body.mode,
          connectorInstanceId: body.connectorInstanceId ?? null,
          selectedTools: body.selectedTools ?? [],
          isPublic: body.isPublic,
          config: (body.config ?? undefined) as object | undefined,
          catalogVersion: 1,
        },
      })) as ServerRow;
      const compiled = await compileCatalog(tx, created, 1, listExternal);
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
      pagination: {
        ...(q.cursor ? {} : { page: q.page }),
        limit: q.limit,
        total,
        nextCursor: more ? page.at(-1)!.id : null,
      },
    });
  });

  r.patch('/:id', async (req, res) => {
    const body = UpdateServerBody.parse(req.body ?? {});
    const { workspaceId } = caller(req);
    const row = isUuid(req.params.id)
      ? ((await db.mcpServer.findFirst({ where: { id: req.params.id, workspaceId } })) as ServerRow | null)
      : null;
    if (!row) throw new NotFoundError('MCP server', req.params.id);
    if (
      body.connectorInstanceId &&
      (!isUuid(body.connectorInstanceId) ||
        !(await db.connectorInstance.findFirst({ where: { id: body.connectorInstanceId, workspaceId } })))
    ) {
      throw new ValidationError('the MCP server update is invalid', [
        {
          path: '/connectorInstanceId',
          message: `no connector instance ${body.connectorInstanceId} in this workspace`,
        },
      ]);
    }
    if (
      body.name &&
      body.name !== row.name &&
      (await db.mcpServer.findUnique({ where: { workspaceId_name: { workspaceId, name: body.name } } }))
    ) {
      throw new ValidationError(
        'the MCP server update is invalid',
        [{ path: '/name', message: `a server named "${body.name}" already exists` }],
        'resource.conflict',
        409,
      );
    }
    const external = body.externalMcpConfigs
      ? await storeExternalConfigs(secrets, workspaceId, row.id, body.externalMcpConfigs)
      : undefined;
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
          ...(external !== undefined ? { externalMcpConfigs: external as object[] } : {}),
          catalogVersion: row.catalogVersion + 1,
        },
      })) as ServerRow;
      const compiled = await compileCatalog(tx, updated, updated.catalogVersion, listExternal);
      await tx.catalogVersion.create({
        data: { serverId: updated.id, version: updated.catalogVersion, catalog: compiled as object },
      });
      await publisher.publishCatalog(compiled);
      return { server: updated, catalog: compiled };
    });
    res.json(present(server, catalog));
  });

  r.delete('/:id', async (req, res) => {
    const { workspaceId } = caller(req);
    const row = isUuid(req.params.id)
      ? await db.mcpServer.findFirst({ where: { id: req.params.id, workspaceId } })
      : null;
    if (!row) throw new NotFoundError('MCP server', req.params.id);
    await db.$transaction(async (tx) => {
      await tx.mcpServer.delete({ where: { id: row.id } });
      await publisher.removeCatalog(row.id);
    });
    res.status(204).end();
  });

  r.get('/:id', async (req, res) => {
    const row = isUuid(req.params.id)
      ? ((await db.mcpServer.findFirst({
          where: { id: req.params.id, workspaceId: caller(req).workspaceId },
        })) as ServerRow | null)
      : null;
    if (!row) throw new NotFoundError('MCP server', req.params.id);
    res.json(present(row));
  });

  r.get('/:id/config', async (req, res) => {
    const row = isUuid(req.params.id)
      ? ((await db.mcpServer.findFirst({
          where: { id: req.params.id, workspaceId: caller(req).workspaceId },
        })) as ServerRow | null)
      : null;
    if (!row) throw new NotFoundError('MCP server', req.params.id);
    const version = await db.catalogVersion.findUnique({
      where: { serverId_version: { serverId: row.id, version: row.catalogVersion } },
    });
    const catalog = version?.catalog as Catalog | undefined;
    res.json({
      id: row.id,
      mode: row.mode,
      tools: (catalog?.tools ?? []).map((t) => t.tool),
      externalMcpConfigs: ((row.externalMcpConfigs ?? []) as StoredExternalConfig[]).map(
        ({ name, url, tools, headerNames }) => ({ name, url, tools, headerNames }),
      ),
      ...(catalog?.warnings ? { warnings: catalog.warnings } : {}),
    });
  });

  return r;
}

/** Re-publishes every live catalog and active key (Redis may have restarted empty, as in the embedded default). */
export async function republishAll(db: Db, publisher: RuntimePublisher): Promise<{ catalogs: number; keys: number }> {
  const servers = await db.mcpServer.findMany({ where: { catalogVersion: { gt: 0 } } });
  let catalogs = 0;
  for (const s of servers) {
    const v = await db.catalogVersion.findUnique({
      where: { serverId_version: { serverId: s.id, version: s.catalogVersion } },
    });
    if (v) {
      await publisher.publishCatalog(v.catalog as Catalog);
      catalogs++;
    }
  }
  const keys = await db.apiKey.findMany({ where: { revokedAt: null } });
  for (const k of keys) await publisher.publishApiKey(k.hash, apiKeyRecord(k));
  return { catalogs, keys: keys.length };
}
