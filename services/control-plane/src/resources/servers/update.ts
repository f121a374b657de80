import type { Catalog } from '@toolplane/contracts';
import { Prisma } from '../../generated/prisma/client.ts';
import { ValidationError } from '@toolplane/errors';
import { registeredExternalConfigs, type ServerRow, type StoredExternalConfig } from '../../catalog/compile.ts';
import { isUniqueViolation, type CatalogService, type Written } from '../../catalog/service.ts';
import type { Db, Tx } from '../../db/client.ts';
import {
  headerSecretsOf,
  registeredFor,
  removedExternalTools,
  setRegisteredRefs,
  type SealedExternalConfigs,
} from './external.ts';
import { refuseBadDataLabels } from '../../catalog/labels.ts';
import { refuseBadResultCache } from '../../catalog/result-cache.ts';
import { refuseBadResultShapes } from '../../catalog/result-shapes.ts';
import { refuseBadApprovals } from './approval-rule.ts';
import { refuseBadRuleSettings } from './rule-settings.ts';
import { nameTaken, instanceProblem } from './lookup.ts';
import type { UpdateServer } from './schemas.ts';

/** What one `PATCH /mcp_manager/{id}` changes, gathered before its transaction. */
export interface ServerUpdate {
  /** The server as found before the update. */
  row: ServerRow;
  body: UpdateServer;
  /** The registered external MCP servers after the update (undefined: they stay as they are). */
  registered: StoredExternalConfig[] | undefined;
  /** The new inline external configs, their headers sealed (undefined: they stay as they are). */
  external: SealedExternalConfigs | undefined;
}

/** Refuses an update naming a connector instance the workspace lacks (422) or another server's name (409). */
export async function checkServerUpdate(db: Db, workspaceId: string, row: ServerRow, body: UpdateServer) {
  const instance = body.connectorInstanceId
    ? await instanceProblem(db, workspaceId, body.connectorInstanceId)
    : undefined;
  if (instance)
    throw new ValidationError('the MCP server update is invalid', [
      { path: '/connectorInstanceId', message: instance },
    ]);
  if (
    body.name &&
    body.name !== row.name &&
    (await db.mcpServer.findUnique({ where: { workspaceId_name: { workspaceId, name: body.name } } }))
  )
    throw nameTaken(body.name);
  await refuseBadApprovals(db, workspaceId, body, row);
  refuseBadResultShapes(body.config);
  refuseBadResultCache(body.config);
  refuseBadDataLabels(body.config);
  refuseBadRuleSettings(body.ruleSettings);
}

/**
 * Registered external MCP servers: names and tools only (their headers are the registry's). Their names
 * must differ from the server's own external configs, as those will be after this update. Undefined when the
 * update leaves both lists alone.
 */
export async function registeredAfterUpdate(
  db: Db,
  workspaceId: string,
  row: ServerRow,
  body: UpdateServer,
): Promise<StoredExternalConfig[] | undefined> {
  const inlineNames = body.externalMcpConfigs ?? ((row.externalMcpConfigs ?? []) as StoredExternalConfig[]);
  const currentRegistered = (await registeredExternalConfigs(db, [row.id])).get(row.id) ?? [];
  return body.externalMcpServers !== undefined
    ? registeredFor(db, workspaceId, {
        refs: body.externalMcpServers,
        inline: inlineNames,
        conflictPath: 'externalMcpServers',
      })
    : body.externalMcpConfigs !== undefined
      ? registeredFor(db, workspaceId, {
          refs: currentRegistered.map((c) => ({ name: c.name, tools: c.tools })),
          inline: inlineNames,
          conflictPath: 'externalMcpConfigs',
        })
      : undefined;
}

/** Choosing the tool source again clears the warnings about a deleted one. */
const rebinds = (body: UpdateServer) =>
  body.connectorInstanceId !== undefined || body.selectedTools !== undefined || body.mode !== undefined;

/**
 * The update and the new catalog version succeed or fail together (an unknown selected tool rolls both back).
 * The server is named as affected so that its external MCP servers are listed again (an update that
 * leaves `externalMcpConfigs` alone keeps their tools). Returns the catalogs committed.
 */
export async function changeServer(catalog: CatalogService, update: ServerUpdate): Promise<Map<string, Catalog>> {
  const { row, body, registered, external } = update;
  const { catalogs } = await catalog.change({ serverIds: [row.id] }, (tx) => writeUpdate(tx, update), {
    ...(external ? { cleanupOnFailure: external.written } : {}),
    ...(external || body.externalMcpServers !== undefined
      ? { external: [...(external?.stored ?? []), ...(body.externalMcpServers !== undefined ? registered! : [])] }
      : {}),
  });
  return catalogs;
}

/** The writes of an update, inside the change's transaction. */
async function writeUpdate(tx: Tx, update: ServerUpdate): Promise<Written<string>> {
  const { row, body, registered, external } = update;
  const rebound = rebinds(body);
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
        ...updatedFields(body, external),
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
    // Tools to confirm that the server does not expose: an error when the list is being set.
    strictConfirmServerIds: body.confirmTools !== undefined ? [row.id] : [],
    strictApprovalServerIds: body.approvalTools !== undefined ? [row.id] : [],
    // A write tool in `config.resultCache`: an error when the config is being set.
    strictCacheServerIds: body.config !== undefined ? [row.id] : [],
    // Replaced external headers: their secrets go once the new configs are committed.
    deleteSecrets: external ? headerSecretsOf(before.externalMcpConfigs) : [],
  };
}

/** The columns an update stores as its body gives them. */
const plainFields = [
  'name',
  'description',
  'mode',
  'selectedTools',
  'confirmTools',
  'approvalTools',
  'connectorInstanceId',
  'isPublic',
  'perRequestAuth',
  'codeMode',
  'twin',
] as const;

/** The columns an update sets: those its body names. */
function updatedFields(body: UpdateServer, external: SealedExternalConfigs | undefined) {
  const plain = Object.fromEntries(plainFields.filter((f) => body[f] !== undefined).map((f) => [f, body[f]]));
  return {
    ...(plain as { [K in (typeof plainFields)[number]]?: Exclude<UpdateServer[K], undefined> }),
    ...(body.approvalRule !== undefined ? { approvalRule: body.approvalRule ?? Prisma.DbNull } : {}),
    ...(body.ruleSettings !== undefined ? { ruleSettings: (body.ruleSettings as object | null) ?? Prisma.DbNull } : {}),
    ...(body.config !== undefined ? { config: body.config as object } : {}),
    ...(external !== undefined ? { externalMcpConfigs: external.stored as object[] } : {}),
  };
}
