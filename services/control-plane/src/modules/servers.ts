import { createHash, randomBytes } from 'node:crypto';
import { HttpUrl, smartMetaTools, type Catalog } from '@toolplane/contracts';
import type { SecretsWriter } from '@toolplane/secrets';
import type { DataPlaneTaskClient } from '@toolplane/queue';
import type { Redis } from 'ioredis';
import { AuthError, NotFoundError, UserError, ValidationError } from '@toolplane/errors';
import type { Request, Router } from 'express';
import { z } from 'zod';
import {
  registeredConfig,
  registeredExternalConfigs,
  type ServerRow,
  type StoredExternalConfig,
} from '../catalog/compile.ts';
import { externalHeadersSecretName } from '../catalog/secret-names.ts';
import { isUniqueViolation, type CatalogService } from '../catalog/service.ts';
import type { Db, Tx } from '../db/client.ts';
import { caller } from '../http/auth.ts';
import { jsonBody } from '../http/body.ts';
import { externalServerName } from './external-mcp-servers.ts';
import { isUuid } from './ids.ts';
import { apiRouter } from '../http/route-access.ts';

/** CreateMcpServerDto, plus `connectorInstanceId`: the tool source of this first version. */
export const CreateServerBody = z
  .object({
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
    /**
     * Callers may pass their own upstream credential with a call (the `X-Upstream-Authorization` header), used
     * for that call instead of the stored credentials of connector and OpenAPI tools; off: the header is refused.
     */
    perRequestAuth: z.boolean().default(false),
    /** External MCP servers whose tools are merged in (`tools` empty = all of them). */
    externalMcpConfigs: z
      .array(
        z
          .object({
            name: z
              .string()
              .regex(/^[a-z0-9][a-z0-9_-]{0,49}$/, 'must be a slug (lower-case letters, digits, - and _)'),
            url: HttpUrl,
            headers: z.record(z.string(), z.string()).default({}),
            tools: z.array(z.string().min(1)).default([]),
          })
          .strict(),
      )
      .max(20)
      .refine((list) => new Set(list.map((c) => c.name)).size === list.length, 'names must be unique')
      .optional(),
    /**
     * External MCP servers registered on the workspace (`/external_mcp_servers`), by name, and which of their
     * tools to take (`tools` empty = all). A change of a registered server reaches every server using it.
     */
    externalMcpServers: z
      .array(z.object({ name: externalServerName, tools: z.array(z.string().min(1)).default([]) }).strict())
      .max(20)
      .refine((list) => new Set(list.map((c) => c.name)).size === list.length, 'names must be unique')
      .optional(),
  })
  .strict();

type RegistryRefs = NonNullable<z.infer<typeof CreateServerBody>['externalMcpServers']>;

/**
 * The registered external MCP servers a body names, as configs; a 422 naming each unknown one and each
 * whose name one of the server's own `externalMcpConfigs` already uses (`inline`).
 */
async function registeredFor(
  db: Db,
  workspaceId: string,
  refs: RegistryRefs,
  inline: readonly { name: string }[],
  conflictPath: 'externalMcpServers' | 'externalMcpConfigs',
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
async function setRegisteredRefs(tx: Tx, serverId: string, configs: StoredExternalConfig[]): Promise<void> {
  await tx.mcpServerExternalServer.deleteMany({ where: { serverId } });
  if (configs.length > 0)
    await tx.mcpServerExternalServer.createMany({
      data: configs.map((c, position) => ({ serverId, externalServerId: c.registryId!, tools: c.tools, position })),
    });
}

/** What the API shows of a registered external MCP server a server uses (header names only). */
const presentRegistered = (configs: StoredExternalConfig[]) =>
  configs.map(({ registryId, name, url, tools, headerNames }) => ({ id: registryId!, name, url, tools, headerNames }));

/** Seals header values under new names (the old ones stay valid until the change commits); returns what goes in the database. */
async function storeExternalConfigs(
  secrets: SecretsWriter,
  workspaceId: string,
  serverId: string,
  configs: NonNullable<z.infer<typeof CreateServerBody>['externalMcpConfigs']>,
): Promise<{ stored: StoredExternalConfig[]; written: string[] }> {
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

const headerSecretsOf = (configs: unknown): string[] =>
  ((configs ?? []) as StoredExternalConfig[]).flatMap((c) => (c.headersSecret ? [c.headersSecret] : []));

/**
 * The tools of external MCP servers an update removes (from the live catalog): their names stay
 * reserved, so a remaining external server's tool of the same name keeps its prefixed name.
 */
async function removedExternalTools(
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

/** A server of the caller's workspace by id or by name (404 otherwise). */
export async function findServer(db: Db, workspaceId: string, idOrName: string): Promise<ServerRow> {
  const row = (await db.mcpServer.findFirst({
    where: isUuid(idOrName) ? { id: idOrName, workspaceId } : { name: idOrName, workspaceId },
  })) as ServerRow | null;
  if (!row) throw new NotFoundError('MCP server', idOrName);
  return row;
}

async function liveCatalog(db: Db, row: ServerRow): Promise<Catalog | undefined> {
  const version = await db.catalogVersion.findUnique({
    where: { serverId_version: { serverId: row.id, version: row.catalogVersion } },
  });
  return version?.catalog as Catalog | undefined;
}

const nameTaken = (name: string) =>
  new ValidationError(
    'the MCP server is invalid',
    [{ path: '/name', message: `a server named "${name}" already exists` }],
    'resource.conflict',
    409,
  );

export const UpdateServerBody = CreateServerBody.omit({
  connectorInstanceId: true,
  mode: true,
  isPublic: true,
  perRequestAuth: true,
})
  .partial()
  .extend({
    mode: z.enum(['SMART', 'NORMAL']).optional(),
    connectorInstanceId: z.string().min(1).optional(),
    isPublic: z.boolean().optional(),
    perRequestAuth: z.boolean().optional(),
    description: z.string().max(1000).nullable().optional(),
  })
  .strict();

export const ListQuery = z.object({
  page: z.coerce.number().int().min(1).default(1),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().uuid().optional(),
});

/** `GET /mcp_manager/{id}/catalog_versions`: newest first, `before` = a version number (the page after it). */
export const CatalogVersionsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  before: z.coerce.number().int().min(1).optional(),
});

const toolNames = (catalog: unknown): string[] => ((catalog as Catalog | null)?.tools ?? []).map((t) => t.tool.name);

export const LoadToolsBody = z
  .object({
    url: HttpUrl,
    headers: z.record(z.string(), z.string()).default({}),
    /** How long the list is reused for the same URL and headers; 0 always fetches. */
    cacheMinutes: z.number().int().min(0).max(1440).default(5),
  })
  .strict();

export interface RemoteToolsDeps {
  tasks: DataPlaneTaskClient;
  redis: Redis;
  prefix: string;
}

/**
 * Fields of `PATCH /mcp_manager/{id}` that change what a server exposes or who may call it: a key limited to
 * servers could otherwise widen its own server (another connector instance, SMART mode over the workspace's
 * tools, external servers, a public URL for anonymous callers). They need a key without a server restriction, or
 * the `server_admin` scope, as deploying a workflow does (`x-server-limited-keys: server_admin`).
 */
const exposureFields = [
  'mode',
  'isPublic',
  'perRequestAuth',
  'connectorInstanceId',
  'selectedTools',
  'externalMcpConfigs',
  'externalMcpServers',
  'config',
] as const;

/** Refuses (403), before the body is validated, a limited key's change of what its server exposes. */
function refuseExposureChange(req: Request): void {
  const { serverIds, scopes } = caller(req);
  if (!serverIds || scopes.includes('server_admin')) return;
  const body: unknown = req.body;
  const fields =
    typeof body === 'object' && body !== null
      ? exposureFields.filter((f) => (body as Record<string, unknown>)[f] !== undefined)
      : [];
  if (fields.length > 0)
    throw new AuthError(
      'auth.forbidden',
      `this API key is limited to servers ${serverIds.join(', ')}: changing ${fields.join(', ')} (what the server ` +
        'exposes or who may call it) needs a key without a server restriction or with the "server_admin" scope',
    );
}

export function serversRouter(
  db: Db,
  catalog: CatalogService,
  secrets: SecretsWriter,
  publicEdgeUrl: string,
  maxBodyBytes: number,
  remote: RemoteToolsDeps,
): Router {
  const r = apiRouter();
  r.use(jsonBody(maxBodyBytes));
  const present = (row: ServerRow, live?: Catalog, registered: StoredExternalConfig[] = []) => ({
    id: row.id,
    name: row.name,
    description: row.description,
    mode: row.mode,
    selectedTools: row.selectedTools,
    connectorInstanceId: row.connectorInstanceId,
    isPublic: row.isPublic,
    perRequestAuth: row.perRequestAuth ?? false,
    config: row.config ?? null,
    catalogVersion: row.catalogVersion,
    fromDescriptor: row.fromDescriptor ?? false,
    url: `${publicEdgeUrl.replace(/\/+$/, '')}/mcp/${row.id}`,
    externalMcpConfigs: ((row.externalMcpConfigs ?? []) as StoredExternalConfig[]).map(
      ({ name, url, tools, headerNames }) => ({ name, url, tools, headerNames }),
    ),
    externalMcpServers: presentRegistered(registered),
    ...(live
      ? { tools: live.tools.map((t) => t.tool.name), ...(live.warnings ? { warnings: live.warnings } : {}) }
      : {}),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  });

  // Preview an external MCP server's tools without registering it. The worker connects
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
    if (await db.mcpServer.findUnique({ where: { workspaceId_name: { workspaceId, name: body.name } } }))
      throw nameTaken(body.name);
    const registered = await registeredFor(
      db,
      workspaceId,
      body.externalMcpServers ?? [],
      body.externalMcpConfigs ?? [],
      'externalMcpServers',
    );
    const id = crypto.randomUUID();
    const external = await storeExternalConfigs(secrets, workspaceId, id, body.externalMcpConfigs ?? []);
    const { result: server, catalogs } = await catalog.change(
      {},
      async (tx) => {
        try {
          await tx.mcpServer.create({
            data: {
              id,
              externalMcpConfigs: external.stored as object[],
              workspaceId,
              name: body.name,
              description: body.description ?? null,
              mode: body.mode,
              connectorInstanceId: body.connectorInstanceId ?? null,
              selectedTools: body.selectedTools ?? [],
              isPublic: body.isPublic,
              perRequestAuth: body.perRequestAuth,
              config: (body.config ?? undefined) as object | undefined,
            },
          });
        } catch (err) {
          if (isUniqueViolation(err)) throw nameTaken(body.name);
          throw err;
        }
        await setRegisteredRefs(tx, id, registered);
        return { result: id, serverIds: [id], strictServerIds: [id] };
      },
      { external: [...external.stored, ...registered], cleanupOnFailure: external.written },
    );
    const row = (await db.mcpServer.findUniqueOrThrow({ where: { id: server } })) as ServerRow;
    res.status(201).json(present(row, catalogs.get(server), registered));
  });

  // Page-based (`page`, `limit`) or cursor-based (`cursor` = the last id seen, `limit`) listing. A key
  // limited to servers counts and pages through those servers only.
  r.get('/', async (req, res) => {
    const q = ListQuery.parse(req.query);
    const { workspaceId, serverIds } = caller(req);
    const where = { workspaceId, ...(serverIds ? { id: { in: serverIds } } : {}) };
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
    const registered = await registeredExternalConfigs(
      db,
      page.map((row) => row.id),
    );
    res.json({
      data: page.map((row) => present(row, undefined, registered.get(row.id))),
      pagination: {
        ...(q.cursor ? {} : { page: q.page }),
        limit: q.limit,
        total,
        nextCursor: more ? page.at(-1)!.id : null,
      },
    });
  });

  r.patch('/:id', async (req, res) => {
    refuseExposureChange(req);
    const body = UpdateServerBody.parse(req.body ?? {});
    const { workspaceId } = caller(req);
    const row = await findServer(db, workspaceId, req.params.id);
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
    )
      throw nameTaken(body.name);
    // Registered external MCP servers: names and tools only (their headers are the registry's). Their names
    // must differ from the server's own external configs, as those will be after this update.
    const inlineNames = body.externalMcpConfigs ?? ((row.externalMcpConfigs ?? []) as StoredExternalConfig[]);
    const currentRegistered = (await registeredExternalConfigs(db, [row.id])).get(row.id) ?? [];
    const registered =
      body.externalMcpServers !== undefined
        ? await registeredFor(db, workspaceId, body.externalMcpServers, inlineNames, 'externalMcpServers')
        : body.externalMcpConfigs !== undefined
          ? await registeredFor(
              db,
              workspaceId,
              currentRegistered.map((c) => ({ name: c.name, tools: c.tools })),
              inlineNames,
              'externalMcpConfigs',
            )
          : undefined;
    const external = body.externalMcpConfigs
      ? await storeExternalConfigs(secrets, workspaceId, row.id, body.externalMcpConfigs)
      : undefined;
    // Choosing the tool source again clears the warnings about a deleted one.
    const rebound =
      body.connectorInstanceId !== undefined || body.selectedTools !== undefined || body.mode !== undefined;
    // The update and the new catalog version succeed or fail together (an unknown selected tool rolls both back).
    // The server is named as affected so that its external MCP servers are listed again (an update that
    // leaves `externalMcpConfigs` alone keeps their tools).
    const { catalogs } = await catalog.change(
      { serverIds: [row.id] },
      async (tx) => {
        const before = (await tx.mcpServer.findUniqueOrThrow({ where: { id: row.id } })) as ServerRow;
        const beforeInline = (before.externalMcpConfigs ?? []) as StoredExternalConfig[];
        const beforeRegistered = (await registeredExternalConfigs(tx, [row.id])).get(row.id) ?? [];
        const removed =
          external || body.externalMcpServers !== undefined
            ? await removedExternalTools(
                tx,
                before,
                [...beforeInline, ...beforeRegistered],
                [...(external?.stored ?? beforeInline), ...(registered ?? beforeRegistered)],
              )
            : undefined;
        if (body.externalMcpServers !== undefined) await setRegisteredRefs(tx, row.id, registered ?? []);
        // Choosing the source again frees the names of deleted sources; removed external servers reserve theirs.
        const reserved = [...(rebound ? [] : (before.reservedToolNames ?? [])), ...(removed?.names ?? [])];
        const warnings = [...(rebound ? [] : (before.bindingWarnings ?? [])), ...(removed?.warnings ?? [])];
        try {
          await tx.mcpServer.update({
            where: { id: row.id },
            data: {
              ...(body.name !== undefined ? { name: body.name } : {}),
              ...(body.description !== undefined ? { description: body.description } : {}),
              ...(body.mode !== undefined ? { mode: body.mode } : {}),
              ...(body.selectedTools !== undefined ? { selectedTools: body.selectedTools } : {}),
              ...(body.connectorInstanceId !== undefined ? { connectorInstanceId: body.connectorInstanceId } : {}),
              ...(body.isPublic !== undefined ? { isPublic: body.isPublic } : {}),
              ...(body.perRequestAuth !== undefined ? { perRequestAuth: body.perRequestAuth } : {}),
              ...(body.config !== undefined ? { config: body.config as object } : {}),
              ...(external !== undefined ? { externalMcpConfigs: external.stored as object[] } : {}),
              ...(rebound || removed ? { bindingWarnings: warnings, reservedToolNames: [...new Set(reserved)] } : {}),
            },
          });
        } catch (err) {
          if (isUniqueViolation(err) && body.name) throw nameTaken(body.name);
          throw err;
        }
        return {
          result: row.id,
          serverIds: [row.id],
          // Unknown names are an error when the selection or its source is being set; otherwise a warning.
          strictServerIds: rebound ? [row.id] : [],
          // Replaced external headers: their secrets go once the new configs are committed.
          deleteSecrets: external ? headerSecretsOf(before.externalMcpConfigs) : [],
        };
      },
      {
        ...(external ? { cleanupOnFailure: external.written } : {}),
        ...(external || body.externalMcpServers !== undefined
          ? { external: [...(external?.stored ?? []), ...(body.externalMcpServers !== undefined ? registered! : [])] }
          : {}),
      },
    );
    const updated = (await db.mcpServer.findUniqueOrThrow({ where: { id: row.id } })) as ServerRow;
    const now = (await registeredExternalConfigs(db, [row.id])).get(row.id) ?? [];
    res.json(present(updated, catalogs.get(row.id), now));
  });

  // The server, its catalog versions and deployments go in one transaction; its Redis catalog and its
  // secrets (workflow `$secrets`, external headers) after the commit.
  r.delete('/:id', async (req, res) => {
    const { workspaceId } = caller(req);
    const row = await findServer(db, workspaceId, req.params.id);
    await catalog.change({}, async (tx) => {
      await tx.mcpServer.delete({ where: { id: row.id } });
      return { result: row.id, removedServers: [{ id: row.id, workspaceId }] };
    });
    res.status(204).end();
  });

  r.get('/:id', async (req, res) => {
    const row = await findServer(db, caller(req).workspaceId, req.params.id);
    const registered = (await registeredExternalConfigs(db, [row.id])).get(row.id) ?? [];
    res.json(present(row, await liveCatalog(db, row), registered));
  });

  // The server's catalog versions, newest first, each with its tool names and what changed from the
  // version before it (one more row is read for the diff of the oldest of the page).
  r.get('/:id/catalog_versions', async (req, res) => {
    const q = CatalogVersionsQuery.parse(req.query);
    const row = await findServer(db, caller(req).workspaceId, req.params.id);
    const rows = await db.catalogVersion.findMany({
      where: { serverId: row.id, ...(q.before !== undefined ? { version: { lt: q.before } } : {}) },
      orderBy: { version: 'desc' },
      take: q.limit + 1,
      select: { version: true, createdAt: true, catalog: true },
    });
    const page = rows.slice(0, q.limit);
    res.json({
      data: page.map((v, i) => {
        const tools = toolNames(v.catalog);
        const previous = rows[i + 1];
        const before = previous ? new Set(toolNames(previous.catalog)) : new Set<string>();
        const now = new Set(tools);
        const warnings = (v.catalog as Catalog | null)?.warnings;
        return {
          version: v.version,
          createdAt: v.createdAt.toISOString(),
          live: v.version === row.catalogVersion,
          previousVersion: previous?.version ?? null,
          tools,
          added: tools.filter((t) => !before.has(t)),
          removed: [...before].filter((t) => !now.has(t)),
          ...(warnings && warnings.length > 0 ? { warnings } : {}),
        };
      }),
      nextBefore: rows.length > q.limit ? page.at(-1)!.version : null,
    });
  });

  // What an MCP client of this server sees: serverInfo, instructions and `tools/list` (SMART: the meta
  // tools); the searchable catalog of a SMART server under `catalog`.
  r.get('/:id/config', async (req, res) => {
    const row = await findServer(db, caller(req).workspaceId, req.params.id);
    const live = await liveCatalog(db, row);
    const own = (live?.tools ?? []).map((t) => t.tool);
    res.json({
      id: row.id,
      mode: row.mode,
      catalogVersion: row.catalogVersion,
      serverInfo: { name: live?.serverInfo?.name ?? live?.name ?? row.name },
      ...((live?.description ?? row.description) ? { instructions: live?.description ?? row.description } : {}),
      tools: row.mode === 'SMART' ? smartMetaTools : own,
      ...(row.mode === 'SMART' ? { catalog: { tools: own } } : {}),
      externalMcpConfigs: ((row.externalMcpConfigs ?? []) as StoredExternalConfig[]).map(
        ({ name, url, tools, headerNames }) => ({ name, url, tools, headerNames }),
      ),
      externalMcpServers: presentRegistered((await registeredExternalConfigs(db, [row.id])).get(row.id) ?? []),
      ...(live?.warnings ? { warnings: live.warnings } : {}),
    });
  });

  return r;
}
