import type { Client } from '@modelcontextprotocol/client';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { quotaCounterKey, quotaPeriod, type QuotaWindow } from '../../packages/contracts/src/index.ts';
import type { RedisClient } from '@toolplane/redis';
import { scaled, waitFor } from './wait.ts';

/** What tests of quotas (ADR 0048) share: the refusal's `_meta`, bursts of calls, windows, counters. */

export type ToolResult = Awaited<ReturnType<Client['callTool']>>;

/** A refusal's `_meta["toolplane/quota"]`: which quota, and when to retry. */
export const quotaMeta = (r: ToolResult) =>
  (r._meta as Record<string, { quota: string; retryAfterSeconds: number }> | undefined)?.['toolplane/quota'];

/** `n` concurrent calls of `tool`, spread over `callers` in turn. */
export function burst(callers: Client[], n: number, tool = 'search_tickets'): Promise<ToolResult[]> {
  return Promise.all(
    Array.from(
      { length: n },
      (_, i) => callers[i % callers.length]!.callTool({ name: tool, arguments: {} }) as Promise<ToolResult>,
    ),
  );
}

/**
 * Waits, when less than `seconds` (what the burst takes on an idle machine, scaled: a loaded one is slower) of the
 * current calendar `unit` (UTC) are left, until the next one starts: a burst that follows then falls in one window.
 * At most the whole window less 5 s is asked for (a minute's burst on a slow machine waits for a fresh minute).
 */
export async function inOneWindow(unit: Extract<QuotaWindow, 'minute' | 'day'>, seconds: number): Promise<void> {
  const now = Date.now();
  const left = quotaPeriod(unit, 'UTC', now).endsAt - now;
  const need = Math.min(scaled(seconds * 1000), (unit === 'minute' ? 60_000 : 86_400_000) - 5_000);
  if (left < need) await new Promise((r) => setTimeout(r, left + 200));
}

/** Where a quota's counter lives. */
export interface QuotaCounter {
  prefix: string;
  workspaceId: string;
  quotaId: string;
  window: QuotaWindow;
}

/** The key of a quota's single (not `per`) counter in the UTC window holding `when` (default: now). */
export function counterKey(at: QuotaCounter, when = Date.now()): string {
  const period = quotaPeriod(at.window, 'UTC', when).id;
  return quotaCounterKey(at.prefix, at.workspaceId, { quotaId: at.quotaId, period, per: '*' });
}

/** What that counter holds: 0 before its first charge. */
export async function counterOf(redis: RedisClient, at: QuotaCounter): Promise<number> {
  return Number((await redis.get(counterKey(at))) ?? 0);
}

/**
 * The counters of the windows holding `since` and now, added up: two readings with the same `since` differ by what
 * was charged between them, also when a window ended in between.
 */
export async function chargedSince(redis: RedisClient, at: QuotaCounter, since: number): Promise<number> {
  const keys = new Set([counterKey(at, since), counterKey(at)]);
  let total = 0;
  for (const key of keys) total += Number((await redis.get(key)) ?? 0);
  return total;
}

/**
 * Lets people (external users `names`, made here) call the server through the stack's key: its shared credentials
 * serve them (they connect nothing of their own), and a policy grants them every tool (the key keeps every server).
 */
export async function peopleMayCall(api: ManagementClient, serverId: string, names: string[]): Promise<void> {
  await unwrap(
    api.PATCH('/mcp_manager/{id}', {
      params: { path: { id: serverId } },
      body: { config: { fallbackToShared: true } },
    }),
  );
  for (const name of names) await unwrap(api.POST('/external_users', { body: { name } }));
  await unwrap(
    api.POST('/access_policies', {
      body: { name: 'people', principals: [{ type: 'external_user', value: '*' }], servers: ['*'], tools: ['*'] },
    }),
  );
}

/** A fresh quota; the workspace's other quotas are deleted first (each test sees only its own). */
export async function onlyQuota(api: ManagementClient, body: Record<string, unknown>) {
  for (const q of (await unwrap(api.GET('/quotas'))).data)
    await unwrap(api.DELETE('/quotas/{id}', { params: { path: { id: q.id } } }));
  return unwrap(api.POST('/quotas', { body: body as never }));
}

/**
 * Until a call of the ticket example's `get_ticket` is refused by quota `quotaName` (its publication reached the
 * caller's edge): a quota of limit 0 on that tool, using none of its room.
 */
export async function refusedBy(client: Client, quotaName: string): Promise<void> {
  await waitFor(`quota ${quotaName} on the edge`, async () => {
    const r = (await client.callTool({ name: 'get_ticket', arguments: { ticket_id: 'none' } })) as ToolResult;
    return quotaMeta(r)?.quota === quotaName ? true : undefined;
  });
}
