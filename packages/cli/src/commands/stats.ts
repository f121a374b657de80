import type { Command } from 'commander';
import type { TrafficStats } from './api.ts';
import { action, withJson } from './context.ts';
import { usageError } from './errors.ts';
import { table } from './output.ts';

/** `toolplane stats`: calls, errors and latency over the last hour or day (`GET /api/v1/stats`). */

const percent = (rate: number) => `${(rate * 100).toFixed(1)}%`;
const ms = (v: number | null) => (v === null ? '-' : `${v} ms`);

/** The text view: totals, then the busiest tools and the tools with the most errors. */
function lines(s: TrafficStats, name: (serverId: string) => string): string[] {
  const t = s.totals;
  const tools = (list: TrafficStats['busiest_tools']) =>
    table(
      list.map((x) => ({
        server: name(x.server_id),
        tool: x.tool,
        calls: x.calls,
        errors: x.errors,
        rate: percent(x.error_rate),
      })),
      ['server', 'tool', 'calls', 'errors', 'rate'],
    );
  return [
    `${s.from} → ${s.to}`,
    `calls ${t.calls}  errors ${t.errors} (${percent(t.error_rate)})  refused ${t.refused}  p50 ${ms(t.p50_ms)}  p95 ${ms(t.p95_ms)}`,
    '',
    'Busiest tools',
    ...(s.busiest_tools.length > 0 ? tools(s.busiest_tools) : ['  (no calls)']),
    '',
    'Most errors',
    ...(s.most_errors.length > 0 ? tools(s.most_errors) : ['  (no errors)']),
  ];
}

export function statsCommand(program: Command): void {
  withJson(
    program
      .command('stats')
      .description('traffic over the last hour or day: calls, errors, p50/p95 latency, busiest tools')
      .option('--window <window>', '1h (per minute) or 24h (per 10 minutes)', '1h')
      .option('--server <server>', 'only this MCP server (name or id)')
      .option('--tool <tool>', 'only this tool (by name)')
      .option('--to <time>', 'end of the window (ISO 8601; default now)'),
  ).action(
    action(async (ctx, _args, opts) => {
      const window = String(opts.window);
      if (window !== '1h' && window !== '24h') throw usageError('--window must be 1h or 24h');
      const to = opts.to === undefined ? undefined : String(opts.to);
      if (to !== undefined && Number.isNaN(Date.parse(to))) throw usageError('--to must be an ISO 8601 time');
      const api = ctx.api();
      const server = opts.server ? await api.getServer(String(opts.server)) : undefined;
      const stats = await api.getStats({
        window,
        ...(server ? { server_id: server.id } : {}),
        ...(opts.tool ? { tool: String(opts.tool) } : {}),
        ...(to ? { to } : {}),
      });
      // Tools are shown by server name where the caller can list servers (ids otherwise).
      const names = new Map<string, string>(server ? [[server.id, server.name]] : []);
      if (!server && stats.busiest_tools.length > 0)
        for (const s of await api.listServers().catch(() => [])) names.set(s.id, s.name);
      ctx.out.result(stats, () => lines(stats, (id) => names.get(id) ?? id));
    }),
  );
}
