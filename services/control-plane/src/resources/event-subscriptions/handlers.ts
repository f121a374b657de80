import { NotFoundError } from '@toolplane/errors';
import type { EventSubscription } from '@toolplane/contracts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import type { ListDeliveriesQuery, ListEventSubscriptionsQuery } from './schemas.ts';
import { deliveryTool, readSubscription, readSubscriptions, streamLengths } from './store.ts';

const ERROR_PREFIX = 'events.delivery_';

type Counts = { delivered: number; failed: number; lastDeliveryAt: Date | null; lastError: string | null };

/** Per subscription, from its delivery records: taken and given-up counts, the latest time and failure category. */
async function deliveryCounts(deps: ControlPlaneDeps, workspaceId: string, ids: string[]) {
  const tools = ids.map(deliveryTool);
  const where = { workspaceId, tool: { in: tools } };
  const groups = await deps.db.executionRecord.groupBy({
    by: ['tool', 'outcome'],
    where,
    _count: { _all: true },
    _max: { startedAt: true },
  });
  const failures = await deps.db.executionRecord.findMany({
    where: { ...where, outcome: { not: 'success' } },
    distinct: ['tool'],
    orderBy: [{ tool: 'asc' }, { startedAt: 'desc' }],
    select: { tool: true, errorCode: true },
  });
  const counts = new Map<string, Counts>();
  for (const g of groups) {
    const c = counts.get(g.tool) ?? { delivered: 0, failed: 0, lastDeliveryAt: null, lastError: null };
    if (g.outcome === 'success') c.delivered += g._count._all;
    else c.failed += g._count._all;
    const at = g._max.startedAt;
    if (at && (!c.lastDeliveryAt || at > c.lastDeliveryAt)) c.lastDeliveryAt = at;
    counts.set(g.tool, c);
  }
  for (const f of failures) {
    const c = counts.get(f.tool);
    if (c) c.lastError = categoryOf(f.errorCode);
  }
  return counts;
}

function categoryOf(errorCode: string | null): string | null {
  if (!errorCode) return null;
  return errorCode.startsWith(ERROR_PREFIX) ? errorCode.slice(ERROR_PREFIX.length) : errorCode;
}

/** The names of the servers and keys the subscriptions name (one query each). */
async function names(deps: ControlPlaneDeps, workspaceId: string, subs: readonly EventSubscription[]) {
  const serverIds = [...new Set(subs.map((s) => s.serverId))];
  const keyIds = [...new Set(subs.flatMap((s) => (s.principal.keyId ? [s.principal.keyId] : [])))].filter((id) =>
    /^[0-9a-f-]{36}$/i.test(id),
  );
  const [servers, keys] = await Promise.all([
    deps.db.mcpServer.findMany({ where: { workspaceId, id: { in: serverIds } }, select: { id: true, name: true } }),
    deps.db.apiKey.findMany({ where: { workspaceId, id: { in: keyIds } }, select: { id: true, name: true } }),
  ]);
  return {
    server: new Map(servers.map((s) => [s.id, s.name])),
    key: new Map(keys.map((k) => [k.id, k.name])),
  };
}

/** A callback URL's origin: its path and query may carry the receiver's token, never shown. */
function originOf(url: string | undefined): string | null {
  if (!url) return null;
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
}

/** Only the servers a key limited to servers may see (`x-server-limited-keys: filtered`). */
function visible(subs: EventSubscription[], serverIds: readonly string[] | undefined, serverId?: string) {
  return subs.filter((s) => (!serverIds || serverIds.includes(s.serverId)) && (!serverId || s.serverId === serverId));
}

/**
 * `GET /event_subscriptions`: the workspace's subscriptions (Redis), each with its server and principal's names, its
 * callback's origin, and what its delivery records say. Never its sealed secret or its callback's path.
 */
export async function listEventSubscriptions(
  deps: ControlPlaneDeps,
  { caller, query }: Input<undefined, ListEventSubscriptionsQuery>,
) {
  const { workspaceId } = caller;
  const subs = visible(await readSubscriptions(deps, workspaceId), caller.serverIds, query.server_id);
  const [counts, lengths, named] = await Promise.all([
    deliveryCounts(
      deps,
      workspaceId,
      subs.map((s) => s.id),
    ),
    streamLengths(deps, subs),
    names(deps, workspaceId, subs),
  ]);
  const now = Date.now();
  const data = subs.map((s, i) => {
    const c = counts.get(deliveryTool(s.id));
    const { keyId, subject, username } = s.principal;
    return {
      id: s.id,
      name: s.name,
      serverId: s.serverId,
      serverName: named.server.get(s.serverId) ?? null,
      instanceId: s.instanceId,
      principal: {
        keyId: keyId ?? null,
        keyName: (keyId && named.key.get(keyId)) || null,
        subject: subject ?? null,
        username: username ?? null,
      },
      delivery: s.delivery,
      arguments: s.arguments,
      callbackOrigin: originOf(s.callback?.url),
      createdAt: new Date(s.createdAt).toISOString(),
      expiresAt: new Date(s.expiresAt).toISOString(),
      expired: s.expiresAt <= now,
      streamLength: lengths[i] ?? 0,
      delivered: c?.delivered ?? 0,
      failed: c?.failed ?? 0,
      lastDeliveryAt: c?.lastDeliveryAt?.toISOString() ?? null,
      lastError: c?.lastError ?? null,
    };
  });
  return { data };
}

type DeliveryStep = { name?: unknown; attempt?: unknown };

/** The steps of a delivery record (its `steps` column: the list, or an object holding it). */
function stepsOf(column: unknown): DeliveryStep[] {
  const steps = Array.isArray(column) ? column : (column as { steps?: unknown } | null)?.steps;
  return Array.isArray(steps) ? (steps as DeliveryStep[]) : [];
}

/**
 * `GET /event_subscriptions/{id}/deliveries`: a subscription's latest webhook deliveries, from their execution
 * records: the occurrence's eventId, when, delivered or failed, how many attempts, the failure's category.
 */
export async function listEventDeliveries(
  deps: ControlPlaneDeps,
  { caller, params, query }: Input<undefined, ListDeliveriesQuery>,
) {
  const id = params.id!;
  const sub = await readSubscription(deps, caller.workspaceId, id);
  if (!sub || (caller.serverIds && !caller.serverIds.includes(sub.serverId)))
    throw new NotFoundError('event subscription', id);
  const rows = await deps.db.executionRecord.findMany({
    where: { workspaceId: caller.workspaceId, serverId: sub.serverId, tool: deliveryTool(id) },
    orderBy: [{ startedAt: 'desc' }, { id: 'desc' }],
    take: query.limit,
    select: { id: true, startedAt: true, outcome: true, errorCode: true, durationMs: true, steps: true },
  });
  const data = rows.map((r) => {
    const steps = stepsOf(r.steps);
    const last = steps.at(-1);
    return {
      recordId: r.id,
      eventId: typeof steps[0]?.name === 'string' ? steps[0].name : '',
      at: r.startedAt.toISOString(),
      outcome: r.outcome === 'success' ? ('delivered' as const) : ('failed' as const),
      attempts: typeof last?.attempt === 'number' ? last.attempt : steps.length,
      errorCategory: r.outcome === 'success' ? null : categoryOf(r.errorCode),
      durationMs: r.durationMs,
    };
  });
  return { subscriptionId: id, data };
}
