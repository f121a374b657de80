import type { Tx } from '../db/client.ts';
import { serverNameFor } from './compile.ts';
import { slugify } from '../documents/slug.ts';

/**
 * The MCP servers the platform generates for connector instances (seed 001: "when a connector has MCP
 * configuration enabled, the platform generates an MCP server for each connector instance"; ADR 0024).
 * Every change here runs inside the caller's `catalog.change()` transaction.
 *
 * The name rule: the first of these names no server of the workspace has is the instance's server's name
 * (`base` = `mcp_config.server_name` as a slug, `instance` = the instance's name as a slug):
 *
 *   `base`, `base-instance`, `base-instance-2`, `base-instance-3`, …
 *
 * So the first instance keeps the name it always had (`ticket_system`), a second one gets its own
 * (`ticket_system-staging`), and a name taken by any other server never fails the instance (no 409).
 * Names stay at most 100 characters: `base` is shortened, never the instance part.
 */

const maxName = 100;
/** Names tried before giving up (a workspace would need this many servers of one connector and instance name). */
const maxCandidates = 1000;

/** The instance's name as it appears in its server's name: lower-case letters, digits and `-` (at most 50). */
export function instanceSlug(instanceName: string, instanceId: string): string {
  return slugify(instanceName, 50) || instanceId.slice(0, 8);
}

/** The `i`-th name the rule tries for an instance (0: `base`; 1: `base-instance`; i ≥ 2: `base-instance-i`). */
export function generatedName(serverName: string, instance: { name: string; id: string }, i: number): string {
  return candidate(serverNameFor(serverName), instanceSlug(instance.name, instance.id), i);
}

function candidate(base: string, instance: string, i: number): string {
  if (i === 0) return base;
  const tail = `-${instance}${i >= 2 ? `-${i}` : ''}`;
  return base.slice(0, maxName - tail.length) + tail;
}

/** Whether `name` is one the rule gives an instance named `instance` for `mcp_config.server_name` = `serverName`. */
export function isGeneratedName(name: string, serverName: string, instance: { name: string; id: string }): boolean {
  const base = serverNameFor(serverName);
  const slug = instanceSlug(instance.name, instance.id);
  for (let i = 0; i < maxCandidates; i++) if (candidate(base, slug, i) === name) return true;
  return false;
}

/** The names the rule tries for an instance, in order. */
function* candidates(serverName: string, instance: { name: string; id: string }): Generator<string> {
  const base = serverNameFor(serverName);
  const slug = instanceSlug(instance.name, instance.id);
  for (let i = 0; i < maxCandidates; i++) yield candidate(base, slug, i);
}

async function takenNames(tx: Tx, workspaceId: string, except?: string): Promise<Set<string>> {
  const rows = await tx.mcpServer.findMany({
    where: { workspaceId, ...(except ? { NOT: { id: except } } : {}) },
    select: { name: true },
  });
  return new Set(rows.map((r) => r.name));
}

function exhausted(serverName: string, instanceName: string): Error {
  return new Error(`no free server name for instance "${instanceName}" of server_name "${serverName}"`);
}

interface McpConfig {
  enabled?: unknown;
  server_name?: unknown;
  server_description?: unknown;
}

/** A connector's `mcp_config` when it generates servers (enabled, with a `server_name`), else undefined. */
export function generating(descriptor: unknown): { serverName: string; description: string | null } | undefined {
  const mcp = (descriptor as { mcp_config?: McpConfig } | null)?.mcp_config;
  if (mcp?.enabled !== true || typeof mcp.server_name !== 'string' || mcp.server_name === '') return undefined;
  return {
    serverName: mcp.server_name,
    description: typeof mcp.server_description === 'string' ? mcp.server_description : null,
  };
}

/**
 * Creates the instance's server (NORMAL, bound to it, `fromDescriptor`; `selectedTools` when given, else every tool), named by the rule. The insert
 * skips a name taken meanwhile (`ON CONFLICT DO NOTHING`) and tries the next, so a concurrent change never
 * turns into a 409 or an aborted transaction.
 */
export async function createInstanceServer(
  tx: Tx,
  workspaceId: string,
  instance: { id: string; name: string },
  mcp: { serverName: string; description: string | null; selectedTools?: string[] },
): Promise<{ id: string; name: string }> {
  const taken = await takenNames(tx, workspaceId);
  for (const name of candidates(mcp.serverName, instance)) {
    if (taken.has(name)) continue;
    const id = crypto.randomUUID();
    const { count } = await tx.mcpServer.createMany({
      data: [
        {
          id,
          workspaceId,
          name,
          description: mcp.description,
          mode: 'NORMAL',
          connectorInstanceId: instance.id,
          fromDescriptor: true,
          ...(mcp.selectedTools ? { selectedTools: mcp.selectedTools } : {}),
        },
      ],
      skipDuplicates: true,
    });
    if (count === 1) return { id, name };
  }
  throw exhausted(mcp.serverName, instance.name);
}

/**
 * Brings the generated servers of a connector's instances in line with its new descriptor (PUT
 * /connectors/{id}), inside the change's transaction:
 *
 * - still generating (enabled, with `server_name`): each instance's server takes the new name and description,
 *   unless the user changed them since (a name the rule did not give, a description other than the old one);
 * - generating now and not before (`enabled` false → true, or a `server_name` added): every instance without a
 *   server gets one, oldest instance first (so the oldest gets `server_name` itself when it is free);
 * - not generating any more (true → false): nothing here. The servers stay (id, URL, keys, policies, secrets)
 *   and their catalogs list none of the connector's tools until it is enabled again (compile.ts; ADR 0024).
 *
 * Returns the servers it created.
 */
export async function syncInstanceServers(
  tx: Tx,
  workspaceId: string,
  before: unknown,
  after: unknown,
  instanceIds: string[],
): Promise<string[]> {
  const next = generating(after);
  if (!next || instanceIds.length === 0) return [];
  const previous = generating(before);
  const oldMcp = (before as { mcp_config?: McpConfig } | null)?.mcp_config;
  const oldName = typeof oldMcp?.server_name === 'string' ? oldMcp.server_name : undefined;
  const oldDescription = typeof oldMcp?.server_description === 'string' ? oldMcp.server_description : undefined;
  const instances = await tx.connectorInstance.findMany({
    where: { id: { in: instanceIds } },
    select: { id: true, name: true },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
  });
  const own = await tx.mcpServer.findMany({
    where: { fromDescriptor: true, connectorInstanceId: { in: instanceIds } },
    select: { id: true, name: true, description: true, connectorInstanceId: true },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
  });
  const created: string[] = [];
  for (const instance of instances) {
    const servers = own.filter((s) => s.connectorInstanceId === instance.id);
    if (servers.length === 0) {
      if (!previous) created.push((await createInstanceServer(tx, workspaceId, instance, next)).id);
      continue;
    }
    for (const s of servers) {
      // Named by the rule for the old server_name: it follows the new one (unless it already fits the new one).
      const followName =
        (oldName === undefined || isGeneratedName(s.name, oldName, instance)) &&
        !isGeneratedName(s.name, next.serverName, instance);
      const followDescription = (s.description ?? undefined) === oldDescription;
      let name: string | undefined;
      if (followName) {
        const taken = await takenNames(tx, workspaceId, s.id);
        for (const c of candidates(next.serverName, instance))
          if (!taken.has(c)) {
            name = c;
            break;
          }
        if (name === undefined) throw exhausted(next.serverName, instance.name);
      }
      if (name === undefined && !followDescription) continue;
      await tx.mcpServer.update({
        where: { id: s.id },
        data: {
          ...(name !== undefined ? { name } : {}),
          ...(followDescription ? { description: next.description } : {}),
        },
      });
    }
  }
  return created;
}

/**
 * The servers generated for these instances (deleted with them: `catalog.deleteInstancesWrites`), deleted
 * inside the caller's transaction; the catalog service removes their Redis catalogs and secrets after commit.
 */
export async function deleteInstanceServers(
  tx: Tx,
  instanceIds: string[],
): Promise<{ id: string; workspaceId: string }[]> {
  if (instanceIds.length === 0) return [];
  const servers = await tx.mcpServer.findMany({
    where: { fromDescriptor: true, connectorInstanceId: { in: instanceIds } },
    select: { id: true, workspaceId: true },
  });
  if (servers.length > 0) await tx.mcpServer.deleteMany({ where: { id: { in: servers.map((s) => s.id) } } });
  return servers;
}

/** The generated server of each instance (the oldest, should there be several), for the instances' API answers. */
export async function instanceServers(
  db: Pick<Tx, 'mcpServer'>,
  instanceIds: string[],
): Promise<Map<string, { id: string; name: string }>> {
  const rows = instanceIds.length
    ? await db.mcpServer.findMany({
        where: { fromDescriptor: true, connectorInstanceId: { in: instanceIds } },
        select: { id: true, name: true, connectorInstanceId: true },
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      })
    : [];
  const byInstance = new Map<string, { id: string; name: string }>();
  for (const r of rows)
    if (r.connectorInstanceId && !byInstance.has(r.connectorInstanceId))
      byInstance.set(r.connectorInstanceId, { id: r.id, name: r.name });
  return byInstance;
}
