import { redisKeys, userSecrets, type AuditSource } from '@toolplane/contracts';
import { markExpired } from '../approvals/handlers.ts';
import type { ControlPlaneDeps } from '../deps.ts';

/**
 * Ends everything a person has connected: their own accounts as a disconnect ends them (revoked at the provider by a
 * worker: those listed and any tokens the store holds for them without a listing), then every connection row, their
 * markers, and every secret stored under their name (pushed credentials, workflow secrets, external MCP headers).
 */
export async function endPersonConnections(
  { db, secrets, publisher, redis, prefix, people }: ControlPlaneDeps,
  user: { id: string; workspaceId: string },
): Promise<void> {
  const own = userSecrets.prefix(user.workspaceId, user.id);
  const listed = await db.userConnection.findMany({ where: { userId: user.id, kind: 'oauth' } });
  const accounts = new Set(listed.map((c) => c.connectorInstanceId));
  for (const meta of await secrets.list(`${own}oauth/`)) {
    const named = userSecrets.parseOauth(meta.name);
    if (named) accounts.add(named.instanceId);
  }
  const apps = await people.appsOf(user.workspaceId, [...accounts]);
  for (const instanceId of accounts)
    await people.endAccount(user.workspaceId, user.id, instanceId, apps.get(instanceId));
  await db.userConnection.deleteMany({ where: { userId: user.id } });
  await redis.del(redisKeys(prefix).userConnections(user.workspaceId, user.id));
  for (const meta of await secrets.list(own)) await secrets.delete(meta.name);
  await publisher.secretsChanged(own);
}

/**
 * A person who leaves (deactivated or deleted): the approval requests of calls made for them that still wait expire
 * (each with its event), and the approval links sent to them are withdrawn.
 */
export async function endPersonRequests(
  deps: ControlPlaneDeps,
  user: { id: string; workspaceId: string; name: string },
  source: AuditSource,
): Promise<void> {
  const waiting = await deps.db.approval.findMany({
    where: { workspaceId: user.workspaceId, state: 'pending', requester: { path: ['person'], equals: user.name } },
  });
  for (const row of waiting) await markExpired(deps, row, source);
  await deps.db.approvalLink.deleteMany({ where: { userId: user.id, usedAt: null } });
}
