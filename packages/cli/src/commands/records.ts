import type { Command } from 'commander';
import type { ExecutionRecord } from './api.ts';
import { action, withJson } from './context.ts';
import { usageError } from './errors.ts';
import { jsonText, table } from './output.ts';

/** `toolplane records list|show`: execution records of tool calls (`/api/v1/execution_records`). */

const columns: (keyof ExecutionRecord)[] = ['started_at', 'id', 'tool', 'outcome', 'duration_ms', 'error_code'];
/** How often `--follow` asks for new records: records are written asynchronously, a second is plenty. */
const FOLLOW_INTERVAL_MS = 1_000;

/** `--limit` of a list paged 1 to 200 at a time (default 50). */
export function parseLimit(value: unknown): number {
  const n = Number(value ?? 50);
  if (!Number.isInteger(n) || n < 1 || n > 200) throw usageError('--limit must be an integer from 1 to 200');
  return n;
}

/** Polls for records newer than those seen and prints them oldest first, until Ctrl-C. */
async function follow(
  fetchPage: () => Promise<ExecutionRecord[]>,
  seen: Set<string>,
  print: (r: ExecutionRecord) => void,
): Promise<never> {
  for (;;) {
    await new Promise((r) => setTimeout(r, FOLLOW_INTERVAL_MS));
    const fresh = (await fetchPage()).filter((r) => !seen.has(r.id)).reverse();
    for (const r of fresh) {
      seen.add(r.id);
      print(r);
    }
  }
}

export function recordsCommand(program: Command): void {
  const records = program.command('records').description('inspect execution records of tool calls');

  withJson(
    records
      .command('list')
      .description('list execution records, newest first')
      .option('--server <server>', 'only this MCP server (name or id)')
      .option('--limit <n>', 'how many (1-200, default 50)')
      .option('--follow', 'keep printing new records as they arrive (JSON lines with --json)'),
  ).action(
    action(async (ctx, _args, opts) => {
      const api = ctx.api();
      const limit = parseLimit(opts.limit);
      const serverId = opts.server ? (await api.getServer(String(opts.server))).id : undefined;
      const fetchPage = async () => (await api.listRecords({ server_id: serverId, limit })).data;
      const page = await fetchPage();
      if (!opts.follow) {
        ctx.out.result({ data: page }, () => table(page, columns));
        return;
      }
      const print = (r: ExecutionRecord) =>
        ctx.out.json
          ? process.stdout.write(`${jsonText(r)}\n`)
          : ctx.out.line(columns.map((c) => String(r[c] ?? '-')).join('  '));
      [...page].reverse().forEach(print);
      await follow(fetchPage, new Set(page.map((r) => r.id)), print);
    }),
  );

  withJson(records.command('show').description('show one record with its steps').argument('<id>', 'record id')).action(
    action(async (ctx, [id]) => {
      const record = await ctx.api().getRecord(id!);
      ctx.out.result(record, () => {
        const steps = (record.steps as Record<string, unknown>[] | undefined) ?? [];
        return [
          `${record.tool}  ${record.outcome}  ${record.duration_ms} ms  (${record.id})`,
          `  server   ${record.server_id}`,
          `  started  ${record.started_at}`,
          ...(record.error_code ? [`  error    ${record.error_code}: ${String(record.message)}`] : []),
          ...steps.map((s) => `  step ${String(s.name)}: ${String(s.method)} ${String(s.url)} → ${String(s.status)}`),
        ];
      });
    }),
  );
}
