import type { ListRemoteToolsResult } from '@toolplane/contracts';
import { NotFoundError } from '@toolplane/errors';
import {
  acceptChange,
  changedFields,
  type HeldChange,
  pinAll,
  type PinState,
  pinStateOf,
  reconcile,
  rejectChange,
} from '../../catalog/pins.ts';
import { appendSystemEvent } from '../../db/audit-trail.ts';
import type { Tx } from '../../db/client.ts';
import type { ChangeWebhooks } from '../../documents/change-webhooks.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import { find } from './registry.ts';

/**
 * Review of what a registered external MCP server changed (ADR 0061): a listing reconciled with the pins holds changes
 * (`pinsAfterListing`, each hold an audit event and a webhook POST), and each held change is accepted (re-pinned, the
 * catalogs of the servers using it republished) or rejected (the pin stays; that definition is not held again).
 */

/** What the pin columns of a row are after a listing, and the changes it held (none for a failed listing). */
export function pinsAfterListing(
  row: { pins: unknown; autoAccept: boolean },
  result: ListRemoteToolsResult,
  now = new Date(),
): { pins?: PinState; held: HeldChange[] } {
  if (!result.ok) return { held: [] };
  const state = pinStateOf(row.pins);
  // A first listing is pinned as it is; a server that accepts every change follows each listing.
  if (!state || row.autoAccept) return { pins: pinAll(result, now), held: [] };
  const { state: pins, held } = reconcile(state, result, now);
  return { pins, held };
}

interface Entry {
  id: string;
  workspaceId: string;
  name: string;
  notifyWebhookUrl: string | null;
}

/**
 * The held changes' audit events, in the transaction that stores them: `external_mcp_server.change_held`, by the
 * system, naming the change (never its definition).
 */
export async function recordHeld(tx: Tx, entry: Entry, held: HeldChange[]): Promise<void> {
  for (const change of held)
    await appendSystemEvent(tx, {
      at: change.heldAt,
      workspaceId: entry.workspaceId,
      action: 'external_mcp_server.change_held',
      resource: { type: 'external_mcp_server', id: entry.id },
      details: {
        server: entry.name,
        change: { id: change.id, kind: change.kind, name: change.name, change: change.change },
      },
    });
}

/** After the commit: the held changes POSTed to the server's webhook, if it has one. */
export function announceHeld(webhooks: ChangeWebhooks, entry: Entry, held: HeldChange[]): void {
  if (held.length === 0 || !entry.notifyWebhookUrl) return;
  webhooks.notify(
    entry.notifyWebhookUrl,
    {
      type: 'external_mcp_server.change_held',
      workspaceId: entry.workspaceId,
      externalMcpServer: { id: entry.id, name: entry.name },
      changes: held.map(({ id, kind, name, change, heldAt }) => ({ id, kind, name, change, heldAt })),
    },
    { externalServerId: entry.id },
  );
}

/** A held change as the API shows it: what it alters, field by field. */
function present(state: PinState, change: HeldChange) {
  return {
    id: change.id,
    kind: change.kind,
    name: change.name,
    change: change.change,
    fields: changedFields(state, change),
    heldAt: change.heldAt,
  };
}

/** `GET /external_mcp_servers/{id}/changes`: the changes held for review, oldest first. */
export async function listExternalMcpServerChanges({ db }: ControlPlaneDeps, { params, caller }: Input) {
  const row = await find(db, caller.workspaceId, params.id!);
  const state = pinStateOf(row.pins);
  const held = [...(state?.held ?? [])].sort((a, b) => a.heldAt.localeCompare(b.heldAt));
  return { data: held.map((h) => present(state!, h)) };
}

/** The row's pins locked for the decision (a refresh storing a listing meanwhile waits, then finds the row changed). */
async function lockedChange(tx: Tx, id: string, changeId: string) {
  await tx.$queryRaw`SELECT id FROM external_mcp_servers WHERE id = ${id}::uuid FOR UPDATE`;
  const row = await tx.externalMcpServer.findUnique({ where: { id }, select: { pins: true } });
  const state = pinStateOf(row?.pins);
  const change = state?.held.find((h) => h.id === changeId);
  if (!state || !change) throw new NotFoundError('held change', changeId);
  return { state, change };
}

/** `POST …/changes/{changeId}/accept`: re-pinned, and every hosted server using it gets a new catalog version. */
export async function acceptExternalMcpServerChange({ db, catalog }: ControlPlaneDeps, { params, caller }: Input) {
  const row = await find(db, caller.workspaceId, params.id!);
  const { result } = await catalog.change({ externalServerIds: [row.id] }, async (tx) => {
    const { state, change } = await lockedChange(tx, row.id, params.changeId!);
    const pins = acceptChange(state, change, new Date());
    await tx.externalMcpServer.updateMany({ where: { id: row.id }, data: { pins: pins as object } });
    return { result: { ...present(state, change), decision: 'accepted' as const } };
  });
  return result;
}

/** `POST …/changes/{changeId}/reject`: the pin stays, and this definition is not held again until it changes. */
export async function rejectExternalMcpServerChange({ db }: ControlPlaneDeps, { params, caller }: Input) {
  const row = await find(db, caller.workspaceId, params.id!);
  return db.$transaction(async (tx) => {
    const { state, change } = await lockedChange(tx, row.id, params.changeId!);
    await tx.externalMcpServer.updateMany({
      where: { id: row.id },
      data: { pins: rejectChange(state, change) as object },
    });
    return { ...present(state, change), decision: 'rejected' as const };
  });
}
