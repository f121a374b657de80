import type { Command } from 'commander';
import type { Usage } from './api.ts';
import { action, listOption, withJson } from './context.ts';
import { usageError } from './errors.ts';
import { table } from './output.ts';

/** `toolplane usage`: calls and cost units per day, server, tool, API key and person (`GET /api/v1/usage`). */

type Row = Usage['rows'][number];
const dimensions = ['day', 'server', 'tool', 'api_key', 'person'] as const;
const day = /^\d{4}-\d{2}-\d{2}$/;

/** The CSV's columns per group (ids and names both, for chargeback), then the figures. */
const csvColumns: Record<(typeof dimensions)[number], [string, (r: Row) => unknown][]> = {
  day: [['day', (r) => r.day]],
  server: [
    ['server_id', (r) => r.serverId],
    ['server_name', (r) => r.serverName],
  ],
  tool: [['tool', (r) => r.tool]],
  api_key: [
    ['api_key_id', (r) => r.apiKeyId],
    ['api_key_name', (r) => r.apiKeyName],
  ],
  person: [['person', (r) => r.person]],
};

function csvRows(u: Usage): unknown[][] {
  const cols = dimensions.filter((d) => u.groupBy.includes(d)).flatMap((d) => csvColumns[d]);
  return [
    [...cols.map(([name]) => name), 'calls', 'cost_units'],
    ...u.rows.map((r) => [...cols.map(([, get]) => get(r)), r.calls, r.costUnits]),
  ];
}

/** The text view: the range, one line per group, the totals. */
function lines(u: Usage): string[] {
  const cols = dimensions.filter((d) => u.groupBy.includes(d));
  const rows = u.rows.map((r) => ({
    day: r.day,
    server: r.serverName ?? r.serverId,
    tool: r.tool,
    api_key: r.apiKeyName ?? r.apiKeyId,
    person: r.person,
    calls: r.calls,
    cost_units: r.costUnits,
  }));
  return [
    `${u.from} → ${u.to} (UTC days)`,
    ...(rows.length > 0 ? table(rows, [...cols, 'calls', 'cost_units']) : ['  (no usage)']),
    `total: calls ${u.totals.calls}  cost units ${u.totals.costUnits}`,
    ...(u.truncated ? ['(more groups than shown: narrow the range or the filters)'] : []),
  ];
}

export function usageCommand(program: Command): void {
  withJson(
    program
      .command('usage')
      .description('calls and cost units per day, server, tool, API key and person (for chargeback)')
      .option('--from <day>', 'first UTC day, YYYY-MM-DD (default: 29 days before --to)')
      .option('--to <day>', 'last UTC day, YYYY-MM-DD, included (default: today)')
      .option('--group-by <names>', `any of ${dimensions.join(',')} (default: all)`, listOption)
      .option('--server <server>', 'only this MCP server (name or id)')
      .option('--tool <tool>', 'only this tool (by name)')
      .option('--api-key <id>', 'only this API key (its id)')
      .option('--person <name>', 'only this external user')
      .option('--csv', 'print RFC 4180 CSV with a header row'),
  ).action(
    action(async (ctx, _args, opts) => {
      if (opts.csv && opts.json) throw usageError('--csv and --json: choose one');
      for (const flag of ['from', 'to'] as const)
        if (opts[flag] !== undefined && !day.test(String(opts[flag])))
          throw usageError(`--${flag} must be a day, YYYY-MM-DD`);
      const groupBy = opts.groupBy as string[] | undefined;
      const unknown = (groupBy ?? []).filter((g) => !(dimensions as readonly string[]).includes(g));
      if (unknown.length > 0)
        throw usageError(`--group-by: unknown ${unknown.join(', ')}; any of ${dimensions.join(',')}`);
      const api = ctx.api();
      const server = opts.server ? await api.getServer(String(opts.server)) : undefined;
      const usage = await api.getUsage({
        ...(opts.from ? { from: String(opts.from) } : {}),
        ...(opts.to ? { to: String(opts.to) } : {}),
        ...(groupBy && groupBy.length > 0 ? { group_by: groupBy.join(',') } : {}),
        ...(server ? { server_id: server.id } : {}),
        ...(opts.tool ? { tool: String(opts.tool) } : {}),
        ...(opts.apiKey ? { api_key: String(opts.apiKey) } : {}),
        ...(opts.person ? { person: String(opts.person) } : {}),
      });
      if (opts.csv) {
        ctx.out.csv(csvRows(usage));
        if (usage.truncated) ctx.out.note('more groups than printed: narrow the range or the filters');
        return;
      }
      ctx.out.result(usage, () => lines(usage));
    }),
  );
}
