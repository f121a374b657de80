import { randomBytes } from 'node:crypto';
import { NotFoundError, UserError } from '@toolplane/errors';
import type { SecretsWriter } from '@toolplane/secrets';
import type { StoredExternalConfig } from '../../catalog/compile.ts';
import { pinStateOf } from '../../catalog/pins.ts';
import { externalServerHeaderSecretName } from '../../catalog/secret-names.ts';
import type { Db } from '../../db/client.ts';
import { isUuid } from '../../db/ids.ts';
import { maxHeaders } from './schemas.ts';

/** A registry entry as read with its users (`withUsers`). */
interface Row {
  id: string;
  workspaceId: string;
  name: string;
  url: string;
  headerSecrets: unknown;
  tools: unknown;
  listedAt: Date | null;
  listError: string | null;
  pins: unknown;
  autoAccept: boolean;
  onChange: string;
  notifyWebhookUrl: string | null;
  createdAt: Date;
  updatedAt: Date;
  servers?: { server: { id: string; name: string } }[];
}

/** An entry as the API shows it: header names, never values. */
export function present(row: Row) {
  return {
    id: row.id,
    name: row.name,
    url: row.url,
    headerNames: Object.keys((row.headerSecrets ?? {}) as Record<string, string>).sort(),
    tools: row.tools as { name: string; title?: string; description: string }[],
    listedAt: row.listedAt?.toISOString() ?? null,
    listError: row.listError,
    autoAccept: row.autoAccept,
    onChange: row.onChange as 'keep_pinned' | 'withhold',
    notifyWebhookUrl: row.notifyWebhookUrl,
    heldChanges: pinStateOf(row.pins)?.held.length ?? 0,
    usedBy: (row.servers ?? []).map((s) => ({ id: s.server.id, name: s.server.name })),
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

export const withUsers = { servers: { include: { server: { select: { id: true, name: true } } } } } as const;

export const nameTaken = (name: string) =>
  new UserError('resource.conflict', `an external MCP server named "${name}" is already registered`, {
    status: 409,
  });

/** The entry of the workspace named by its id or its name, else 404. */
export async function find(db: Db, workspaceId: string, idOrName: string): Promise<Row> {
  const row = await db.externalMcpServer.findFirst({
    where: isUuid(idOrName) ? { id: idOrName, workspaceId } : { name: idOrName, workspaceId },
    include: withUsers,
  });
  if (!row) throw new NotFoundError('external MCP server', idOrName);
  return row;
}

/** Seals header values under new names (the old ones stay valid until the change commits). */
export async function sealHeaders(
  secrets: SecretsWriter,
  entry: { workspaceId: string; id: string },
  headers: Record<string, string>,
): Promise<Record<string, string>> {
  const generation = randomBytes(6).toString('hex');
  const written: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const secret = externalServerHeaderSecretName(entry.workspaceId, entry.id, name, generation);
    await secrets.put(secret, value);
    written[name] = secret;
  }
  return written;
}

/**
 * A rename: 409 when the workspace has another entry of that name, or when a hosted server using this one
 * already has an external MCP server of that name.
 */
export async function checkRename(db: Db, row: Row, name: string): Promise<void> {
  const { workspaceId } = row;
  if (await db.externalMcpServer.findUnique({ where: { workspaceId_name: { workspaceId, name } } }))
    throw nameTaken(name);
  // A hosted server using it must not already have an external MCP server of that name.
  const users = await db.mcpServer.findMany({
    where: { externalServers: { some: { externalServerId: row.id } } },
    select: { name: true, externalMcpConfigs: true },
  });
  const clash = users.find((s) =>
    ((s.externalMcpConfigs ?? []) as unknown as StoredExternalConfig[]).some((c) => c.name === name),
  );
  if (clash)
    throw new UserError(
      'resource.conflict',
      `server "${clash.name}" already has an external MCP config named "${name}"`,
      { status: 409 },
    );
}

/**
 * A patch's headers applied to the current ones: `next` (the sealed names kept), `replaced` (the secrets of
 * the headers removed or replaced) and `set` (the values to seal). 422 beyond `maxHeaders`.
 */
export function headerChanges(
  current: Record<string, string>,
  headers: Record<string, string | null>,
): { next: Record<string, string>; replaced: string[]; set: Record<string, string> } {
  const next: Record<string, string> = { ...current };
  const replaced: string[] = [];
  const set: Record<string, string> = {};
  for (const [header, value] of Object.entries(headers)) {
    // Header names are case-insensitive: the same header written in another case replaces it.
    for (const existing of Object.keys(next))
      if (existing.toLowerCase() === header.toLowerCase()) {
        replaced.push(next[existing]!);
        delete next[existing];
      }
    if (value !== null) set[header] = value;
  }
  if (Object.keys(next).length + Object.keys(set).length > maxHeaders)
    throw new UserError('request.invalid', `at most ${maxHeaders} headers`);
  return { next, replaced, set };
}
