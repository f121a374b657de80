import { EventSubscription, subscriptionsKey, subscriptionStreamKey } from '@toolplane/contracts';
import type { ControlPlaneDeps } from '../deps.ts';

/** The tool a subscription's webhook delivery records name (the worker's `events/delivery-record.ts`). */
export const deliveryTool = (subscriptionId: string): string => `events/${subscriptionId}`;

/** The workspace's connector instances: each may hold subscriptions (a hash per instance in Redis). */
async function instanceIds({ db }: ControlPlaneDeps, workspaceId: string): Promise<string[]> {
  const rows = await db.connectorInstance.findMany({ where: { workspaceId }, select: { id: true } });
  return rows.map((r) => r.id);
}

function parsed(raw: string, workspaceId: string): EventSubscription | undefined {
  try {
    const sub = EventSubscription.safeParse(JSON.parse(raw));
    return sub.success && sub.data.workspaceId === workspaceId ? sub.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The workspace's subscriptions as the edges keep them in Redis (docs/events.md "Subscriptions in Redis"): one
 * `HGETALL` per connector instance (each its own slot on a cluster), only those of this workspace.
 */
export async function readSubscriptions(deps: ControlPlaneDeps, workspaceId: string): Promise<EventSubscription[]> {
  const out: EventSubscription[] = [];
  for (const instanceId of await instanceIds(deps, workspaceId)) {
    const all = await deps.redis.hgetall(subscriptionsKey(instanceId));
    for (const raw of Object.values(all)) {
      const sub = parsed(raw, workspaceId);
      if (sub) out.push(sub);
    }
  }
  return out.sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? -1 : 1));
}

/** One subscription of the workspace, by id (undefined: none). */
export async function readSubscription(
  deps: ControlPlaneDeps,
  workspaceId: string,
  id: string,
): Promise<EventSubscription | undefined> {
  for (const instanceId of await instanceIds(deps, workspaceId)) {
    const raw = await deps.redis.hget(subscriptionsKey(instanceId), id);
    const sub = raw ? parsed(raw, workspaceId) : undefined;
    if (sub) return sub;
  }
  return undefined;
}

/** How many occurrences each subscription's stream holds (what it was given, within retention). */
export async function streamLengths(deps: ControlPlaneDeps, subs: readonly EventSubscription[]): Promise<number[]> {
  return Promise.all(subs.map((s) => deps.redis.xlen(subscriptionStreamKey(s.instanceId, s.id))));
}
