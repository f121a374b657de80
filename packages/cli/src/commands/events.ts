import type { Command } from 'commander';
import type { EventSubscriptionSummary } from './api.ts';
import { action, withJson } from './context.ts';
import { usageError } from './errors.ts';
import { table } from './output.ts';

/**
 * `toolplane events subscriptions [--server S]` and `toolplane events deliveries <id>` (ADR 0081, docs/events.md
 * "Seeing subscriptions"): the workspace's MCP Events subscriptions, each with its webhook deliveries counted, and
 * one subscription's latest deliveries. Never a secret or a callback's path.
 */

function principalOf(s: EventSubscriptionSummary): string {
  const p = s.principal;
  const who = p.keyName ?? p.keyId ?? p.subject ?? 'anonymous';
  return p.username ? `${who} as ${p.username}` : who;
}

function subscriptionRows(subs: EventSubscriptionSummary[]): Record<string, unknown>[] {
  return subs.map((s) => ({
    id: s.id,
    event: s.name,
    server: s.serverName ?? s.serverId,
    principal: principalOf(s),
    delivery: s.delivery,
    callback: s.callbackOrigin ?? '-',
    expires: s.expired ? `expired ${s.expiresAt}` : s.expiresAt,
    delivered: s.delivered,
    failed: s.failed,
    last_delivery: s.lastDeliveryAt ?? '-',
    last_error: s.lastError ?? '-',
  }));
}

const subscriptionColumns = [
  'id',
  'event',
  'server',
  'principal',
  'delivery',
  'callback',
  'expires',
  'delivered',
  'failed',
  'last_delivery',
  'last_error',
];

export function eventsCommand(program: Command): void {
  const events = program.command('events').description('MCP Events: subscriptions and their deliveries');

  withJson(
    events
      .command('subscriptions')
      .description('list the workspace’s event subscriptions, with their deliveries counted')
      .option('--server <server>', 'only this MCP server (name or id)'),
  ).action(
    action(async (ctx, _args, opts) => {
      const api = ctx.api();
      const serverId = opts.server ? (await api.getServer(String(opts.server))).id : undefined;
      const page = await api.listEventSubscriptions(serverId ? { server_id: serverId } : {});
      ctx.out.result(page, () =>
        page.data.length === 0 ? ['no event subscriptions'] : table(subscriptionRows(page.data), subscriptionColumns),
      );
    }),
  );

  withJson(
    events
      .command('deliveries')
      .description('list one subscription’s latest webhook deliveries, newest first')
      .argument('<id>', 'the subscription’s id')
      .option('--limit <n>', 'how many (1-200, default 50)'),
  ).action(
    action(async (ctx, [id], opts) => {
      const limit = Number(opts.limit ?? 50);
      if (!Number.isInteger(limit) || limit < 1 || limit > 200)
        throw usageError('--limit must be an integer from 1 to 200');
      const answer = await ctx.api().listEventDeliveries(id!, limit);
      const rows = answer.data.map((d) => ({ ...d, errorCategory: d.errorCategory ?? '-' }));
      ctx.out.result(answer, () =>
        rows.length === 0
          ? [`no deliveries recorded for ${answer.subscriptionId}`]
          : table(rows, ['at', 'eventId', 'outcome', 'attempts', 'errorCategory', 'durationMs']),
      );
    }),
  );
}
