import { createHash } from 'node:crypto';
import { smartMetaTools, type Catalog } from '@toolplane/contracts';
import { UserError, ValidationError } from '@toolplane/errors';
import { refuseIfWorkflowsUse } from '../../catalog/workflow-users.ts';
import { registeredExternalConfigs, type ServerRow } from '../../catalog/compile.ts';
import { isUniqueViolation } from '../../catalog/service.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import { refuseBadDataLabels } from '../../catalog/labels.ts';
import { refuseBadResultCache } from '../../catalog/result-cache.ts';
import { refuseBadResultShapes } from '../../catalog/result-shapes.ts';
import { refuseBadApprovals } from './approval-rule.ts';
import { registeredFor, setRegisteredRefs, storeExternalConfigs } from './external.ts';
import { findServer, liveCatalog, nameTaken, instanceProblem } from './lookup.ts';
import { presentExternalConfigs, presentRegistered, presentServer, toolNames } from './present.ts';
import { refuseBadRuleSettings } from './rule-settings.ts';
import type { CatalogVersionsQuery, CreateServerBody, ListQuery, LoadToolsBody, UpdateServerBody } from './schemas.ts';
import { publishServerIdentity } from './identity.ts';
import { refuseServerLoosening } from './exposure.ts';
import { changeServer, checkServerUpdate, registeredAfterUpdate } from './update.ts';

/**
 * `POST /mcp_manager/load-tools-from-url`: preview an external MCP server's tools without registering it. The worker
 * connects (the control plane has no egress); lists are cached by a hash of URL and headers (never the values).
 */
export async function loadToolsFromUrl(
  { redis, prefix, tasks }: ControlPlaneDeps,
  { body, caller: { workspaceId } }: Input<LoadToolsBody>,
) {
  const digest = createHash('sha256')
    .update(JSON.stringify([workspaceId, body.url, Object.entries(body.headers).sort()]))
    .digest('hex');
  const cacheKey = `${prefix}:remote-tools:${digest}`;
  if (body.cacheMinutes > 0) {
    const hit = await redis.get(cacheKey);
    if (hit) return { ...(JSON.parse(hit) as object), cached: true };
  }
  const result = await tasks.listRemoteTools({
    v: 1,
    taskId: crypto.randomUUID(),
    kind: 'mcp.list_tools',
    url: body.url,
    headers: body.headers,
    deadlineAt: Date.now() + 30_000,
    replyTo: tasks.clientId,
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
  if (body.cacheMinutes > 0) await redis.set(cacheKey, JSON.stringify(payload), 'EX', body.cacheMinutes * 60);
  return { ...payload, cached: false };
}

/**
 * `POST /mcp_manager`: a server and its first catalog version, in one change. A NORMAL server with no tool source
 * yet gets its tools from a workflow deployment (`POST /mcp_servers/{id}/deploy`).
 */
export async function createServer(
  { db, catalog, secrets, env, redis, prefix }: ControlPlaneDeps,
  { body, caller }: Input<CreateServerBody>,
) {
  const { workspaceId } = caller;
  refuseServerLoosening(caller, body);
  const instance = body.connectorInstanceId
    ? await instanceProblem(db, workspaceId, body.connectorInstanceId)
    : undefined;
  if (instance)
    throw new ValidationError('the MCP server is invalid', [{ path: '/connectorInstanceId', message: instance }]);
  if (await db.mcpServer.findUnique({ where: { workspaceId_name: { workspaceId, name: body.name } } }))
    throw nameTaken(body.name);
  await refuseBadApprovals(db, workspaceId, body);
  refuseBadResultShapes(body.config);
  refuseBadResultCache(body.config);
  refuseBadDataLabels(body.config);
  refuseBadRuleSettings(body.ruleSettings);
  const registered = await registeredFor(db, workspaceId, {
    refs: body.externalMcpServers ?? [],
    inline: body.externalMcpConfigs ?? [],
    conflictPath: 'externalMcpServers',
  });
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
            confirmTools: body.confirmTools ?? [],
            approvalTools: body.approvalTools ?? [],
            ...(body.approvalRule ? { approvalRule: body.approvalRule } : {}),
            ...(body.ruleSettings ? { ruleSettings: body.ruleSettings as object } : {}),
            isPublic: body.isPublic,
            perRequestAuth: body.perRequestAuth,
            codeMode: body.codeMode,
            config: (body.config ?? undefined) as object | undefined,
          },
        });
      } catch (err) {
        if (isUniqueViolation(err)) throw nameTaken(body.name);
        throw err;
      }
      await setRegisteredRefs(tx, id, registered);
      return {
        result: id,
        serverIds: [id],
        strictServerIds: [id],
        strictConfirmServerIds: [id],
        strictApprovalServerIds: [id],
        strictCacheServerIds: [id],
      };
    },
    { external: [...external.stored, ...registered], cleanupOnFailure: external.written },
  );
  const row = (await db.mcpServer.findUniqueOrThrow({ where: { id: server } })) as ServerRow;
  await publishServerIdentity(db, redis, prefix, row.id);
  return presentServer(env.PUBLIC_EDGE_URL, row, catalogs.get(server), registered);
}

/**
 * `GET /mcp_manager`: page-based (`page`, `limit`) or cursor-based (`cursor` = the last id seen, `limit`) listing. A
 * key limited to servers counts and pages through those servers only.
 */
export async function listServers({ db, env }: ControlPlaneDeps, { query: q, caller }: Input<undefined, ListQuery>) {
  const { workspaceId, serverIds } = caller;
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
  return {
    data: page.map((row) => presentServer(env.PUBLIC_EDGE_URL, row, undefined, registered.get(row.id))),
    pagination: {
      ...(q.cursor ? {} : { page: q.page }),
      limit: q.limit,
      total,
      nextCursor: more ? page.at(-1)!.id : null,
    },
  };
}

/**
 * `PATCH /mcp_manager/{id}`: changes a server and, in the same change, its catalog. A limited key's change of what
 * its server exposes is refused before the body is validated; new external headers are sealed before the change.
 */
export async function updateServer(
  { db, secrets, catalog, env, redis, prefix }: ControlPlaneDeps,
  { body, params, caller }: Input<UpdateServerBody>,
) {
  const { workspaceId } = caller;
  const row = await findServer(db, workspaceId, params.id!);
  refuseServerLoosening(caller, body, row);
  await checkServerUpdate(db, workspaceId, row, body);
  const registered = await registeredAfterUpdate(db, workspaceId, row, body);
  const external = body.externalMcpConfigs
    ? await storeExternalConfigs(secrets, workspaceId, row.id, body.externalMcpConfigs)
    : undefined;
  const catalogs = await changeServer(catalog, { row, body, registered, external });
  const updated = (await db.mcpServer.findUniqueOrThrow({ where: { id: row.id } })) as ServerRow;
  const now = (await registeredExternalConfigs(db, [row.id])).get(row.id) ?? [];
  await publishServerIdentity(db, redis, prefix, row.id);
  return presentServer(env.PUBLIC_EDGE_URL, updated, catalogs.get(row.id), now);
}

/**
 * `DELETE /mcp_manager/{id}`: the server, its catalog versions and deployments go in one transaction; its Redis
 * catalog and its secrets (workflow `$secrets`, external headers) after the commit. 409 while workflows deployed on
 * other servers call its tools as steps (ADR 0045).
 */
export async function deleteServer(
  { db, catalog, redis, prefix }: ControlPlaneDeps,
  { params, caller: { workspaceId } }: Input,
): Promise<void> {
  const row = await findServer(db, workspaceId, params.id!);
  await catalog.change({}, async (tx) => {
    await refuseIfWorkflowsUse(tx, workspaceId, [{ kind: 'mcp_server', id: row.id, name: row.name }], [row.id]);
    await tx.mcpServer.delete({ where: { id: row.id } });
    return { result: row.id, removedServers: [{ id: row.id, workspaceId }] };
  });
  await publishServerIdentity(db, redis, prefix, row.id);
}

/** `GET /mcp_manager/{id}`: the server with what its live catalog exposes. */
export async function getServer({ db, env }: ControlPlaneDeps, { params, caller }: Input) {
  const row = await findServer(db, caller.workspaceId, params.id!);
  const registered = (await registeredExternalConfigs(db, [row.id])).get(row.id) ?? [];
  return presentServer(env.PUBLIC_EDGE_URL, row, await liveCatalog(db, row), registered);
}

/**
 * `GET /mcp_manager/{id}/catalog_versions`: the server's catalog versions, newest first, each with its tool names
 * and what changed from the version before it (one more row is read for the diff of the oldest of the page).
 */
export async function listCatalogVersions(
  { db }: ControlPlaneDeps,
  { query: q, params, caller }: Input<undefined, CatalogVersionsQuery>,
) {
  const row = await findServer(db, caller.workspaceId, params.id!);
  const rows = await db.catalogVersion.findMany({
    where: { serverId: row.id, ...(q.before !== undefined ? { version: { lt: q.before } } : {}) },
    orderBy: { version: 'desc' },
    take: q.limit + 1,
    select: { version: true, createdAt: true, catalog: true },
  });
  const page = rows.slice(0, q.limit);
  return {
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
  };
}

/**
 * `GET /mcp_manager/{id}/config`: what an MCP client of this server sees: serverInfo, instructions and `tools/list`
 * (SMART: the meta tools); the searchable catalog of a SMART server under `catalog`.
 */
export async function getServerConfig({ db }: ControlPlaneDeps, { params, caller }: Input) {
  const row = await findServer(db, caller.workspaceId, params.id!);
  const live = await liveCatalog(db, row);
  const own = (live?.tools ?? []).map((t) => t.tool);
  return {
    id: row.id,
    mode: row.mode,
    catalogVersion: row.catalogVersion,
    serverInfo: { name: live?.serverInfo?.name ?? live?.name ?? row.name },
    ...((live?.description ?? row.description) ? { instructions: live?.description ?? row.description } : {}),
    tools: row.mode === 'SMART' ? smartMetaTools : own,
    ...(row.mode === 'SMART' ? { catalog: { tools: own } } : {}),
    externalMcpConfigs: presentExternalConfigs(row),
    externalMcpServers: presentRegistered((await registeredExternalConfigs(db, [row.id])).get(row.id) ?? []),
    ...(live?.warnings ? { warnings: live.warnings } : {}),
  };
}
