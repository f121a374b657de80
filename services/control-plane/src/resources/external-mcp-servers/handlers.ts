import { UserError } from '@toolplane/errors';
import { refuseIfWorkflowsUse } from '../../catalog/workflow-users.ts';
import { registeredConfig } from '../../catalog/compile.ts';
import { externalServerSecretPrefix } from '../../catalog/secret-names.ts';
import type { HeldChange } from '../../catalog/pins.ts';
import { isUniqueViolation } from '../../catalog/service.ts';
import type { Tx } from '../../db/client.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import { changedFields, refuseLoosening, refuseOriginChange } from '../governing.ts';
import { listingOf } from './listing.ts';
import { checkRename, find, headerChanges, nameTaken, present, sealHeaders, withUsers } from './registry.ts';
import { announceHeld, pinsAfterListing, recordHeld } from './review.ts';
import { externalServerFields } from './field-powers.ts';
import type { CreateExternalServerBody, UpdateExternalServerBody } from './schemas.ts';

/** The review settings after a patch: each one named replaces the stored one. */
function reviewSettings(
  row: { autoAccept: boolean; onChange: string; notifyWebhookUrl: string | null },
  body: UpdateExternalServerBody,
) {
  return {
    autoAccept: body.autoAccept ?? row.autoAccept,
    onChange: body.onChange ?? row.onChange,
    notifyWebhookUrl: body.notifyWebhookUrl === undefined ? row.notifyWebhookUrl : body.notifyWebhookUrl,
  };
}

/** The row's pins, locked until the change commits (a refresh storing a listing meanwhile waits). */
async function lockedPins(tx: Tx, id: string, autoAccept: boolean) {
  await tx.$queryRaw`SELECT id FROM external_mcp_servers WHERE id = ${id}::uuid FOR UPDATE`;
  const row = await tx.externalMcpServer.findUnique({ where: { id }, select: { pins: true } });
  return { pins: row?.pins ?? null, autoAccept };
}

/** `GET /external_mcp_servers`: the workspace's registered servers, by name. */
export async function listExternalMcpServers({ db }: ControlPlaneDeps, { caller }: Input) {
  const rows = await db.externalMcpServer.findMany({
    where: { workspaceId: caller.workspaceId },
    include: withUsers,
    orderBy: [{ name: 'asc' }],
  });
  return { data: rows.map(present) };
}

/**
 * `POST /external_mcp_servers`: registered and listed once (through the worker); a server that cannot be listed is
 * registered anyway, with the reason in `listError` (hosted servers using it then report it in their catalog's
 * warnings).
 */
export async function createExternalMcpServer(
  { db, catalog, secrets }: ControlPlaneDeps,
  { body, caller }: Input<CreateExternalServerBody>,
) {
  const { workspaceId } = caller;
  const defaults = { autoAccept: false };
  refuseLoosening(
    caller,
    'a new external MCP server',
    changedFields(externalServerFields, 'governing', body, (f) => defaults[f as keyof typeof defaults] ?? null),
  );
  if (await db.externalMcpServer.findUnique({ where: { workspaceId_name: { workspaceId, name: body.name } } }))
    throw nameTaken(body.name);
  const id = crypto.randomUUID();
  const headerSecrets = await sealHeaders(secrets, { workspaceId, id }, body.headers);
  try {
    const result = await catalog.listOne(registeredConfig({ id, name: body.name, url: body.url, headerSecrets }, []));
    const { pins } = pinsAfterListing({ pins: null, autoAccept: body.autoAccept ?? false }, result);
    const row = await db.externalMcpServer.create({
      data: {
        id,
        workspaceId,
        name: body.name,
        url: body.url,
        headerSecrets,
        ...listingOf(result),
        ...(pins ? { pins: pins as object } : {}),
        autoAccept: body.autoAccept ?? false,
        onChange: body.onChange ?? 'keep_pinned',
        notifyWebhookUrl: body.notifyWebhookUrl ?? null,
      },
      include: withUsers,
    });
    return present(row);
  } catch (err) {
    await catalog.deleteSecretPrefixes([externalServerSecretPrefix(workspaceId, id)]);
    if (isUniqueViolation(err)) throw nameTaken(body.name);
    throw err;
  }
}

/** `GET /external_mcp_servers/{id}` (an id or a name). */
export async function getExternalMcpServer({ db }: ControlPlaneDeps, { params, caller }: Input) {
  return present(await find(db, caller.workspaceId, params.id!));
}

/**
 * 403 unless the caller has the right (resources/governing.ts, ADR 0073): a new URL while headers are stored sends
 * them elsewhere (the right to write secrets); `autoAccept` lifts the review of its changes (the right to change policies).
 */
function refuseExternalLoosening(
  caller: Input['caller'],
  row: { name: string; url: string; autoAccept: boolean; headerSecrets: unknown },
  body: UpdateExternalServerBody,
): void {
  const stored = { url: row.url, autoAccept: row.autoAccept } as Record<string, unknown>;
  const what = `external MCP server ${row.name}`;
  const hasHeaders = Object.keys((row.headerSecrets ?? {}) as object).length > 0;
  const moved = hasHeaders ? changedFields(externalServerFields, 'origin', body, (f) => stored[f] ?? null) : [];
  refuseOriginChange(caller, what, moved);
  refuseLoosening(
    caller,
    what,
    changedFields(externalServerFields, 'governing', body, (f) => stored[f] ?? null),
  );
}

/**
 * `PATCH /external_mcp_servers/{id}`, field by field: the URL, the name, one header (the other headers keep their
 * sealed values), the review settings. Listed again in its new form and reconciled with its pins (at another URL
 * pinned afresh; ADR 0061), then every hosted server using it gets a new catalog version in one change.
 */
export async function updateExternalMcpServer(
  { db, catalog, secrets, changeWebhooks }: ControlPlaneDeps,
  { body, params, caller }: Input<UpdateExternalServerBody>,
) {
  const { workspaceId } = caller;
  const row = await find(db, workspaceId, params.id!);
  refuseExternalLoosening(caller, row, body);
  const name = body.name ?? row.name;
  if (name !== row.name) await checkRename(db, row, name);
  const { next, replaced, set } = headerChanges(
    (row.headerSecrets ?? {}) as Record<string, string>,
    body.headers ?? {},
  );
  const written = await sealHeaders(secrets, { workspaceId, id: row.id }, set);
  Object.assign(next, written);
  const config = registeredConfig({ id: row.id, name, url: body.url ?? row.url, headerSecrets: next }, []);
  const result = await catalog.listOne(config);
  const settings = reviewSettings(row, body);
  let held: HeldChange[] = [];
  await catalog.change(
    { externalServerIds: [row.id] },
    async (tx) => {
      // Another URL is another attachment: what it lists is pinned as it is, held changes of the old one dropped.
      const current = await lockedPins(tx, row.id, settings.autoAccept);
      const listed = pinsAfterListing(config.url === row.url ? current : { ...current, pins: null }, result);
      held = listed.held;
      try {
        await tx.externalMcpServer.update({
          where: { id: row.id },
          data: {
            name,
            url: config.url,
            headerSecrets: next,
            ...listingOf(result),
            ...settings,
            ...(listed.pins ? { pins: listed.pins as object } : {}),
          },
        });
      } catch (err) {
        if (isUniqueViolation(err)) throw nameTaken(name);
        throw err;
      }
      await recordHeld(tx, { ...row, ...settings, name }, held);
      return { result: row.id, deleteSecrets: replaced };
    },
    { listed: [{ config, result }], cleanupOnFailure: Object.values(written) },
  );
  const updated = await find(db, workspaceId, row.id);
  announceHeld(changeWebhooks, updated, held);
  return present(updated);
}

/**
 * `DELETE /external_mcp_servers/{id}`: only when no hosted server uses it and no deployed workflow calls its tools as
 * steps (409 naming them; ADR 0045); its header secrets go with it.
 */
export async function deleteExternalMcpServer(
  { db, catalog }: ControlPlaneDeps,
  { params, caller: { workspaceId } }: Input,
): Promise<void> {
  const row = await find(db, workspaceId, params.id!);
  const users = (row.servers ?? []).map((s) => s.server.name);
  if (users.length > 0)
    throw new UserError(
      'resource.conflict',
      `external MCP server "${row.name}" is used by ${users.map((n) => `"${n}"`).join(', ')}: remove it from ` +
        'their externalMcpServers first',
      { status: 409 },
    );
  await refuseIfWorkflowsUse(db, workspaceId, [{ kind: 'external_mcp_server', id: row.id, name: row.name }]);
  try {
    await db.externalMcpServer.delete({ where: { id: row.id } });
  } catch (err) {
    // A server started using it meanwhile (the foreign key restricts the delete).
    if ((err as { code?: unknown }).code === 'P2003')
      throw new UserError('resource.conflict', `external MCP server "${row.name}" is in use`, { status: 409 });
    throw err;
  }
  await catalog.deleteSecretPrefixes([externalServerSecretPrefix(workspaceId, row.id)]);
}
